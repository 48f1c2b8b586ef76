#include "plan/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace modelfn {
namespace plan {
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                         "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

std::string F(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A short label for a tick value.
std::string Label(double v) {
  char buf[32];
  double a = std::abs(v);
  if (a == 0) return "0";
  if (a >= 1e6) {
    snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
  } else if (a >= 1e4) {
    snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
  } else if (a >= 1) {
    snprintf(buf, sizeof buf, "%.4g", v);
  } else {
    snprintf(buf, sizeof buf, "%.2g", v);
  }
  return buf;
}

// About five round ticks covering [lo, hi].
std::vector<double> Ticks(double lo, double hi) {
  std::vector<double> out;
  double span = hi - lo;
  if (!(span > 0)) return {lo};
  double raw = span / 5;
  double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  }
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push_back(v);
  return out;
}

}  // namespace

std::string EscapeXml(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string RenderSvg(const Chart& c) {
  const double left = 64, right = 16, top = 32, bottom = 48;
  double legend_h = 18.0 * ((c.series.size() + 2) / 3);
  double w = c.width, h = c.height + legend_h;
  double pw = w - left - right, ph = c.height - top - bottom;
  double xmin = 1e300, xmax = -1e300, ymax = 0;
  size_t n = 0;
  auto usable = [&](const std::pair<double, double>& p) {
    return std::isfinite(p.first) && std::isfinite(p.second) && (!c.log_x || p.first > 0);
  };
  for (const auto& s : c.series) {
    for (const auto& p : s.points) {
      if (!usable(p)) continue;
      xmin = std::min(xmin, p.first);
      xmax = std::max(xmax, p.first);
      ymax = std::max(ymax, p.second);
      ++n;
    }
  }
  std::string o;
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" width=\"" + F(w) +
       "\" height=\"" + F(h) + "\" viewBox=\"0 0 " + F(w) + " " + F(h) + "\" aria-label=\"" +
       EscapeXml(c.title) + "\">";
  o += "<title>" + EscapeXml(c.title) + "</title>";
  o += "<text x=\"" + F(w / 2) + "\" y=\"18\" text-anchor=\"middle\" class=\"ct\">" +
       EscapeXml(c.title) + "</text>";
  o += "<rect x=\"" + F(left) + "\" y=\"" + F(top) + "\" width=\"" + F(pw) + "\" height=\"" +
       F(ph) + "\" fill=\"none\" stroke=\"#999\"/>";
  if (n == 0) {
    o += "<text x=\"" + F(left + pw / 2) + "\" y=\"" + F(top + ph / 2) +
         "\" text-anchor=\"middle\">no data</text></svg>";
    return o;
  }
  if (ymax <= 0) ymax = 1;
  ymax *= 1.08;
  double lx0 = c.log_x ? std::log10(xmin) : xmin, lx1 = c.log_x ? std::log10(xmax) : xmax;
  if (lx1 - lx0 < 1e-12) lx0 -= 0.5, lx1 += 0.5;
  auto X = [&](double x) {
    return left + ((c.log_x ? std::log10(x) : x) - lx0) / (lx1 - lx0) * pw;
  };
  auto Y = [&](double y) { return top + ph - y / ymax * ph; };
  // Grid and ticks.
  for (double t : Ticks(0, ymax)) {
    o += "<line x1=\"" + F(left) + "\" x2=\"" + F(left + pw) + "\" y1=\"" + F(Y(t)) + "\" y2=\"" +
         F(Y(t)) + "\" stroke=\"#eee\"/>";
    o += "<text x=\"" + F(left - 6) + "\" y=\"" + F(Y(t) + 4) + "\" text-anchor=\"end\">" +
         Label(t) + "</text>";
  }
  std::vector<double> xt;
  if (c.log_x) {
    std::vector<double> all;
    for (const auto& s : c.series)
      for (const auto& p : s.points)
        if (usable(p)) all.push_back(p.first);
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    double last = -1e300;
    for (double x : all) {  // the data's own x values, thinned to ~40 px apart
      if (X(x) - last >= 40) xt.push_back(x), last = X(x);
    }
  } else {
    xt = Ticks(lx0, lx1);
  }
  for (double t : xt) {
    o += "<line x1=\"" + F(X(t)) + "\" x2=\"" + F(X(t)) + "\" y1=\"" + F(top + ph) + "\" y2=\"" +
         F(top + ph + 4) + "\" stroke=\"#999\"/>";
    o += "<text x=\"" + F(X(t)) + "\" y=\"" + F(top + ph + 16) + "\" text-anchor=\"middle\">" +
         Label(t) + "</text>";
  }
  o += "<text x=\"" + F(left + pw / 2) + "\" y=\"" + F(top + ph + 34) +
       "\" text-anchor=\"middle\" class=\"al\">" + EscapeXml(c.x_label) + "</text>";
  o += "<text transform=\"translate(14," + F(top + ph / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" class=\"al\">" + EscapeXml(c.y_label) + "</text>";
  for (size_t i = 0; i < c.series.size(); ++i) {
    const auto& s = c.series[i];
    size_t ci = s.color >= 0 ? static_cast<size_t>(s.color) : i;
    const char* color = kColors[ci % (sizeof kColors / sizeof kColors[0])];
    std::string pts;
    double prev_y = 0;
    bool first = true;
    for (const auto& p : s.points) {
      if (!usable(p)) continue;
      if (s.steps && !first) pts += F(X(p.first)) + "," + F(Y(prev_y)) + " ";
      pts += F(X(p.first)) + "," + F(Y(p.second)) + " ";
      prev_y = p.second;
      first = false;
    }
    o += "<polyline class=\"series\" data-series=\"" + EscapeXml(s.name) +
         "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\"" +
         (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"" + pts + "\"/>";
    if (!s.steps) {
      for (const auto& p : s.points) {
        if (!usable(p)) continue;
        o += "<circle cx=\"" + F(X(p.first)) + "\" cy=\"" + F(Y(p.second)) + "\" r=\"3\" fill=\"" +
             color + "\"><title>" + EscapeXml(s.name) + ": " + Label(p.first) + ", " +
             Label(p.second) + "</title></circle>";
      }
    }
    double lx = left + (i % 3) * (pw / 3), ly = c.height + 4 + 18.0 * (i / 3);
    o += "<line x1=\"" + F(lx) + "\" x2=\"" + F(lx + 18) + "\" y1=\"" + F(ly) + "\" y2=\"" + F(ly) +
         "\" stroke=\"" + color + "\" stroke-width=\"2\"" +
         (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>";
    o += "<text x=\"" + F(lx + 22) + "\" y=\"" + F(ly + 4) + "\">" + EscapeXml(s.name) + "</text>";
  }
  o += "</svg>";
  return o;
}

}  // namespace plan
}  // namespace modelfn

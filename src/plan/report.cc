#include "plan/report.h"

#include <cmath>
#include <cstdio>
#include <map>

#include "common/json.h"
#include "plan/svg_chart.h"

namespace modelfn {
namespace plan {
namespace {

std::string Fmt(const char* f, double v) {
  char buf[64];
  snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string Money(double v) {
  if (v >= 100) return Fmt("$%.0f", v);
  if (v >= 1) return Fmt("$%.2f", v);
  return Fmt("$%.4f", v);
}

std::string SizeName(const Size& s) {
  return std::to_string(s.memory_mb) + " MB / " + Fmt("%.3g", s.vcpu) + " vCPU";
}

const Candidate* Recommended(const TargetPlan& tp) {
  return tp.recommended >= 0 ? &tp.min_sweep[tp.recommended] : nullptr;
}

void WriteCandidate(JsonWriter& w, const Candidate& c, double window_s) {
  w.BeginObject();
  w.Key("memory_mb").Int(c.size.memory_mb);
  w.Key("vcpu").Double(c.size.vcpu);
  w.Key("min_instances").Int(c.min_instances);
  w.Key("concurrency").Int(c.concurrency);
  w.Key("profile_basis").String(c.basis);
  w.Key("requests").Uint(c.sim.requests);
  w.Key("served").Uint(c.sim.served);
  w.Key("rejected").Uint(c.sim.rejected);
  w.Key("cold_starts").Uint(c.sim.cold);
  w.Key("cold_start_share").Double(c.sim.ColdShare());
  w.Key("inits").Uint(c.sim.inits);
  w.Key("p50_ms").Double(std::round(c.sim.p50_ms * 1000) / 1000);
  w.Key("p95_ms").Double(std::round(c.sim.p95_ms * 1000) / 1000);
  w.Key("p99_ms").Double(std::round(c.sim.p99_ms * 1000) / 1000);
  w.Key("peak_instances").Int(c.sim.peak_instances);
  w.Key("instance_hours_per_month")
      .Double(window_s > 0 ? c.sim.instance_alive_s / window_s * 730 : 0);
  w.Key("cost_per_month").Double(c.cost.monthly);
  w.Key("cost_per_million_requests").Double(c.cost.per_million);
  w.Key("cost_parts").BeginObject();
  w.Key("on_demand").Double(c.cost.on_demand);
  w.Key("min_instances").Double(c.cost.min_instances);
  w.Key("requests").Double(c.cost.requests);
  w.EndObject();
  w.Key("meets_targets").Bool(c.meets);
  if (!c.meets) w.Key("misses").String(c.misses);
  w.EndObject();
}

}  // namespace

std::string PlanToJson(const Plan& p) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("kind").String("modelfn-plan");
  w.Key("model").String(p.model);
  w.Key("version").String(p.version);
  w.Key("profile").BeginObject();
  w.Key("host").String(p.profile_host);
  w.Key("enforcement").String(p.profile_enforcement);
  w.Key("measured_at").String(p.profile_measured_at);
  w.EndObject();
  w.Key("traffic").BeginObject();
  w.Key("description").String(p.traffic);
  w.Key("requests").Uint(p.requests);
  w.Key("window_s").Double(p.window_s);
  w.Key("mean_rps").Double(p.mean_rps);
  w.EndObject();
  w.Key("prices").BeginObject();
  w.Key("version").String(p.price_version);
  w.Key("origin").String(p.price_origin);
  w.Key("currency").String(p.currency);
  w.Key("free_tier_applied").Bool(p.options.free_tier);
  w.EndObject();
  w.Key("targets_asked").BeginObject();
  if (p.options.p99_ms > 0) w.Key("p99_ms").Double(p.options.p99_ms);
  if (p.options.max_cold_share >= 0) w.Key("max_cold_start_share").Double(p.options.max_cold_share);
  w.EndObject();
  w.Key("recommendation");
  if (p.best_target >= 0) {
    const TargetPlan& tp = p.targets[p.best_target];
    w.BeginObject();
    w.Key("target").String(tp.target);
    w.Key("configuration");
    WriteCandidate(w, *Recommended(tp), p.window_s);
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("targets").BeginArray();
  for (const TargetPlan& tp : p.targets) {
    w.BeginObject();
    w.Key("target").String(tp.target);
    w.Key("title").String(tp.title);
    w.Key("recommended");
    if (const Candidate* r = Recommended(tp)) {
      WriteCandidate(w, *r, p.window_s);
    } else {
      w.Null();
    }
    w.Key("by_size").BeginArray();
    for (const Candidate& c : tp.by_size) WriteCandidate(w, c, p.window_s);
    w.EndArray();
    w.Key("min_instances_sweep").BeginArray();
    for (const Candidate& c : tp.min_sweep) WriteCandidate(w, c, p.window_s);
    w.EndArray();
    if (const Candidate* r = Recommended(tp)) {
      w.Key("instances_over_time").BeginObject();
      w.Key("step_s").Double(r->sim.timeline_step_s);
      w.Key("instances").BeginArray();
      for (int v : r->sim.timeline) w.Int(v);
      w.EndArray();
      w.EndObject();
    }
    w.Key("sources").BeginArray();
    for (const auto& s : tp.sources) w.String(s);
    w.EndArray();
    w.Key("assumptions").BeginArray();
    for (const auto& s : tp.assumptions) w.String(s);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  out.push_back('\n');
  return out;
}

std::string PlanToText(const Plan& p) {
  std::string o;
  o += "Plan for " + p.model + (p.version.empty() ? "" : "@" + p.version) + ": " + p.traffic + "\n";
  o += "  " + std::to_string(p.requests) + " requests in " + Fmt("%.0f", p.window_s) + " s (" +
       Fmt("%.3g", p.mean_rps) + " rps mean); prices " + p.price_version + " (" + p.price_origin +
       ")\n";
  std::string asked;
  if (p.options.p99_ms > 0) asked += "p99 <= " + Fmt("%g", p.options.p99_ms) + " ms";
  if (p.options.max_cold_share >= 0)
    asked += std::string(asked.empty() ? "" : ", ") +
             "cold starts <= " + Fmt("%g", p.options.max_cold_share * 100) + "%";
  if (!asked.empty()) o += "  targets: " + asked + "\n";
  o += "\n";
  char line[256];
  snprintf(line, sizeof line, "  %-18s %-24s %4s %10s %10s %9s %9s %7s\n", "target",
           "configuration", "min", "$/month", "$/M req", "p50 ms", "p99 ms", "cold");
  o += line;
  for (const TargetPlan& tp : p.targets) {
    const Candidate* c = Recommended(tp);
    if (c == nullptr) {
      snprintf(line, sizeof line, "  %-18s %s\n", tp.target.c_str(),
               "nothing meets the targets (see the report)");
      o += line;
      continue;
    }
    snprintf(line, sizeof line, "  %-18s %-24s %4d %10s %10s %9.2f %9.2f %6.2f%%\n",
             tp.target.c_str(), SizeName(c->size).c_str(), c->min_instances,
             Money(c->cost.monthly).c_str(), Money(c->cost.per_million).c_str(), c->sim.p50_ms,
             c->sim.p99_ms, c->sim.ColdShare() * 100);
    o += line;
  }
  o += "\n";
  if (p.best_target >= 0) {
    const TargetPlan& tp = p.targets[p.best_target];
    const Candidate* c = Recommended(tp);
    o += "Cheapest that meets the targets: " + tp.target + " at " + SizeName(c->size) +
         (c->min_instances > 0 ? " with " + std::to_string(c->min_instances) + " min instances"
                               : "") +
         ", " + Money(c->cost.monthly) + " a month.\n";
  } else {
    o += "No configuration meets the targets.\n";
  }
  return o;
}

std::string PlanToHtml(const Plan& p) {
  std::string o;
  o += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  o += "<meta name=\"viewport\" content=\"width=device-width\">";
  o += "<title>modelfn plan: " + EscapeXml(p.model) + "</title><style>";
  o += "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}"
       "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;"
       "text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}.ok{color:#176b2c}"
       ".no{color:#a33}.charts{display:flex;flex-wrap:wrap;gap:12px}svg.chart{background:#fff;"
       "border:1px solid #ddd}svg text{font:11px sans-serif;fill:#333}svg text.ct{font-weight:"
       "bold;font-size:13px}.small{color:#666;font-size:12px}";
  o += "</style></head><body>";
  o += "<h1>Plan for " + EscapeXml(p.model) +
       (p.version.empty() ? "" : "@" + EscapeXml(p.version)) + "</h1>";
  o += "<p>Traffic: <b>" + EscapeXml(p.traffic) + "</b>, " + std::to_string(p.requests) +
       " requests over " + Fmt("%.0f", p.window_s) + " s (" + Fmt("%.3g", p.mean_rps) +
       " rps mean), extrapolated to a month of 730 hours.<br>Profile measured " +
       EscapeXml(p.profile_measured_at) + " on " + EscapeXml(p.profile_host) + " (" +
       EscapeXml(p.profile_enforcement) + ").<br>Prices: version " + EscapeXml(p.price_version) +
       " (" + EscapeXml(p.price_origin) + "), " + EscapeXml(p.currency) +
       (p.options.free_tier ? ", free tiers applied" : ", without free tiers") + ".</p>";
  std::string asked;
  if (p.options.p99_ms > 0) asked += "p99 &le; " + Fmt("%g", p.options.p99_ms) + " ms";
  if (p.options.max_cold_share >= 0)
    asked += std::string(asked.empty() ? "" : ", ") + "cold starts &le; " +
             Fmt("%g", p.options.max_cold_share * 100) + "%";
  if (!asked.empty()) o += "<p>Targets: " + asked + ".</p>";
  o += "<h2>Recommendations</h2><table id=\"recommendations\"><tr><th class=\"l\">target</th>"
       "<th class=\"l\">configuration</th><th>min instances</th><th>$/month</th>"
       "<th>$/million requests</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th>"
       "<th>cold starts</th></tr>";
  for (size_t i = 0; i < p.targets.size(); ++i) {
    const TargetPlan& tp = p.targets[i];
    const Candidate* c = Recommended(tp);
    o += "<tr><td class=\"l\">" + EscapeXml(tp.title) +
         (static_cast<int>(i) == p.best_target ? " <b class=\"ok\">(cheapest)</b>" : "") + "</td>";
    if (c == nullptr) {
      o += "<td class=\"l no\" colspan=\"8\">nothing meets the targets</td></tr>";
      continue;
    }
    o += "<td class=\"l\">" + SizeName(c->size) + "</td><td>" + std::to_string(c->min_instances) +
         "</td><td>" + Money(c->cost.monthly) + "</td><td>" + Money(c->cost.per_million) +
         "</td><td>" + Fmt("%.2f", c->sim.p50_ms) + "</td><td>" + Fmt("%.2f", c->sim.p95_ms) +
         "</td><td>" + Fmt("%.2f", c->sim.p99_ms) + "</td><td>" +
         Fmt("%.2f%%", c->sim.ColdShare() * 100) + "</td></tr>";
  }
  o += "</table>";

  // Charts across targets.
  Chart cost{"Cost per month against memory size (the cheapest CPU at each)",
             "memory (MB)",
             "USD per month",
             true,
             {}};
  Chart lat{"p99 latency against memory size (p50 dashed)", "memory (MB)", "ms", true, {}};
  Chart cold{"Cold-start share against min instances", "min instances", "% of requests", false, {}};
  Chart inst{
      "Instances over time (recommended configurations)", "time (s)", "instances", false, {}};
  for (size_t ti = 0; ti < p.targets.size(); ++ti) {
    const TargetPlan& tp = p.targets[ti];
    const int color = static_cast<int>(ti);
    ChartSeries sc{tp.target, {}, false, false, color},
        s99{tp.target + " p99", {}, false, false, color},
        s50{tp.target + " p50", {}, true, false, color};
    // One point per memory size: where a cloud offers several CPUs at one size, the cheapest.
    std::map<int, const Candidate*> by_memory;
    for (const Candidate& c : tp.by_size) {
      auto it = by_memory.find(c.size.memory_mb);
      if (it == by_memory.end() || c.cost.monthly < it->second->cost.monthly)
        by_memory[c.size.memory_mb] = &c;
    }
    for (const auto& [mem, c] : by_memory) {
      sc.points.push_back({mem, c->cost.monthly});
      s99.points.push_back({mem, c->sim.p99_ms});
      s50.points.push_back({mem, c->sim.p50_ms});
    }
    cost.series.push_back(sc);
    lat.series.push_back(s99);
    lat.series.push_back(s50);
    if (!tp.by_size.empty()) {
      const Size& at = tp.by_size[tp.chosen_size].size;
      ChartSeries cs{tp.target + " at " + SizeName(at), {}, false, false, color};
      for (const Candidate& c : tp.min_sweep)
        if (c.size.memory_mb == at.memory_mb && c.size.vcpu == at.vcpu)
          cs.points.push_back({static_cast<double>(c.min_instances), c.sim.ColdShare() * 100});
      cold.series.push_back(cs);
    }
    if (const Candidate* r = Recommended(tp)) {
      ChartSeries is{tp.target, {}, false, true, color};
      for (size_t k = 0; k < r->sim.timeline.size(); ++k)
        is.points.push_back({k * r->sim.timeline_step_s, static_cast<double>(r->sim.timeline[k])});
      inst.series.push_back(is);
    }
  }
  o += "<h2>Charts</h2><div class=\"charts\">" + RenderSvg(cost) + RenderSvg(lat) +
       RenderSvg(cold) + RenderSvg(inst) + "</div>";

  for (const TargetPlan& tp : p.targets) {
    o += "<h2 id=\"" + EscapeXml(tp.target) + "\">" + EscapeXml(tp.title) + "</h2>";
    o += "<table class=\"sizes\"><tr><th class=\"l\">size</th><th>concurrency</th>"
         "<th>$/month</th><th>$/million</th><th>p50 ms</th><th>p99 ms</th><th>cold starts</th>"
         "<th>refused</th><th>peak instances</th><th class=\"l\">profile</th>"
         "<th class=\"l\">targets</th></tr>";
    for (const Candidate& c : tp.by_size) {
      o += "<tr><td class=\"l\">" + SizeName(c.size) + "</td><td>" + std::to_string(c.concurrency) +
           "</td><td>" + Money(c.cost.monthly) + "</td><td>" + Money(c.cost.per_million) +
           "</td><td>" + Fmt("%.2f", c.sim.p50_ms) + "</td><td>" + Fmt("%.2f", c.sim.p99_ms) +
           "</td><td>" + Fmt("%.2f%%", c.sim.ColdShare() * 100) + "</td><td>" +
           std::to_string(c.sim.rejected) + "</td><td>" + std::to_string(c.sim.peak_instances) +
           "</td><td class=\"l\">" + EscapeXml(c.basis) + "</td><td class=\"l " +
           (c.meets ? "ok\">meets" : "no\">" + EscapeXml(c.misses)) + "</td></tr>";
    }
    o += "</table>";
    if (!tp.assumptions.empty()) {
      o += "<p class=\"small\">Undocumented values this target rests on:</p><ul class=\"small\">";
      for (const auto& a : tp.assumptions) o += "<li>" + EscapeXml(a) + "</li>";
      o += "</ul>";
    }
    if (!tp.sources.empty()) {
      o += "<p class=\"small\">Sources:</p><ul class=\"small\">";
      for (const auto& s : tp.sources)
        o += "<li><a href=\"" + EscapeXml(s) + "\">" + EscapeXml(s) + "</a></li>";
      o += "</ul>";
    }
  }
  o += "<p class=\"small\">A simulation from measurements on one machine: network time, noisy "
       "neighbours and each cloud's placement are not in it (docs/plan.md, \"Limits\").</p>";
  o += "</body></html>\n";
  return o;
}

}  // namespace plan
}  // namespace modelfn

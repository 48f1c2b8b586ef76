#include "gateway/metrics.h"

#include <cstdio>

namespace modelfn {

size_t LatencyHistogram::Add(double seconds) {
  size_t i = 0;
  while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
  ++counts[i];
  ++count;
  sum_s += seconds;
  return i;
}

double LatencyHistogram::Quantile(double q) const {
  if (count == 0) return 0;
  double rank = q * static_cast<double>(count);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    if (static_cast<double>(seen + counts[i]) >= rank) {
      double lo = i == 0 ? 0 : kLatencyBuckets[i - 1];
      double hi = i < kLatencyBuckets.size() ? kLatencyBuckets[i] : lo * 2;
      double within = (rank - static_cast<double>(seen)) / static_cast<double>(counts[i]);
      return lo + (hi - lo) * within;
    }
    seen += counts[i];
  }
  return kLatencyBuckets.back();
}

std::string PromLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void GatewayMetrics::Record(const std::string& function, const std::string& version,
                            const std::string& route, int status, double seconds,
                            const std::string& trace_id, double unix_s) {
  std::lock_guard<std::mutex> lock(mu_);
  LatencyHistogram& h = latency_[Key{function, version, route}];
  size_t bucket = h.Add(seconds);
  if (!trace_id.empty()) h.exemplars[bucket] = Exemplar{trace_id, seconds, unix_s};
  ++requests_[{function, version, route, status}];
  by_function_[function].Add(seconds);
  FunctionSummary& s = summaries_[function];
  ++s.requests;
  if (status >= 500) ++s.errors;
  if (status >= 400 && status < 500) ++s.client_errors;
}

void GatewayMetrics::CountAuthFailure(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++auth_failures_[reason];
}

void GatewayMetrics::CountRateLimited(const std::string& kind) {
  std::lock_guard<std::mutex> lock(mu_);
  ++rate_limited_[kind];
}

void GatewayMetrics::CountCacheHit(const std::string& function) {
  std::lock_guard<std::mutex> lock(mu_);
  ++cache_hits_[function];
}

std::string GatewayMetrics::Render(bool exemplars) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  char num[64];
  out += "# HELP modelfn_gateway_requests_total Requests answered by the gateway.\n";
  out += "# TYPE modelfn_gateway_requests_total counter\n";
  for (const auto& [k, n] : requests_) {
    const auto& [f, v, r, status] = k;
    out += "modelfn_gateway_requests_total{function=\"" + PromLabel(f) + "\",version=\"" +
           PromLabel(v) + "\",route=\"" + PromLabel(r) + "\",status=\"" + std::to_string(status) +
           "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP modelfn_gateway_request_duration_seconds Time from request to answer.\n";
  out += "# TYPE modelfn_gateway_request_duration_seconds histogram\n";
  for (const auto& [k, h] : latency_) {
    const auto& [f, v, r] = k;
    std::string labels = "function=\"" + PromLabel(f) + "\",version=\"" + PromLabel(v) +
                         "\",route=\"" + PromLabel(r) + "\"";
    uint64_t cum = 0;
    for (size_t i = 0; i < h.counts.size(); ++i) {
      cum += h.counts[i];
      std::string le = "+Inf";
      if (i < kLatencyBuckets.size()) {
        snprintf(num, sizeof num, "%g", kLatencyBuckets[i]);
        le = num;
      }
      out += "modelfn_gateway_request_duration_seconds_bucket{" + labels + ",le=\"" + le + "\"} " +
             std::to_string(cum);
      if (exemplars && !h.exemplars[i].trace_id.empty()) {
        snprintf(num, sizeof num, "%.9g %.3f", h.exemplars[i].value, h.exemplars[i].unix_s);
        out += " # {trace_id=\"" + h.exemplars[i].trace_id + "\"} " + num;
      }
      out += "\n";
    }
    snprintf(num, sizeof num, "%.9g", h.sum_s);
    out += "modelfn_gateway_request_duration_seconds_sum{" + labels + "} " + num + "\n";
    out += "modelfn_gateway_request_duration_seconds_count{" + labels + "} " +
           std::to_string(h.count) + "\n";
  }
  out += "# HELP modelfn_gateway_auth_failures_total Requests refused by authentication.\n";
  out += "# TYPE modelfn_gateway_auth_failures_total counter\n";
  for (const auto& [r, n] : auth_failures_) {
    out += "modelfn_gateway_auth_failures_total{reason=\"" + PromLabel(r) + "\"} " +
           std::to_string(n) + "\n";
  }
  out += "# HELP modelfn_gateway_rate_limited_total Requests refused by a usage plan.\n";
  out += "# TYPE modelfn_gateway_rate_limited_total counter\n";
  for (const auto& [r, n] : rate_limited_) {
    out += "modelfn_gateway_rate_limited_total{kind=\"" + PromLabel(r) + "\"} " +
           std::to_string(n) + "\n";
  }
  out += "# HELP modelfn_gateway_cache_hits_total Requests answered from the response cache.\n";
  out += "# TYPE modelfn_gateway_cache_hits_total counter\n";
  for (const auto& [f, n] : cache_hits_) {
    out += "modelfn_gateway_cache_hits_total{function=\"" + PromLabel(f) + "\"} " +
           std::to_string(n) + "\n";
  }
  return out;
}

std::map<std::string, FunctionSummary> GatewayMetrics::Summaries() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto out = summaries_;
  for (auto& [f, s] : out) {
    auto it = by_function_.find(f);
    if (it == by_function_.end()) continue;
    s.p50_ms = it->second.Quantile(0.50) * 1e3;
    s.p95_ms = it->second.Quantile(0.95) * 1e3;
    s.p99_ms = it->second.Quantile(0.99) * 1e3;
  }
  return out;
}

std::string ToOpenMetrics(const std::string& text) {
  // The counters' names, from their TYPE lines.
  std::vector<std::string> counters;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.rfind("# TYPE ", 0) == 0 && line.size() > 8 &&
        line.substr(line.size() - 8) == " counter") {
      counters.emplace_back(line.substr(7, line.size() - 15));
    }
  }
  std::string out;
  pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    for (const char* kind : {"# TYPE ", "# HELP "}) {
      if (line.rfind(kind, 0) != 0) continue;
      for (const std::string& c : counters) {
        const std::string prefix = kind + c + " ";
        if (c.size() > 6 && c.compare(c.size() - 6, 6, "_total") == 0 &&
            line.rfind(prefix, 0) == 0) {
          line = kind + c.substr(0, c.size() - 6) + line.substr(prefix.size() - 1);
          break;
        }
      }
    }
    if (!line.empty()) out += line + "\n";
  }
  return out + "# EOF\n";
}

bool WantsOpenMetrics(const std::string* accept) {
  return accept != nullptr && accept->find("application/openmetrics-text") != std::string::npos;
}

}  // namespace modelfn

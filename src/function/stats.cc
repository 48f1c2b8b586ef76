#include "function/stats.h"

#include <cmath>

namespace modelfn {

int LatencyHistogram::BucketOf(int64_t v) {
  if (v < kSubBuckets) return v < 0 ? 0 : static_cast<int>(v);
  int e = 63 - __builtin_clzll(static_cast<uint64_t>(v));  // >= 4
  int sub = static_cast<int>((v >> (e - 4)) & (kSubBuckets - 1));
  int b = kSubBuckets + (e - 4) * kSubBuckets + sub;
  return b < kBuckets ? b : kBuckets - 1;
}

double LatencyHistogram::BucketMidMicros(int b) {
  if (b < kSubBuckets) return b;
  int e = (b - kSubBuckets) / kSubBuckets + 4;
  int sub = (b - kSubBuckets) % kSubBuckets;
  double lo = std::ldexp(static_cast<double>(kSubBuckets + sub), e - 4);
  double width = std::ldexp(1.0, e - 4);
  return lo + width / 2;
}

void LatencyHistogram::Record(int64_t micros) {
  buckets_[static_cast<size_t>(BucketOf(micros))].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(micros < 0 ? 0 : micros), std::memory_order_relaxed);
}

double LatencyHistogram::QuantileMicros(double q) const {
  uint64_t total = 0;
  for (const auto& b : buckets_) total += b.load(std::memory_order_relaxed);
  if (total == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[static_cast<size_t>(i)].load(std::memory_order_relaxed);
    if (seen >= rank) return BucketMidMicros(i);
  }
  return BucketMidMicros(kBuckets - 1);
}

RouteStats::RouteStats(std::vector<std::string> routes) {
  for (auto& r : routes) {
    auto route = std::make_unique<Route>();
    route->label = std::move(r);
    routes_.push_back(std::move(route));
  }
}

void RouteStats::Record(size_t route, int status, int64_t micros) {
  Route& r = *routes_[route];
  r.latency.Record(micros);
  if (status >= 100 && status <= 599) {
    r.by_status[static_cast<size_t>(status - 100)].fetch_add(1, std::memory_order_relaxed);
  }
}

uint64_t RouteStats::Count(size_t route, int status) const {
  if (status < 100 || status > 599) return 0;
  return routes_[route]->by_status[static_cast<size_t>(status - 100)].load(
      std::memory_order_relaxed);
}

uint64_t RouteStats::Total() const {
  uint64_t n = 0;
  for (const auto& r : routes_) n += r->latency.count();
  return n;
}

void RouteStats::AppendPrometheus(std::string* out) const {
  char buf[256];
  out->append("# HELP modelfn_requests_total Requests answered, by route and HTTP status.\n");
  out->append("# TYPE modelfn_requests_total counter\n");
  for (const auto& r : routes_) {
    for (int s = 100; s <= 599; ++s) {
      uint64_t n = r->by_status[static_cast<size_t>(s - 100)].load(std::memory_order_relaxed);
      if (n == 0) continue;
      snprintf(buf, sizeof buf, "modelfn_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
               r->label.c_str(), s, static_cast<unsigned long long>(n));
      out->append(buf);
    }
  }
  out->append("# HELP modelfn_request_duration_seconds Time in the handler, by route.\n");
  out->append("# TYPE modelfn_request_duration_seconds summary\n");
  for (const auto& r : routes_) {
    if (r->latency.count() == 0) continue;
    for (double q : {0.5, 0.95, 0.99}) {
      snprintf(buf, sizeof buf,
               "modelfn_request_duration_seconds{route=\"%s\",quantile=\"%g\"} %.9g\n",
               r->label.c_str(), q, r->latency.QuantileMicros(q) / 1e6);
      out->append(buf);
    }
    snprintf(buf, sizeof buf, "modelfn_request_duration_seconds_sum{route=\"%s\"} %.9g\n",
             r->label.c_str(), r->latency.sum_seconds());
    out->append(buf);
    snprintf(buf, sizeof buf, "modelfn_request_duration_seconds_count{route=\"%s\"} %llu\n",
             r->label.c_str(), static_cast<unsigned long long>(r->latency.count()));
    out->append(buf);
  }
}

}  // namespace modelfn

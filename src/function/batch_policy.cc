#include "function/batch_policy.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace modelfn {
namespace {

bool ParseInt(std::string_view s, int lo, int hi, int* out) {
  int v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

StatusOr<BatchingOptions> ParseBatchingOptions(std::string_view spec) {
  BatchingOptions o;
  if (spec.empty() || spec == "off") return o;
  o.max_batch = 32;
  if (spec == "on") return o;
  for (bool more = true; more;) {
    size_t comma = spec.find(',');
    more = comma != std::string_view::npos;
    std::string_view part = spec.substr(0, comma);
    spec = more ? spec.substr(comma + 1) : std::string_view();
    size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    bool ok = false;
    if (key == "max_batch") {
      ok = ParseInt(value, 1, 4096, &o.max_batch);
    } else if (key == "max_delay_ms") {
      ok = value == "auto" ? (o.max_delay_ms = -1, true)
                           : ParseInt(value, 0, 60'000, &o.max_delay_ms);
    } else if (key == "p99_ms") {
      ok = ParseInt(value, 1, 3'600'000, &o.p99_ms);
    } else if (key == "runners") {
      ok = ParseInt(value, 1, 256, &o.runners);
    }
    if (!ok) {
      return InvalidArgumentError(
          "batching: '" + std::string(part) +
          "' is not one of max_batch=1..4096, max_delay_ms=auto|0..60000, p99_ms=1..3600000, "
          "runners=1..256");
    }
  }
  return o;
}

std::string BatchingOptionsString(const BatchingOptions& o) {
  if (!o.enabled()) return "off";
  std::string s = "max_batch=" + std::to_string(o.max_batch) + ",max_delay_ms=" +
                  (o.max_delay_ms < 0 ? std::string("auto") : std::to_string(o.max_delay_ms));
  if (o.p99_ms > 0) s += ",p99_ms=" + std::to_string(o.p99_ms);
  if (o.runners > 0) s += ",runners=" + std::to_string(o.runners);
  return s;
}

RunTimeModel::RunTimeModel(int max_batch)
    : max_batch_(std::max(max_batch, 1)), ms_(Bucket(std::max(max_batch, 1)) + 1, 0.0) {}

size_t RunTimeModel::Bucket(int rows) {
  size_t b = 0;
  while ((2 << b) <= rows) ++b;  // largest b with 2^b <= rows
  return b;
}

void RunTimeModel::Observe(int rows, double ms) {
  if (rows < 1 || ms < 0) return;
  rows = std::min(rows, max_batch_);
  size_t b = Bucket(rows);
  // Scaled to the bucket's own size as if the time grew linearly between neighbours.
  double scaled = ms * static_cast<double>(1 << b) / static_cast<double>(rows);
  std::lock_guard<std::mutex> lock(mu_);
  double& m = ms_[b];
  m = m == 0 ? scaled : 0.8 * m + 0.2 * scaled;
}

double RunTimeModel::Estimate(int rows) const {
  rows = std::clamp(rows, 1, max_batch_);
  std::lock_guard<std::mutex> lock(mu_);
  size_t b = Bucket(rows);
  // Between the measured buckets around `rows`; past the last measured, linear in rows.
  size_t lo = b + 1, hi = ms_.size();
  for (size_t i = b + 1; i-- > 0;) {
    if (ms_[i] > 0) {
      lo = i;
      break;
    }
  }
  for (size_t i = b + 1; i < ms_.size(); ++i) {
    if (ms_[i] > 0) {
      hi = i;
      break;
    }
  }
  if (lo > b && hi == ms_.size()) return 0;  // nothing measured
  auto at = [&](size_t i) { return static_cast<double>(1 << i); };
  if (lo > b) return ms_[hi] * rows / at(hi);
  if (hi == ms_.size() || static_cast<double>(rows) == at(lo)) return ms_[lo] * rows / at(lo);
  double f = (rows - at(lo)) / (at(hi) - at(lo));
  return ms_[lo] + f * (ms_[hi] - ms_[lo]);
}

std::string RunTimeModel::ToString() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string s;
  char buf[48];
  for (size_t i = 0; i < ms_.size(); ++i) {
    if (ms_[i] <= 0) continue;
    snprintf(buf, sizeof buf, "%s%d:%.3f", s.empty() ? "" : ",", 1 << i, ms_[i]);
    s += buf;
  }
  return s;
}

double BatchWaitMs(const BatchingOptions& options, const RunTimeModel& model,
                   const QueueState& queue) {
  const int max = options.max_batch;
  const int n = queue.queued_rows;
  if (n <= 0 || n >= max) return 0;
  double budget = HUGE_VAL;
  if (options.max_delay_ms >= 0) budget = options.max_delay_ms - queue.oldest_wait_ms;
  if (options.p99_ms > 0) {
    budget = std::min(budget, options.p99_ms - queue.oldest_wait_ms - model.Estimate(max));
  }
  if (options.max_delay_ms >= 0) return std::max(budget, 0.0);
  // Auto: a wait has to pay for itself.
  double now_ms = model.Estimate(n);
  if (now_ms <= 0 || queue.arrival_per_ms <= 0) return 0;
  if (options.p99_ms <= 0) budget = std::min(budget, now_ms - queue.oldest_wait_ms);
  if (budget <= 0) return 0;
  const double rate = queue.arrival_per_ms;
  const double now_throughput = n / now_ms;
  // Candidate waits: the expected arrival of 1, 2, 4, ... more rows, up to a full batch or the
  // budget.
  for (int k = 1;; k = std::min(2 * k, max - n)) {
    double wait = k / rate;
    if (wait > budget) break;
    int rows = n + k;
    double throughput = rows / (wait + model.Estimate(rows));
    if (throughput > 1.1 * now_throughput) return wait;
    if (rows == max) break;
  }
  return 0;
}

}  // namespace modelfn

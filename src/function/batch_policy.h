// When dynamic batching (batcher.h) runs what is queued and when it waits for more: a pure
// decision over the queue, the model's learned Run time per batch size and the arrival rate, so
// it is unit-tested with numbers, not with time.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace modelfn {

struct BatchingOptions {
  int max_batch = 0;      // rows per Run; 0: batching off
  int max_delay_ms = -1;  // how long the oldest request may wait for more; -1: auto
  int p99_ms = 0;         // the latency target queueing must keep; 0: none
  int runners = 0;        // threads taking batches from the queue; 0: the caller decides

  bool enabled() const { return max_batch > 0; }
};

// Parses "max_batch=32,max_delay_ms=auto,p99_ms=50,runners=2" (any subset; "on" for the
// defaults: max_batch 32, max_delay_ms auto; empty or "off": off).
// InvalidArgument naming the bad part otherwise.
StatusOr<BatchingOptions> ParseBatchingOptions(std::string_view spec);
std::string BatchingOptionsString(const BatchingOptions& o);

// The model's Run time per batch size, learned at load (Calibrate) and from every run since:
// one moving average per power of two up to max_batch, interpolated between. Thread-safe.
class RunTimeModel {
 public:
  explicit RunTimeModel(int max_batch);
  // A run of `rows` rows took `ms`.
  void Observe(int rows, double ms);
  // Estimated ms for a run of `rows` rows (1 <= rows <= max_batch); 0 while nothing is known.
  double Estimate(int rows) const;
  // "1:0.21,2:0.25,4:0.31,..." (ms), for the init log line and tests.
  std::string ToString() const;

 private:
  static size_t Bucket(int rows);
  int max_batch_;
  mutable std::mutex mu_;
  std::vector<double> ms_;  // per bucket (rows 1, 2, 4, ...); 0: not yet measured
};

struct QueueState {
  int queued_rows = 0;        // rows waiting that one run could take (at most max_batch)
  double oldest_wait_ms = 0;  // how long the oldest of them has waited
  double arrival_per_ms = 0;  // rows arriving per ms lately (0: unknown or idle)
};

// How long to wait for more rows before running what is queued; 0: run now. Never waits with a
// full batch, past max_delay_ms, or so long that the oldest request would miss p99_ms even if
// the batch filled. With max_delay_ms auto, waits only while the rows expected to arrive make a
// batch whose throughput (rows per ms of waiting plus running) beats running now by 10 %, and,
// without a p99 target, never longer than running now would take.
double BatchWaitMs(const BatchingOptions& options, const RunTimeModel& model,
                   const QueueState& queue);

}  // namespace modelfn

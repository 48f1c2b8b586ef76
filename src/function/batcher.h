// Dynamic batching inside an instance: concurrent requests to the model are queued, merged into
// one Run when their rows can be (row_merge.h), and split back, each request getting its own
// outputs or error. When to run and when to wait for more is BatchWaitMs's decision
// (batch_policy.h), over the Run times this object measures at load (Calibrate) and at every run.
//
// A request that cannot merge (inputs without a shared first dimension, more rows than
// max_batch, a model whose rows must not mix) runs alone, in its turn. When a merged Run fails,
// each of its requests runs again alone, so only the bad ones fail. Runs happen on
// options.runners threads of this object, which call each request's `done` there.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "engine/engine.h"
#include "function/batch_policy.h"
#include "function/inference.h"

namespace modelfn {

struct BatchedResult {
  StatusOr<std::vector<Tensor>> outputs = std::vector<Tensor>();
  int batch_rows = 0;      // rows of the Run that answered (its own rows when it ran alone)
  int batch_requests = 0;  // requests in that Run
  double queue_ms = 0;     // from Submit to the start of that Run
};

class Batcher {
 public:
  using Done = std::function<void(BatchedResult)>;

  // Starts options.runners threads. `engine` and `clock` must outlive this object.
  Batcher(Engine* engine, BatchingOptions options, const Clock* clock);
  // Requests still queued get Unavailable ("stopping"); runs under way finish first.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // A flag the request's connection sets once its client has closed (HttpResponder::gone_flag).
  using GoneFlag = std::shared_ptr<const std::atomic<bool>>;

  // Queues a request. `prepared` must stay alive and unchanged until `done` has run; `done` runs
  // once, on a runner thread (or, when the batcher is stopping, on the caller's). A request whose
  // `gone` flag is set before it runs is dropped from the queue: its `done` gets Cancelled
  // (reason "client_closed") and no Run is spent on it.
  void Submit(const PreparedInputs* prepared, const RunLimits& limits, Done done,
              GoneFlag gone = nullptr);

  // Measures the Run time at 1, 2, 4, ... max_batch rows of zeros (each the best of three), so
  // the first decisions are informed. Call before the first Submit. An error (the model rejects
  // zeros, an input too large) leaves the model to learn from real runs.
  Status Calibrate();

  const RunTimeModel& run_times() const { return model_; }
  const BatchingOptions& options() const { return options_; }
  // Prometheus text: rows per Run (histogram), queue delay (histogram), learned Run time per
  // batch size, requests that ran merged, requests queued and running now, requests dropped.
  void AppendPrometheus(std::string* out) const;

 private:
  struct Item {
    const PreparedInputs* prepared;
    RunLimits limits;
    Done done;
    int64_t enqueued_ns;
    int64_t rows;  // MergeRows, or -1: runs alone
    std::string key;
    GoneFlag gone;
  };

  // Requests waiting for a Run now (takes mu_).
  size_t QueuedNow() const;
  // Moves the queued items whose client has gone into *out. Under mu_.
  void TakeGone(std::vector<Item>* out);

  void RunnerLoop();
  // Runs `items` (one Run if they merge) and calls their dones. Without the lock.
  void RunItems(std::vector<Item> items);
  void RunAlone(Item& item, int64_t start_ns);
  // Counts one Run of `rows` rows for `requests` requests that waited `queue_ms` each.
  void Record(int rows, int requests, const std::vector<double>& queue_ms);

  Engine* engine_;
  const BatchingOptions options_;
  const Clock* clock_;
  const bool model_merges_;
  RunTimeModel model_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<Item> queue_;
  std::atomic<size_t> running_now_{0};  // requests in a Run now
  int64_t last_arrival_ns_ = 0;
  double gap_ms_per_row_ = 0;  // moving average; 0: unknown

  mutable std::mutex stats_mu_;
  std::vector<uint64_t> rows_buckets_;  // runs with rows <= 1, 2, 4, ... max_batch, +Inf
  uint64_t runs_ = 0, rows_sum_ = 0, merged_requests_ = 0, dropped_ = 0;
  std::vector<uint64_t> queue_buckets_;
  uint64_t queued_ = 0;
  double queue_ms_sum_ = 0;

  std::vector<std::thread> runners_;
};

}  // namespace modelfn

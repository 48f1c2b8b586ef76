#include "function/batcher.h"

#include <algorithm>
#include <cstdio>

#include "function/input_checks.h"
#include "function/model_loader.h"
#include "function/row_merge.h"

namespace modelfn {
namespace {

constexpr double kQueueBucketsMs[] = {0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000};

double MsBetween(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e6;
}

}  // namespace

Batcher::Batcher(Engine* engine, BatchingOptions options, const Clock* clock)
    : engine_(engine),
      options_(options),
      clock_(clock),
      model_merges_(ModelMergesRows(*engine)),
      model_(options.max_batch) {
  size_t buckets = 1;
  for (int r = 1; r < options_.max_batch; r *= 2) ++buckets;
  rows_buckets_.assign(buckets + 1, 0);
  queue_buckets_.assign(std::size(kQueueBucketsMs) + 1, 0);
  for (int i = 0; i < std::max(options_.runners, 1); ++i) {
    runners_.emplace_back([this] { RunnerLoop(); });
  }
}

Batcher::~Batcher() {
  std::deque<Item> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    left.swap(queue_);
  }
  cv_.notify_all();
  for (std::thread& t : runners_) t.join();
  for (Item& item : left) {
    BatchedResult r;
    r.outputs = Status(StatusCode::kUnavailable, "the function is stopping", "shutting_down");
    item.done(std::move(r));
  }
}

void Batcher::Submit(const PreparedInputs* prepared, const RunLimits& limits, Done done,
                     GoneFlag gone) {
  Item item{prepared, limits,        std::move(done), clock_->MonotonicNanos(),
            -1,       std::string(), std::move(gone)};
  if (model_merges_) {
    item.rows = MergeRows(*prepared);
    if (item.rows > options_.max_batch) item.rows = -1;
    if (item.rows > 0) item.key = MergeKey(*prepared);
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {
      lock.unlock();
      BatchedResult r;
      r.outputs = Status(StatusCode::kUnavailable, "the function is stopping", "shutting_down");
      item.done(std::move(r));
      return;
    }
    if (last_arrival_ns_ != 0) {
      double rows = static_cast<double>(std::max<int64_t>(item.rows, 1));
      double gap = MsBetween(last_arrival_ns_, item.enqueued_ns) / rows;
      gap_ms_per_row_ = gap_ms_per_row_ == 0 ? gap : 0.9 * gap_ms_per_row_ + 0.1 * gap;
    }
    last_arrival_ns_ = item.enqueued_ns;
    queue_.push_back(std::move(item));
  }
  cv_.notify_all();
}

void Batcher::TakeGone(std::vector<Item>* out) {
  for (size_t i = 0; i < queue_.size();) {
    const GoneFlag& g = queue_[i].gone;
    if (g != nullptr && g->load(std::memory_order_relaxed)) {
      out->push_back(std::move(queue_[i]));
      queue_.erase(queue_.begin() + static_cast<ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

void Batcher::RunnerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    // Requests whose clients left while they waited: answered (for a client that only
    // half-closed) without spending a Run on them.
    std::vector<Item> gone;
    TakeGone(&gone);
    if (!gone.empty()) {
      lock.unlock();
      {
        std::lock_guard<std::mutex> stats(stats_mu_);
        dropped_ += gone.size();
      }
      for (Item& it : gone) {
        BatchedResult r;
        r.queue_ms = MsBetween(it.enqueued_ns, clock_->MonotonicNanos());
        r.outputs =
            Status(StatusCode::kUnavailable,
                   "the client closed the connection before the request ran", "client_closed");
        it.done(std::move(r));
      }
      lock.lock();
      continue;
    }
    // The head's batch: it and every later request that merges with it, up to max_batch rows.
    const Item& head = queue_.front();
    std::vector<size_t> members{0};
    int rows = head.rows > 0 ? static_cast<int>(head.rows) : 0;
    if (head.rows > 0) {
      for (size_t i = 1; i < queue_.size() && rows < options_.max_batch; ++i) {
        const Item& it = queue_[i];
        if (it.rows <= 0 || it.key != head.key || rows + it.rows > options_.max_batch) continue;
        rows += static_cast<int>(it.rows);
        members.push_back(i);
      }
      QueueState state;
      state.queued_rows = rows;
      state.oldest_wait_ms = MsBetween(head.enqueued_ns, clock_->MonotonicNanos());
      state.arrival_per_ms = gap_ms_per_row_ > 0 ? 1.0 / gap_ms_per_row_ : 0;
      double wait_ms = BatchWaitMs(options_, model_, state);
      if (wait_ms > 0) {
        // New arrivals wake us to decide again; so does the end of the wait.
        cv_.wait_for(lock, std::chrono::microseconds(static_cast<int64_t>(wait_ms * 1000) + 1));
        continue;
      }
    }
    std::vector<Item> batch;
    batch.reserve(members.size());
    for (size_t i = members.size(); i-- > 0;) {
      batch.push_back(std::move(queue_[members[i]]));
      queue_.erase(queue_.begin() + static_cast<ptrdiff_t>(members[i]));
    }
    std::reverse(batch.begin(), batch.end());
    // Others may take what is left while this runner runs.
    if (!queue_.empty()) cv_.notify_all();
    lock.unlock();
    size_t n = batch.size();
    running_now_.fetch_add(n, std::memory_order_relaxed);
    RunItems(std::move(batch));
    running_now_.fetch_sub(n, std::memory_order_relaxed);
    lock.lock();
  }
}

void Batcher::RunAlone(Item& item, int64_t start_ns) {
  BatchedResult r;
  r.queue_ms = MsBetween(item.enqueued_ns, start_ns);
  int64_t t0 = clock_->MonotonicNanos();
  r.outputs = RunPrepared(*engine_, *item.prepared, item.limits);
  double run_ms = MsBetween(t0, clock_->MonotonicNanos());
  int rows = std::max<int64_t>(MergeRows(*item.prepared), 1);
  r.batch_rows = rows;
  r.batch_requests = 1;
  if (r.outputs.ok() && rows <= options_.max_batch) model_.Observe(rows, run_ms);
  Record(rows, 1, {r.queue_ms});
  item.done(std::move(r));
}

void Batcher::RunItems(std::vector<Item> items) {
  int64_t start = clock_->MonotonicNanos();
  if (items.size() == 1) {
    RunAlone(items[0], start);
    return;
  }
  const PreparedInputs& first = *items[0].prepared;
  std::vector<Tensor> merged;
  std::vector<int64_t> rows;
  int64_t total = 0;
  RunLimits limits;
  for (const Item& it : items) {
    rows.push_back(it.rows);
    total += it.rows;
    int64_t d = it.limits.deadline_mono_ns;
    if (d != 0 && (limits.deadline_mono_ns == 0 || d < limits.deadline_mono_ns)) {
      limits.deadline_mono_ns = d;
    }
  }
  for (size_t k = 0; k < first.inputs.size(); ++k) {
    std::vector<const Tensor*> parts;
    parts.reserve(items.size());
    for (const Item& it : items) parts.push_back(&it.prepared->inputs[k]);
    merged.push_back(ConcatRows(parts));
  }
  std::vector<std::vector<Tensor>> per_output;
  // Rows merged past a declared maximum of the batch dimension run one request at a time.
  if (CheckInputLimits(*engine_, merged).ok()) {
    std::vector<const Tensor*> ptrs;
    for (const Tensor& t : merged) ptrs.push_back(&t);
    int64_t t0 = clock_->MonotonicNanos();
    auto r = engine_->Run(ptrs, first.outputs, limits);
    double run_ms = MsBetween(t0, clock_->MonotonicNanos());
    bool splittable = r.ok();
    if (splittable) {
      for (const Tensor& o : *r) splittable = splittable && !o.shape.empty() && o.shape[0] == total;
    }
    if (splittable) {
      model_.Observe(static_cast<int>(total), run_ms);
      for (const Tensor& o : *r) per_output.push_back(SplitRows(o, rows));
      std::vector<double> waits;
      for (const Item& it : items) waits.push_back(MsBetween(it.enqueued_ns, start));
      Record(static_cast<int>(total), static_cast<int>(items.size()), waits);
      for (size_t j = 0; j < items.size(); ++j) {
        BatchedResult res;
        std::vector<Tensor> outs;
        for (auto& pieces : per_output) outs.push_back(std::move(pieces[j]));
        res.outputs = std::move(outs);
        res.batch_rows = static_cast<int>(total);
        res.batch_requests = static_cast<int>(items.size());
        res.queue_ms = waits[j];
        items[j].done(std::move(res));
      }
      return;
    }
  }
  // Fall back to one Run per request, so that only the bad ones fail.
  for (Item& it : items) RunAlone(it, start);
}

void Batcher::Record(int rows, int requests, const std::vector<double>& queue_ms) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++runs_;
  rows_sum_ += static_cast<uint64_t>(rows);
  if (requests > 1) merged_requests_ += static_cast<uint64_t>(requests);
  size_t b = 0;
  for (int limit = 1; b + 1 < rows_buckets_.size() && rows > limit; limit *= 2) ++b;
  ++rows_buckets_[b];
  for (double q : queue_ms) {
    size_t i = 0;
    while (i < std::size(kQueueBucketsMs) && q > kQueueBucketsMs[i]) ++i;
    ++queue_buckets_[i];
    ++queued_;
    queue_ms_sum_ += q;
  }
}

Status Batcher::Calibrate() {
  std::vector<size_t> outs;
  for (size_t i = 0; i < engine_->schema().outputs.size(); ++i) outs.push_back(i);
  for (int rows = 1;; rows = std::min(rows * 2, options_.max_batch)) {
    ASSIGN_OR_RETURN(std::vector<Tensor> inputs, ZeroInputs(*engine_, model_merges_ ? rows : 1));
    std::vector<const Tensor*> ptrs;
    for (const Tensor& t : inputs) ptrs.push_back(&t);
    double best = -1;
    for (int i = 0; i < 3; ++i) {
      int64_t t0 = clock_->MonotonicNanos();
      auto r = engine_->Run(ptrs, outs);
      if (!r.ok()) return r.status();
      double ms = MsBetween(t0, clock_->MonotonicNanos());
      best = best < 0 ? ms : std::min(best, ms);
    }
    model_.Observe(rows, best);
    if (!model_merges_ || rows == options_.max_batch) break;
  }
  return Status::Ok();
}

size_t Batcher::QueuedNow() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void Batcher::AppendPrometheus(std::string* out) const {
  char buf[512];
  std::lock_guard<std::mutex> lock(stats_mu_);
  out->append(
      "# HELP modelfn_batch_rows Rows per model Run under dynamic batching.\n"
      "# TYPE modelfn_batch_rows histogram\n");
  uint64_t cumulative = 0;
  int limit = 1;
  for (size_t b = 0; b < rows_buckets_.size(); ++b, limit *= 2) {
    cumulative += rows_buckets_[b];
    if (b + 1 == rows_buckets_.size()) {
      snprintf(buf, sizeof buf, "modelfn_batch_rows_bucket{le=\"+Inf\"} %llu\n",
               static_cast<unsigned long long>(cumulative));
    } else {
      snprintf(buf, sizeof buf, "modelfn_batch_rows_bucket{le=\"%d\"} %llu\n", limit,
               static_cast<unsigned long long>(cumulative));
    }
    out->append(buf);
  }
  snprintf(buf, sizeof buf, "modelfn_batch_rows_sum %llu\nmodelfn_batch_rows_count %llu\n",
           static_cast<unsigned long long>(rows_sum_), static_cast<unsigned long long>(runs_));
  out->append(buf);
  out->append(
      "# HELP modelfn_batch_queue_seconds Time a request waited for its Run under dynamic "
      "batching.\n# TYPE modelfn_batch_queue_seconds histogram\n");
  cumulative = 0;
  for (size_t i = 0; i < queue_buckets_.size(); ++i) {
    cumulative += queue_buckets_[i];
    if (i == std::size(kQueueBucketsMs)) {
      snprintf(buf, sizeof buf, "modelfn_batch_queue_seconds_bucket{le=\"+Inf\"} %llu\n",
               static_cast<unsigned long long>(cumulative));
    } else {
      snprintf(buf, sizeof buf, "modelfn_batch_queue_seconds_bucket{le=\"%g\"} %llu\n",
               kQueueBucketsMs[i] / 1000, static_cast<unsigned long long>(cumulative));
    }
    out->append(buf);
  }
  snprintf(buf, sizeof buf,
           "modelfn_batch_queue_seconds_sum %.6f\nmodelfn_batch_queue_seconds_count %llu\n",
           queue_ms_sum_ / 1000, static_cast<unsigned long long>(queued_));
  out->append(buf);
  snprintf(buf, sizeof buf,
           "# HELP modelfn_batch_merged_requests_total Requests answered by a Run they shared.\n"
           "# TYPE modelfn_batch_merged_requests_total counter\n"
           "modelfn_batch_merged_requests_total %llu\n",
           static_cast<unsigned long long>(merged_requests_));
  out->append(buf);
  snprintf(buf, sizeof buf,
           "# HELP modelfn_batch_dropped_requests_total Queued requests dropped before their Run "
           "because their client closed the connection.\n"
           "# TYPE modelfn_batch_dropped_requests_total counter\n"
           "modelfn_batch_dropped_requests_total %llu\n",
           static_cast<unsigned long long>(dropped_));
  out->append(buf);
  snprintf(buf, sizeof buf,
           "# HELP modelfn_batch_queued_requests Requests waiting for a Run now.\n"
           "# TYPE modelfn_batch_queued_requests gauge\n"
           "modelfn_batch_queued_requests %zu\n"
           "# HELP modelfn_batch_running_requests Requests in a Run now.\n"
           "# TYPE modelfn_batch_running_requests gauge\n"
           "modelfn_batch_running_requests %zu\n",
           QueuedNow(), running_now_.load(std::memory_order_relaxed));
  out->append(buf);
  out->append(
      "# HELP modelfn_batch_run_seconds Learned Run time of the model per batch size.\n"
      "# TYPE modelfn_batch_run_seconds gauge\n");
  for (int rows = 1;; rows = std::min(rows * 2, options_.max_batch)) {
    double ms = model_.Estimate(rows);
    if (ms > 0) {
      snprintf(buf, sizeof buf, "modelfn_batch_run_seconds{rows=\"%d\"} %.6f\n", rows, ms / 1000);
      out->append(buf);
    }
    if (rows >= options_.max_batch) break;
  }
}

}  // namespace modelfn

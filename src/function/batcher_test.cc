#include "function/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/fake_engine.h"

namespace modelfn {
namespace {

// y = 2x over x FP32 [N, D]; a negative element fails the whole Run (a model error). Records the
// rows of every Run; while `hold` is set, a Run waits until Release().
class Doubler {
 public:
  Doubler() {
    ModelSchema s;
    s.inputs.push_back({"x", DType::kFp32, {-1, -1}, {"N", "D"}});
    s.outputs.push_back({"y", DType::kFp32, {-1, -1}, {"N", "D"}});
    engine_ = std::make_unique<FakeEngine>(
        s, [this](const std::vector<const Tensor*>& in, const std::vector<size_t>&) {
          {
            std::unique_lock<std::mutex> lock(mu_);
            rows_.push_back(in[0]->shape[0]);
            ++started_;
            cv_.notify_all();
            cv_.wait(lock, [this] { return !hold_; });
          }
          Tensor y = *in[0];
          y.name = "y";
          float* f = y.MutableAs<float>();
          for (int64_t i = 0; i < y.NumElements(); ++i) {
            if (f[i] < 0) return StatusOr<std::vector<Tensor>>(ModelError());
            f[i] *= 2;
          }
          return StatusOr<std::vector<Tensor>>(std::vector<Tensor>{std::move(y)});
        });
  }
  static Status ModelError() { return Status(StatusCode::kInternal, "negative", "model_error"); }
  FakeEngine* engine() { return engine_.get(); }
  std::vector<int64_t> rows() {
    std::lock_guard<std::mutex> lock(mu_);
    return rows_;
  }
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  // Returns once `n` Runs have started.
  void WaitStarted(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return started_ >= n; });
  }

 private:
  std::unique_ptr<FakeEngine> engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> rows_;
  int started_ = 0;
  bool hold_ = false;
};

PreparedInputs Rows(std::vector<std::vector<float>> rows) {
  PreparedInputs p;
  Tensor x;
  x.name = "x";
  x.shape = {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())};
  for (const auto& r : rows) {
    for (float v : r) {
      const auto* b = reinterpret_cast<const uint8_t*>(&v);
      x.data.insert(x.data.end(), b, b + sizeof v);
    }
  }
  p.inputs.push_back(std::move(x));
  p.outputs = {0};
  return p;
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.As<float>(), t.As<float>() + t.NumElements());
}

// Collects the results of submitted requests.
class Results {
 public:
  Batcher::Done For(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    if (results_.size() <= i) results_.resize(i + 1);
    return [this, i](BatchedResult r) {
      std::lock_guard<std::mutex> held(mu_);
      results_[i] = std::make_unique<BatchedResult>(std::move(r));
      ++done_;
      cv_.notify_all();
    };
  }
  void WaitFor(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_ >= n; });
  }
  const BatchedResult& operator[](size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return *results_[i];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<BatchedResult>> results_;
  int done_ = 0;
};

BatchingOptions Fixed(int max_batch, int delay_ms) {
  BatchingOptions o;
  o.max_batch = max_batch;
  o.max_delay_ms = delay_ms;
  o.runners = 1;
  return o;
}

TEST(BatcherTest, ConcurrentRequestsMergeIntoOneRunAndSplitBack) {
  Doubler d;
  // A long window and a batch of 4 rows: the fourth row is what releases the Run.
  Batcher b(d.engine(), Fixed(4, 600'000), &RealClock::Get());
  std::vector<PreparedInputs> in = {Rows({{1, 2}}), Rows({{3, 4}, {5, 6}}), Rows({{7, 8}})};
  Results r;
  for (size_t i = 0; i < in.size(); ++i) b.Submit(&in[i], RunLimits(), r.For(i));
  r.WaitFor(3);
  EXPECT_EQ(d.rows(), (std::vector<int64_t>{4}));
  ASSERT_TRUE(r[0].outputs.ok());
  EXPECT_EQ(Values((*r[0].outputs)[0]), (std::vector<float>{2, 4}));
  EXPECT_EQ((*r[1].outputs)[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Values((*r[1].outputs)[0]), (std::vector<float>{6, 8, 10, 12}));
  EXPECT_EQ(Values((*r[2].outputs)[0]), (std::vector<float>{14, 16}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r[i].batch_rows, 4);
    EXPECT_EQ(r[i].batch_requests, 3);
  }
  std::string metrics;
  b.AppendPrometheus(&metrics);
  EXPECT_NE(metrics.find("modelfn_batch_rows_bucket{le=\"4\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("modelfn_batch_merged_requests_total 3\n"), std::string::npos);
  EXPECT_NE(metrics.find("modelfn_batch_queue_seconds_count 3\n"), std::string::npos);
}

TEST(BatcherTest, ABadRequestFailsAloneAndItsNeighboursAreAnswered) {
  Doubler d;
  Batcher b(d.engine(), Fixed(3, 600'000), &RealClock::Get());
  std::vector<PreparedInputs> in = {Rows({{1}}), Rows({{-1}}), Rows({{3}})};
  Results r;
  for (size_t i = 0; i < in.size(); ++i) b.Submit(&in[i], RunLimits(), r.For(i));
  r.WaitFor(3);
  // The merged Run failed; each request then ran alone.
  EXPECT_EQ(d.rows(), (std::vector<int64_t>{3, 1, 1, 1}));
  ASSERT_TRUE(r[0].outputs.ok());
  EXPECT_EQ(Values((*r[0].outputs)[0]), (std::vector<float>{2}));
  ASSERT_FALSE(r[1].outputs.ok());
  EXPECT_EQ(r[1].outputs.status().reason(), "model_error");
  ASSERT_TRUE(r[2].outputs.ok());
  EXPECT_EQ(Values((*r[2].outputs)[0]), (std::vector<float>{6}));
}

TEST(BatcherTest, RequestsOfOtherShapesWaitForARunOfTheirOwn) {
  Doubler d;
  d.Hold();
  Batcher b(d.engine(), Fixed(8, 0), &RealClock::Get());
  std::vector<PreparedInputs> in = {Rows({{1, 1}}), Rows({{2, 2}}), Rows({{3, 3, 3}}),
                                    Rows({{4, 4}})};
  Results r;
  b.Submit(&in[0], RunLimits(), r.For(0));
  d.WaitStarted(1);  // the first runs alone (no delay); the others queue behind it
  for (size_t i = 1; i < in.size(); ++i) b.Submit(&in[i], RunLimits(), r.For(i));
  d.Release();
  r.WaitFor(4);
  // Then the two of width 2 together, and the one of width 3 alone.
  EXPECT_EQ(d.rows(), (std::vector<int64_t>{1, 2, 1}));
  EXPECT_EQ(Values((*r[3].outputs)[0]), (std::vector<float>{8, 8}));
  EXPECT_EQ(Values((*r[2].outputs)[0]), (std::vector<float>{6, 6, 6}));
  EXPECT_EQ(r[2].batch_requests, 1);
}

TEST(BatcherTest, AModelWhoseRowsMustNotMixRunsEachRequestAlone) {
  Doubler d;
  d.engine()->set_merge_rows(false);
  d.Hold();
  Batcher b(d.engine(), Fixed(8, 0), &RealClock::Get());
  std::vector<PreparedInputs> in = {Rows({{1}}), Rows({{2}}), Rows({{3}})};
  Results r;
  b.Submit(&in[0], RunLimits(), r.For(0));
  d.WaitStarted(1);
  b.Submit(&in[1], RunLimits(), r.For(1));
  b.Submit(&in[2], RunLimits(), r.For(2));
  d.Release();
  r.WaitFor(3);
  EXPECT_EQ(d.rows(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(Values((*r[2].outputs)[0]), (std::vector<float>{6}));
}

TEST(BatcherTest, MoreRowsThanABatchRunAlone) {
  Doubler d;
  Batcher b(d.engine(), Fixed(2, 600'000), &RealClock::Get());
  PreparedInputs big = Rows({{1}, {2}, {3}});
  Results r;
  b.Submit(&big, RunLimits(), r.For(0));
  r.WaitFor(1);  // not held for a window it could never fill
  EXPECT_EQ(d.rows(), (std::vector<int64_t>{3}));
  EXPECT_EQ(Values((*r[0].outputs)[0]), (std::vector<float>{2, 4, 6}));
}

TEST(BatcherTest, StoppingFailsWhatIsStillQueued) {
  Doubler d;
  Results r;
  PreparedInputs one = Rows({{1}});
  {
    Batcher b(d.engine(), Fixed(4, 600'000), &RealClock::Get());
    b.Submit(&one, RunLimits(), r.For(0));  // waits for 3 more rows that never come
  }
  r.WaitFor(1);
  ASSERT_FALSE(r[0].outputs.ok());
  EXPECT_EQ(r[0].outputs.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r[0].outputs.status().reason(), "shutting_down");
  EXPECT_TRUE(d.rows().empty());
}

TEST(BatcherTest, ARequestWhoseClientLeftIsDroppedBeforeItsRun) {
  Doubler d;
  Results r;
  PreparedInputs a = Rows({{1}}), b = Rows({{2}}), c = Rows({{3}});
  Batcher batcher(d.engine(), Fixed(4, 0), &RealClock::Get());
  d.Hold();
  batcher.Submit(&a, RunLimits(), r.For(0));
  d.WaitStarted(1);  // the runner is busy with `a`; b and c queue behind it
  auto gone = std::make_shared<std::atomic<bool>>(false);
  batcher.Submit(&b, RunLimits(), r.For(1), gone);
  batcher.Submit(&c, RunLimits(), r.For(2), std::make_shared<std::atomic<bool>>(false));
  gone->store(true);  // b's client closes its connection while b waits
  d.Release();
  r.WaitFor(3);
  ASSERT_FALSE(r[1].outputs.ok());
  EXPECT_EQ(r[1].outputs.status().reason(), "client_closed");
  ASSERT_TRUE(r[0].outputs.ok());
  ASSERT_TRUE(r[2].outputs.ok());
  EXPECT_EQ(Values((*r[2].outputs)[0]), std::vector<float>{6});
  EXPECT_EQ(d.rows(), (std::vector<int64_t>{1, 1}));  // a, then c alone: no Run for b
  std::string metrics;
  batcher.AppendPrometheus(&metrics);
  EXPECT_NE(metrics.find("modelfn_batch_dropped_requests_total 1\n"), std::string::npos);
}

TEST(BatcherTest, CalibrationMeasuresEachPowerOfTwo) {
  Doubler d;
  Batcher b(d.engine(), Fixed(6, 0), &RealClock::Get());
  ASSERT_TRUE(b.Calibrate().ok());
  EXPECT_EQ(d.rows(), (std::vector<int64_t>{1, 1, 1, 2, 2, 2, 4, 4, 4, 6, 6, 6}));
  EXPECT_GT(b.run_times().Estimate(6), 0);
}

}  // namespace
}  // namespace modelfn

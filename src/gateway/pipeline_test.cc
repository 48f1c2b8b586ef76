#include "gateway/pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::FindHeader;

// Appends its name to a shared trace on each call; answers or defers when told.
class TraceStage final : public Stage {
 public:
  TraceStage(std::string name, std::vector<std::string>* trace, Verdict verdict = Verdict::kNext,
             bool refuse_head = false)
      : name_(std::move(name)), trace_(trace), verdict_(verdict), refuse_head_(refuse_head) {}
  std::string_view name() const override { return name_; }
  bool OnHead(HttpRequest* head, HttpResponse* early) override {
    trace_->push_back("head:" + name_);
    if (!refuse_head_) return true;
    early->status = 401;
    return false;
  }
  void OnEarlyAnswer(const HttpRequest& head, HttpResponse* early) const override {
    early->headers.emplace_back("early-" + name_, "1");
  }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override {
    trace_->push_back("request:" + name_);
    if (verdict_ == Verdict::kAnswered) ex->response.status = 418;
    if (verdict_ == Verdict::kDeferred) held = std::move(ex);
    return verdict_;
  }
  void OnAnswer(Exchange& ex) override {
    trace_->push_back("answer:" + name_);
    ex.response.headers.emplace_back("seen-" + name_, "1");
  }
  ExchangePtr held;

 private:
  std::string name_;
  std::vector<std::string>* trace_;
  Verdict verdict_;
  bool refuse_head_;
};

TEST(PipelineTest, AnswerIsSeenByEarlierStagesInReverseOnly) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<TraceStage>("a", &trace));
  stages.push_back(std::make_unique<TraceStage>("b", &trace));
  stages.push_back(std::make_unique<TraceStage>("c", &trace, Verdict::kAnswered));
  stages.push_back(std::make_unique<TraceStage>("d", &trace));
  FakeClock clock;
  Pipeline p(std::move(stages), &clock);
  HttpResponse sent;
  int calls = 0;
  p.Handle(HttpRequest{}, [&](HttpResponse r) {
    sent = std::move(r);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(sent.status, 418);
  EXPECT_EQ(trace, (std::vector<std::string>{"request:a", "request:b", "request:c", "answer:b",
                                             "answer:a"}));
  EXPECT_NE(FindHeader(sent, "seen-a"), nullptr);
  EXPECT_EQ(FindHeader(sent, "seen-c"), nullptr);
}

TEST(PipelineTest, DeferredExchangeCompletesFromAnotherThread) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<TraceStage>("a", &trace));
  auto deferring = std::make_unique<TraceStage>("fwd", &trace, Verdict::kDeferred);
  TraceStage* fwd = deferring.get();
  stages.push_back(std::move(deferring));
  FakeClock clock;
  Pipeline p(std::move(stages), &clock);
  int status = 0;
  p.Handle(HttpRequest{}, [&](HttpResponse r) { status = r.status; });
  EXPECT_EQ(status, 0);  // nothing sent while the stage holds it
  ASSERT_NE(fwd->held, nullptr);
  std::thread t([&] {
    fwd->held->response.status = 201;
    p.Answer(std::move(fwd->held));
  });
  t.join();
  EXPECT_EQ(status, 201);
  EXPECT_EQ(trace.back(), "answer:a");
}

TEST(PipelineTest, HeadRefusalStopsAndIsDecoratedByEarlierStages) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<TraceStage>("a", &trace));
  stages.push_back(std::make_unique<TraceStage>("auth", &trace, Verdict::kNext, true));
  stages.push_back(std::make_unique<TraceStage>("c", &trace));
  FakeClock clock;
  Pipeline p(std::move(stages), &clock);
  HttpRequest head;
  HttpResponse early;
  EXPECT_FALSE(p.CheckHead(&head, &early));
  EXPECT_EQ(early.status, 401);
  EXPECT_EQ(trace, (std::vector<std::string>{"head:a", "head:auth"}));
  EXPECT_NE(FindHeader(early, "early-a"), nullptr);
  EXPECT_EQ(FindHeader(early, "early-auth"), nullptr);
}

TEST(PipelineTest, AServerErrorIsDecoratedByEveryStage) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<TraceStage>("a", &trace));
  stages.push_back(std::make_unique<TraceStage>("auth", &trace, Verdict::kNext, true));
  FakeClock clock;
  Pipeline p(std::move(stages), &clock);
  HttpRequest head;
  HttpResponse error;
  error.status = 413;
  p.DecorateError(head, &error);
  EXPECT_EQ(error.status, 413);
  EXPECT_TRUE(trace.empty());  // no stage's OnHead ran: only their decorations
  EXPECT_NE(FindHeader(error, "early-a"), nullptr);
  EXPECT_NE(FindHeader(error, "early-auth"), nullptr);
}

TEST(PipelineTest, NoStageAnsweringIsAnInternalError) {
  std::vector<std::string> trace;
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<TraceStage>("a", &trace));
  FakeClock clock;
  Pipeline p(std::move(stages), &clock);
  HttpResponse sent;
  p.Handle(HttpRequest{}, [&](HttpResponse r) { sent = std::move(r); });
  EXPECT_EQ(sent.status, 500);
  EXPECT_EQ(testing::CodeOf(sent), "internal");
  EXPECT_NE(FindHeader(sent, "seen-a"), nullptr);
}

TEST(PipelineTest, ReplaceServesNewRequestsAndLetsInFlightOnesFinishOnTheOldStages) {
  std::vector<std::string> trace;
  StageList old_stages;
  old_stages.push_back(std::make_unique<TraceStage>("old", &trace));
  auto deferring = std::make_unique<TraceStage>("fwd", &trace, Verdict::kDeferred);
  TraceStage* fwd = deferring.get();
  old_stages.push_back(std::move(deferring));
  FakeClock clock;
  Pipeline p(std::move(old_stages), &clock);
  HttpResponse in_flight;
  p.Handle(HttpRequest{}, [&](HttpResponse r) { in_flight = std::move(r); });
  ASSERT_NE(fwd->held, nullptr);

  StageList new_stages;
  new_stages.push_back(std::make_unique<TraceStage>("new", &trace, Verdict::kAnswered));
  p.Replace(std::move(new_stages));
  HttpResponse fresh;
  p.Handle(HttpRequest{}, [&](HttpResponse r) { fresh = std::move(r); });
  EXPECT_EQ(fresh.status, 418);
  EXPECT_EQ(FindHeader(fresh, "seen-old"), nullptr);

  // The old list is still alive: the in-flight exchange holds it.
  fwd->held->response.status = 200;
  p.Answer(std::move(fwd->held));
  EXPECT_EQ(in_flight.status, 200);
  EXPECT_NE(FindHeader(in_flight, "seen-old"), nullptr);
}

// Answers every exchange it is given from a thread of its own.
class AsyncStage final : public Stage {
 public:
  std::string_view name() const override { return "async"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({std::move(ex), &next});
    return Verdict::kDeferred;
  }
  // Answers what is queued; false when nothing was.
  bool Drain() {
    std::vector<std::pair<ExchangePtr, Continuation*>> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(queue_);
    }
    for (auto& [ex, next] : batch) {
      ex->response.status = 200;
      next->Answer(std::move(ex));
    }
    return !batch.empty();
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<ExchangePtr, Continuation*>> queue_;
};

// Counts the answers it sees (shared state, as the real stages have).
class CountStage final : public Stage {
 public:
  explicit CountStage(std::atomic<int>* seen) : seen_(seen) {}
  std::string_view name() const override { return "count"; }
  Verdict OnRequest(ExchangePtr& ex, Continuation& next) override { return Verdict::kNext; }
  void OnAnswer(Exchange& ex) override { seen_->fetch_add(1); }

 private:
  std::atomic<int>* seen_;
};

TEST(PipelineTest, ConcurrentRequestsRepliesAndReplacesAnswerEachRequestOnce) {
  // Two async stages so a replaced list's exchanges still drain: both are kept alive here.
  auto async = std::make_shared<AsyncStage>();
  std::atomic<int> seen{0};
  struct Forwarding final : public Stage {
    explicit Forwarding(std::shared_ptr<AsyncStage> a) : a_(std::move(a)) {}
    std::string_view name() const override { return "fwd"; }
    Verdict OnRequest(ExchangePtr& ex, Continuation& next) override {
      return a_->OnRequest(ex, next);
    }
    std::shared_ptr<AsyncStage> a_;
  };
  auto make = [&] {
    StageList s;
    s.push_back(std::make_unique<CountStage>(&seen));
    s.push_back(std::make_unique<Forwarding>(async));
    return s;
  };
  FakeClock clock;
  Pipeline p(make(), &clock);
  constexpr int kThreads = 4, kEach = 2000;
  std::atomic<int> answered{0};
  std::atomic<bool> done{false};
  std::thread replier([&] {
    while (!done.load() || async->Drain()) async->Drain();
  });
  std::thread replacer([&] {
    for (int i = 0; i < 200 && !done.load(); ++i) p.Replace(make());
  });
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        p.Handle(HttpRequest{}, [&](HttpResponse r) {
          if (r.status == 200) answered.fetch_add(1);
        });
      }
    });
  }
  for (auto& c : clients) c.join();
  replacer.join();
  done.store(true);
  replier.join();
  EXPECT_EQ(answered.load(), kThreads * kEach);
  EXPECT_EQ(seen.load(), kThreads * kEach);
}

}  // namespace
}  // namespace modelfn::gateway

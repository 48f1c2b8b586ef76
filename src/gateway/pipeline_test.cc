#include "gateway/pipeline.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace modelfn::gateway

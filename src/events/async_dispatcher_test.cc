#include "events/async_dispatcher.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/json.h"
#include "events/destinations.h"

namespace modelfn::events {
namespace {

constexpr int64_t kMs = 1'000'000;

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = AsyncStore::Open(":memory:", &clock_).value();
    dispatcher_ = std::make_unique<AsyncDispatcher>(store_.get(), &clock_, &dest_, nullptr);
  }
  void Add(AsyncPolicy p) {
    dispatcher_->AddFunction("digits", p, [this](ForwardRequest r, ReplyFn done) {
      sent_.push_back(std::move(r));
      pending_.push_back(std::move(done));
    });
  }
  std::string Submit(const std::string& body = R"({"inputs":[1]})") {
    AsyncRequest r;
    r.function = "digits";
    r.path = "/v1/infer";
    r.content_type = "application/json";
    r.body = body;
    r.request_id = "rid";
    return store_->Submit(r, "", 0).value().id;
  }
  // Answers the oldest send still waiting.
  void Answer(int status, const std::string& body = R"({"outputs":{"y":[1]}})") {
    ASSERT_FALSE(pending_.empty());
    ReplyFn done = std::move(pending_.front());
    pending_.erase(pending_.begin());
    ForwardReply r;
    r.status = status;
    r.body = body;
    r.content_type = status < 400 ? "application/json" : "application/problem+json";
    done(std::move(r));
    dispatcher_->ProcessAnswers();
  }
  AsyncRecord Get(const std::string& id) { return store_->Get(id).value(); }

  FakeClock clock_;
  std::unique_ptr<AsyncStore> store_;
  MemoryDestinations dest_;
  std::unique_ptr<AsyncDispatcher> dispatcher_;
  std::vector<ForwardRequest> sent_;
  std::vector<ReplyFn> pending_;
};

TEST(AsyncPolicyTest, RetriesDoubleUpToTheCapAndOnlyTransientFailuresRetry) {
  AsyncPolicy p;
  p.retry_base_ms = 100;
  p.retry_cap_ms = 500;
  EXPECT_EQ(RetryDelayMs(p, 1), 100);
  EXPECT_EQ(RetryDelayMs(p, 2), 200);
  EXPECT_EQ(RetryDelayMs(p, 3), 400);
  EXPECT_EQ(RetryDelayMs(p, 4), 500);
  EXPECT_EQ(RetryDelayMs(p, 60), 500);
  for (int s : {408, 429, 500, 502, 503, 504}) EXPECT_TRUE(Retryable(s)) << s;
  for (int s : {400, 401, 403, 404, 413, 415}) EXPECT_FALSE(Retryable(s)) << s;
}

TEST_F(DispatcherTest, AnInvocationIsSentAsTheRequestAndItsAnswerKeptAndWritten) {
  AsyncPolicy p;
  p.on_success = "ok-dest";
  Add(p);
  std::string id = Submit();
  dispatcher_->Pump();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].path, "/v1/infer");
  EXPECT_EQ(sent_[0].body, R"({"inputs":[1]})");
  EXPECT_EQ(sent_[0].request_id, "rid");
  EXPECT_EQ(Get(id).state, AsyncState::kRunning);
  Answer(200);
  AsyncRecord r = Get(id);
  EXPECT_EQ(r.state, AsyncState::kSucceeded);
  EXPECT_EQ(r.result.status, 200);
  EXPECT_EQ(r.attempts, 1);
  auto written = dest_.Written();
  ASSERT_EQ(written.count("ok-dest/" + id + ".json"), 1u);
  auto record = Json::Parse(written["ok-dest/" + id + ".json"]);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->Find("status")->AsString(), "succeeded");
  EXPECT_EQ(record->Find("response")->Find("body")->Find("outputs")->Find("y")->AsArray().size(),
            1u);
  auto status = Json::Parse(StatusJson(r));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->Find("status")->AsString(), "succeeded");
  EXPECT_EQ(dispatcher_->counters()["digits"].succeeded, 1u);
}

TEST_F(DispatcherTest, ATransientFailureIsRetriedAfterTheBackoff) {
  AsyncPolicy p;
  p.retry_base_ms = 1000;
  Add(p);
  std::string id = Submit();
  dispatcher_->Pump();
  Answer(503, R"({"code":"overloaded"})");
  AsyncRecord r = Get(id);
  EXPECT_EQ(r.state, AsyncState::kQueued);
  EXPECT_EQ(r.result.code, "overloaded");
  const int64_t now = clock_.WallNanos() / kMs;
  EXPECT_GE(r.next_at_ms, now + 500);
  EXPECT_LE(r.next_at_ms, now + 1000);
  dispatcher_->Pump();
  EXPECT_EQ(sent_.size(), 1u);  // not yet due
  clock_.Advance(1000 * kMs);
  dispatcher_->Pump();
  ASSERT_EQ(sent_.size(), 2u);
  Answer(200);
  r = Get(id);
  EXPECT_EQ(r.state, AsyncState::kSucceeded);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(dispatcher_->counters()["digits"].retried, 1u);
}

TEST_F(DispatcherTest, RetriesRunOutIntoTheFailureDestination) {
  AsyncPolicy p;
  p.max_retries = 2;
  p.retry_base_ms = 10;
  p.on_failure = "failed";
  Add(p);
  std::string id = Submit();
  for (int i = 0; i < 3; ++i) {
    dispatcher_->Pump();
    ASSERT_EQ(sent_.size(), static_cast<size_t>(i + 1));
    Answer(500, R"({"code":"model_error","detail":"boom"})");
    clock_.Advance(100 * kMs);
  }
  dispatcher_->Pump();
  EXPECT_EQ(sent_.size(), 3u);  // 1 + max_retries
  AsyncRecord r = Get(id);
  EXPECT_EQ(r.state, AsyncState::kFailed);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(r.result.code, "model_error");
  auto record = Json::Parse(dest_.Written().at("failed/" + id + ".json"));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->Find("status")->AsString(), "failed");
  EXPECT_EQ(record->Find("error")->Find("code")->AsString(), "model_error");
  EXPECT_EQ(record->Find("attempts")->AsInt64(), 3);
}

// An upload trigger's delivery is retried past max_retries while it is younger than max_age:
// a store outage longer than the retries delays it and loses none.
TEST_F(DispatcherTest, ADeliveryThatMayWaitIsRetriedUntilItsMaxAge) {
  AsyncPolicy p;
  p.max_retries = 1;
  p.retry_base_ms = 10;
  p.retry_cap_ms = 10;
  p.max_age_ms = 1000;
  Add(p);
  AsyncRequest r;
  r.function = "digits";
  r.path = "/v1/infer";
  r.body = "{}";
  r.retry_until_max_age = true;
  std::string id = store_->Submit(r, "", 0).value().id;
  for (int i = 0; i < 5; ++i) {
    dispatcher_->Pump();
    ASSERT_EQ(sent_.size(), static_cast<size_t>(i + 1));
    Answer(503, R"({"code":"store_unavailable"})");
    EXPECT_EQ(Get(id).state, AsyncState::kQueued) << i;
    clock_.Advance(20 * kMs);
  }
  dispatcher_->Pump();
  Answer(200);
  EXPECT_EQ(Get(id).state, AsyncState::kSucceeded);
  EXPECT_EQ(Get(id).attempts, 6);
  // Past its max age it ends, as any invocation.
  std::string late = store_->Submit(r, "", 0).value().id;
  dispatcher_->Pump();
  clock_.Advance(2000 * kMs);
  Answer(503, R"({"code":"store_unavailable"})");
  EXPECT_EQ(Get(late).state, AsyncState::kFailed);
  EXPECT_EQ(Get(late).result.code, "event_too_old");
}

// Records what the queue said about the invocation when its destination record was written.
class CheckingDestinations final : public DestinationWriter {
 public:
  explicit CheckingDestinations(AsyncStore* store) : store_(store) {}
  Status Write(const std::string& dest, const std::string& name, const std::string&) override {
    state_at_write = store_->Get(name.substr(0, name.size() - 5)).value().state;
    if (fail) return Status(StatusCode::kUnavailable, "bucket unreachable");
    return Status::Ok();
  }
  AsyncStore* store_;
  AsyncState state_at_write = AsyncState::kQueued;
  bool fail = false;
};

TEST_F(DispatcherTest, TheDestinationRecordIsWrittenBeforeTheQueueSaysItEnded) {
  // A crash between the two then runs it again instead of losing the record.
  CheckingDestinations dest(store_.get());
  AsyncDispatcher d(store_.get(), &clock_, &dest, nullptr);
  AsyncPolicy p;
  p.on_success = "ok";
  d.AddFunction("digits", p, [this](ForwardRequest r, ReplyFn done) {
    sent_.push_back(std::move(r));
    pending_.push_back(std::move(done));
  });
  std::string id = Submit();
  d.Pump();
  Answer(200);
  d.ProcessAnswers();
  EXPECT_EQ(dest.state_at_write, AsyncState::kRunning);
  EXPECT_EQ(Get(id).state, AsyncState::kSucceeded);
  // A destination that cannot be written does not keep the invocation from ending; it is
  // counted.
  dest.fail = true;
  std::string id2 = Submit();
  d.Pump();
  Answer(200);
  d.ProcessAnswers();
  EXPECT_EQ(Get(id2).state, AsyncState::kSucceeded);
  EXPECT_EQ(d.counters()["digits"].destination_errors, 1u);
}

TEST_F(DispatcherTest, AnAnswerIsOnlyQueuedOnTheCallersThreadAndRecordedLater) {
  Add(AsyncPolicy());
  std::string id = Submit();
  dispatcher_->Pump();
  ForwardReply r;
  r.status = 200;
  pending_.front()(std::move(r));  // the caller is an event loop: no database work there
  EXPECT_EQ(Get(id).state, AsyncState::kRunning);
  dispatcher_->ProcessAnswers();
  EXPECT_EQ(Get(id).state, AsyncState::kSucceeded);
}

TEST_F(DispatcherTest, ASendTheShutdownCutShortGoesBackUncounted) {
  Add(AsyncPolicy());
  std::string ok = Submit(), cut = Submit();
  dispatcher_->Pump();
  ASSERT_EQ(pending_.size(), 2u);
  dispatcher_->Stop();
  ForwardReply done;
  done.status = 200;
  pending_[0](done);
  ForwardReply refused;
  refused.status = 503;
  refused.code = "shutting_down";
  pending_[1](refused);
  EXPECT_EQ(Get(ok).state, AsyncState::kSucceeded);
  AsyncRecord r = Get(cut);
  EXPECT_EQ(r.state, AsyncState::kQueued);
  EXPECT_EQ(r.attempts, 0);
}

TEST_F(DispatcherTest, QueuedInvocationsOfARemovedFunctionFail) {
  Add(AsyncPolicy());
  AsyncRequest gone;
  gone.function = "removed";
  gone.path = "/v1/infer";
  std::string id = store_->Submit(gone, "", 0).value().id;
  std::string kept = Submit();
  EXPECT_EQ(dispatcher_->FailUnknownFunctions(), 1u);
  EXPECT_EQ(Get(id).state, AsyncState::kFailed);
  EXPECT_EQ(Get(id).result.code, "function_not_configured");
  EXPECT_EQ(Get(kept).state, AsyncState::kQueued);
}

TEST_F(DispatcherTest, ARetryPastTheMaxAgeEndsAsEventTooOld) {
  AsyncPolicy p;
  p.max_age_ms = 1000;
  p.retry_base_ms = 5000;
  Add(p);
  std::string id = Submit();
  dispatcher_->Pump();
  Answer(504, R"({"code":"timeout"})");
  AsyncRecord r = Get(id);
  EXPECT_EQ(r.state, AsyncState::kFailed);
  EXPECT_EQ(r.result.code, "event_too_old");
  EXPECT_NE(r.result.detail.find("timeout"), std::string::npos);
}

TEST_F(DispatcherTest, EndedInvocationsAreDeletedAfterTheRetention) {
  Add(AsyncPolicy());
  dispatcher_->set_retention_ms(3600'000);
  std::string done = Submit(), waiting = Submit();
  dispatcher_->Pump();
  Answer(200);  // the first ends; the second is still running
  clock_.Advance(3599'000 * kMs);
  EXPECT_EQ(dispatcher_->PruneEnded(), 0u);
  clock_.Advance(2'000 * kMs);
  EXPECT_EQ(dispatcher_->PruneEnded(), 1u);
  EXPECT_EQ(store_->Get(done).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Get(waiting).ok());
}

TEST_F(DispatcherTest, ABadRequestFailsAtOnce) {
  Add(AsyncPolicy());
  std::string id = Submit();
  dispatcher_->Pump();
  Answer(400, R"({"code":"shape_mismatch"})");
  AsyncRecord r = Get(id);
  EXPECT_EQ(r.state, AsyncState::kFailed);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.result.code, "shape_mismatch");
}

TEST_F(DispatcherTest, NoMoreThanMaxInFlightAreSentAtOnce) {
  AsyncPolicy p;
  p.max_in_flight = 2;
  Add(p);
  for (int i = 0; i < 5; ++i) Submit();
  dispatcher_->Pump();
  EXPECT_EQ(sent_.size(), 2u);
  dispatcher_->Pump();
  EXPECT_EQ(sent_.size(), 2u);
  Answer(200);
  dispatcher_->Pump();
  EXPECT_EQ(sent_.size(), 3u);
  while (!pending_.empty()) {
    Answer(200);
    dispatcher_->Pump();
  }
  EXPECT_EQ(sent_.size(), 5u);
  EXPECT_EQ(store_->CountByFunction().value()["digits"].succeeded, 5u);
}

TEST_F(DispatcherTest, AnInvocationPastItsMaxAgeFailsUnsent) {
  AsyncPolicy p;
  p.max_age_ms = 60'000;
  p.on_failure = "failed";
  Add(p);
  std::string id = Submit();
  clock_.Advance(61'000 * kMs);
  dispatcher_->Pump();
  EXPECT_TRUE(sent_.empty());
  AsyncRecord r = Get(id);
  EXPECT_EQ(r.state, AsyncState::kFailed);
  EXPECT_EQ(r.result.code, "event_too_old");
  EXPECT_EQ(dest_.Written().count("failed/" + id + ".json"), 1u);
}

TEST_F(DispatcherTest, TheThreadSendsWhatIsSubmittedWhenNotified) {
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  dispatcher_->AddFunction("digits", AsyncPolicy(), [&](ForwardRequest, ReplyFn done) {
    ForwardReply r;
    r.status = 200;
    done(std::move(r));
    std::lock_guard<std::mutex> lock(mu);
    ++answered;
    cv.notify_all();
  });
  dispatcher_->Start();
  for (int i = 0; i < 20; ++i) {
    Submit();
    dispatcher_->Notify();
  }
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return answered == 20; }));
  lock.unlock();
  dispatcher_->Stop();
  EXPECT_EQ(store_->CountByFunction().value()["digits"].succeeded, 20u);
}

}  // namespace
}  // namespace modelfn::events

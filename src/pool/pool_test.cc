#include "pool/pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "common/clock.h"
#include "common/json.h"
#include "pool/fake_launcher.h"
#include "pool/pool_test_fixture.h"

namespace modelfn {
namespace {

using pool_testing::kMs;
using pool_testing::kSec;
using pool_testing::PoolTest;
using pool_testing::Replies;

TEST_F(PoolTest, ScalesFromZeroAndAnswersThroughTheInstance) {
  Make(Fn(0, 4));
  EXPECT_EQ(launcher_.count(), 0u);
  Submit(1);
  ASSERT_EQ(launcher_.count(), 1u);
  EXPECT_EQ(launcher_.at(0)->launch().name, "digits-1-1");
  EXPECT_FALSE(launcher_.at(0)->launch().prewarmed);
  clock_.Advance(20 * kMs);
  launcher_.at(0)->MakeReady();
  uint64_t id = HeldId(0, 1);
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(launcher_.at(0)->Answer(id, 200, R"({"y":1})"));
  ForwardReply r = replies_.Get(1);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"y":1})");
  EXPECT_TRUE(r.cold_start);
  EXPECT_EQ(r.instance, "digits-1-1");
  EXPECT_EQ(r.version, "1");
  EXPECT_DOUBLE_EQ(r.queue_ms, 20);
  PoolSnapshot s = pool_->Snapshot();
  EXPECT_EQ(s.idle, 1);
  EXPECT_EQ(s.counters.inits, 1u);
  EXPECT_EQ(s.counters.cold_requests, 1u);
}

TEST_F(PoolTest, AQueuedRequestWhoseClientLeftIsAnsweredWithoutReachingAnInstance) {
  Make(Fn(0, 1));
  auto gone = std::make_shared<std::atomic<bool>>(false);
  ForwardRequest r;
  r.path = "/v1/infer";
  r.body = "1";
  r.client_gone = gone;
  pool_->Submit(std::move(r), replies_.Catch(1));
  Submit(2);
  ASSERT_EQ(launcher_.count(), 1u);
  gone->store(true);  // the first client gives up while the instance starts
  launcher_.at(0)->MakeReady();
  EXPECT_EQ(replies_.Code(1), "client_closed");
  EXPECT_EQ(replies_.Get(1).status, 499);
  EXPECT_EQ(HeldId(0, 1), 0u);  // never sent
  uint64_t id = HeldId(0, 2);   // the next request took its place at once
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(launcher_.at(0)->Answer(id, 200, "{}"));
  EXPECT_EQ(replies_.Get(2).status, 200);
  EXPECT_EQ(Counters().abandoned, 1u);
  EXPECT_EQ(replies_.MaxCount(), 1);
}

TEST_F(PoolTest, MinInstancesArePrewarmedBeforeTraffic) {
  Make(Fn(2, 4));
  ASSERT_EQ(launcher_.count(), 2u);
  EXPECT_TRUE(launcher_.at(0)->launch().prewarmed);
  launcher_.at(0)->MakeReady();
  launcher_.at(1)->MakeReady();
  Submit(1);
  EXPECT_EQ(launcher_.count(), 2u);
  ASSERT_EQ(launcher_.at(0)->AnswerAll() + launcher_.at(1)->AnswerAll(), 1);
  EXPECT_FALSE(replies_.Get(1).cold_start);
  Advance(3600 * kSec);
  EXPECT_EQ(pool_->Snapshot().idle, 2);
}

TEST_F(PoolTest, NeverMoreThanMaxInstances) {
  Make(Fn(0, 2));
  for (int n = 1; n <= 5; ++n) Submit(n);
  EXPECT_EQ(launcher_.count(), 2u);
  EXPECT_EQ(pool_->Snapshot().starting, 2);
  EXPECT_EQ(pool_->Snapshot().queued, 5u);
}

TEST_F(PoolTest, QueueFullIs429WithRetryAfter) {
  Make(Fn(0, 1));
  Submit(1);
  launcher_.at(0)->MakeReady();  // 1 is busy on the only instance
  for (int n = 2; n <= 5; ++n) Submit(n);
  EXPECT_EQ(replies_.size(), 0u);
  Submit(6);
  ForwardReply r = replies_.Get(6);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.code, "throttled");
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(r.headers.at(0), (std::pair<std::string, std::string>("Retry-After", "1")));
  EXPECT_EQ(Counters().throttled, 1u);
}

TEST_F(PoolTest, QueueDeadlineIs503WithRetryAfter) {
  Make(Fn(0, 1));
  Submit(1);
  launcher_.at(0)->MakeReady();
  Submit(2);
  Advance(10 * kSec - 1);
  EXPECT_FALSE(replies_.Has(2));
  Advance(1);
  ForwardReply r = replies_.Get(2);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.code, "overloaded");
  EXPECT_EQ(r.headers.at(0).first, "Retry-After");
  EXPECT_FALSE(replies_.Has(1));
}

// The queue's two refusals in one run, as a client of `modelfn up` meets them (tests/test_up.py
// checks the same answers through the real gateway): while the only instance is busy, one request
// waits in the one-place queue, the next finds it full (429), the waiting one gives up at its
// deadline (503), and the busy one is still served.
TEST_F(PoolTest, AFullQueueIs429AndALongWaitIs503WhileTheBusyRequestIsServed) {
  FunctionConfig fn = Fn(0, 1);
  fn.max_queue = 1;
  fn.queue_timeout_s = 0.3;
  Make(fn);
  Submit(1);
  launcher_.at(0)->MakeReady();
  ASSERT_NE(HeldId(0, 1), 0u);  // busy
  Submit(2);
  EXPECT_EQ(pool_->Snapshot().queued, 1u);
  Submit(3);
  ForwardReply full = replies_.Get(3);
  EXPECT_EQ(full.status, 429);
  EXPECT_EQ(full.code, "throttled");
  EXPECT_EQ(full.content_type, "application/problem+json");
  EXPECT_EQ(full.headers.at(0), (std::pair<std::string, std::string>("Retry-After", "1")));
  EXPECT_FALSE(replies_.Has(2));
  Advance(300 * kMs - 1);
  EXPECT_FALSE(replies_.Has(2));
  Advance(1);
  ForwardReply waited = replies_.Get(2);
  EXPECT_EQ(waited.status, 503);
  EXPECT_EQ(waited.code, "overloaded");
  EXPECT_EQ(waited.content_type, "application/problem+json");
  EXPECT_EQ(waited.headers.at(0), (std::pair<std::string, std::string>("Retry-After", "1")));
  EXPECT_EQ(launcher_.count(), 1u);  // max_instances 1: no second instance for the queue
  ASSERT_EQ(launcher_.at(0)->AnswerAll(), 1);
  EXPECT_EQ(replies_.Get(1).status, 200);
  PoolCounters c = Counters();
  EXPECT_EQ(c.throttled, 1u);
  EXPECT_EQ(c.queue_timeouts, 1u);
  EXPECT_EQ(replies_.MaxCount(), 1);
}

// Zero to max_instances and back to zero with exact counts (tests/test_up.py runs the same burst
// against real processes): six requests held at once with max_instances 3 start exactly three
// instances, never more, whether the host lets all three initialise together or two at a time;
// every request is served once; idle for idle_ttl_s, all three stop; the next request is cold.
class PoolScalingTest : public PoolTest, public ::testing::WithParamInterface<int> {};

TEST_P(PoolScalingTest, ZeroToNToZeroWithExactInstanceCounts) {
  FunctionConfig fn = Fn(0, 3);
  fn.idle_ttl_s = 1;
  fn.max_queue = 64;
  Make(fn, /*inits=*/GetParam());
  EXPECT_TRUE(pool_->Snapshot().instances.empty());
  for (int n = 1; n <= 6; ++n) Submit(n);
  EXPECT_EQ(launcher_.count(), static_cast<size_t>(std::min(3, GetParam())));
  // Instances become ready one at a time and each answers what it holds, until all six are served.
  size_t ready = 0;
  for (int round = 0; replies_.size() < 6 && round < 100; ++round) {
    if (ready < launcher_.count()) {
      clock_.Advance(20 * kMs);
      launcher_.at(ready++)->MakeReady();
    } else {
      for (size_t i = 0; i < launcher_.count(); ++i) launcher_.at(i)->AnswerAll();
    }
    ASSERT_LE(launcher_.count(), 3u);
    ASSERT_LE(pool_->Snapshot().instances.size(), 3u);
  }
  ASSERT_EQ(replies_.size(), 6u);
  EXPECT_EQ(launcher_.count(), 3u);
  EXPECT_EQ(replies_.MaxCount(), 1);
  int cold = 0;
  for (int n = 1; n <= 6; ++n) {
    EXPECT_EQ(replies_.Get(n).status, 200) << n;
    cold += replies_.Get(n).cold_start ? 1 : 0;
  }
  PoolSnapshot s = pool_->Snapshot();
  EXPECT_EQ(s.idle, 3);
  EXPECT_EQ(s.counters.inits, 3u);
  EXPECT_EQ(s.counters.requests, 6u);
  EXPECT_EQ(s.counters.throttled, 0u);
  EXPECT_EQ(s.counters.queue_timeouts, 0u);
  EXPECT_EQ(s.counters.cold_requests, static_cast<uint64_t>(cold));
  EXPECT_GE(cold, 3);
  // Idle for idle_ttl_s: back to zero.
  Advance(1 * kSec - 1);
  EXPECT_EQ(pool_->Snapshot().instances.size(), 3u);
  Advance(1);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(launcher_.at(i)->stopped()) << i;
  Advance(0);
  EXPECT_TRUE(pool_->Snapshot().instances.empty());
  // From zero again: a fourth instance, and its request is cold.
  Submit(7);
  ASSERT_EQ(launcher_.count(), 4u);
  clock_.Advance(20 * kMs);
  launcher_.at(3)->MakeReady();
  ASSERT_EQ(launcher_.at(3)->AnswerAll(), 1);
  EXPECT_TRUE(replies_.Get(7).cold_start);
  EXPECT_EQ(Counters().inits, 4u);
}

INSTANTIATE_TEST_SUITE_P(InitsAtOnce, PoolScalingTest, ::testing::Values(8, 2));

TEST_F(PoolTest, TimersRunAtTheDeadlinesThePoolReports) {
  Make(Fn(0, 4));
  EXPECT_FALSE(pool_->NextDeadline().has_value());
  Submit(1);
  int64_t start = clock_.MonotonicNanos();
  EXPECT_EQ(pool_->NextDeadline(), start + 10 * kSec);  // init timeout
  launcher_.at(0)->MakeReady();
  EXPECT_EQ(pool_->NextDeadline(), start + 30 * kSec);  // request timeout
  launcher_.at(0)->AnswerAll();
  EXPECT_EQ(pool_->NextDeadline(), start + 60 * kSec);  // idle TTL
  // A loop that sleeps until each deadline and ticks: back to zero, no instance left.
  while (auto next = pool_->NextDeadline()) {
    clock_.Advance(*next - clock_.MonotonicNanos());
    pool_->Tick();
  }
  EXPECT_TRUE(launcher_.at(0)->stopped());
  EXPECT_TRUE(pool_->Snapshot().instances.empty());
}

TEST_F(PoolTest, IdleInstancesScaleToZero) {
  Make(Fn(0, 4));
  Submit(1);
  launcher_.at(0)->MakeReady();
  launcher_.at(0)->AnswerAll();
  Advance(60 * kSec - 1);
  EXPECT_FALSE(launcher_.at(0)->stopped());
  Advance(1);
  EXPECT_TRUE(launcher_.at(0)->stopped());
  Advance(0);  // reaped
  EXPECT_TRUE(pool_->Snapshot().instances.empty());
  EXPECT_TRUE(launcher_.at(0)->closed());
  Submit(2);
  ASSERT_EQ(launcher_.count(), 2u);  // from zero again: cold
}

TEST_F(PoolTest, AnInstanceThatIgnoresStopIsKilledAfterTheGrace) {
  Make(Fn(0, 4));
  Submit(1);
  launcher_.at(0)->IgnoreStop();
  launcher_.at(0)->MakeReady();
  launcher_.at(0)->AnswerAll();
  Advance(60 * kSec);
  ASSERT_TRUE(launcher_.at(0)->stopped());
  Advance(2 * kSec - 1);
  EXPECT_FALSE(launcher_.at(0)->killed());
  Advance(1);
  EXPECT_TRUE(launcher_.at(0)->killed());
}

TEST_F(PoolTest, CrashMidRequestIs502AndANewInstanceServesTheNext) {
  Make(Fn(0, 4));
  Submit(1);
  launcher_.at(0)->MakeReady();
  launcher_.at(0)->Crash();
  pool_->Tick();
  ForwardReply r = replies_.Get(1);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.code, "instance_crashed");
  EXPECT_EQ(r.instance, "digits-1-1");
  EXPECT_EQ(Counters().crashes, 1u);
  Submit(2);
  ASSERT_EQ(launcher_.count(), 2u);
  launcher_.at(1)->MakeReady();
  ASSERT_EQ(launcher_.at(1)->AnswerAll(), 1);
  EXPECT_EQ(replies_.Get(2).status, 200);
}

TEST_F(PoolTest, OutOfMemoryIsTyped) {
  Make(Fn(0, 4));
  Submit(1);
  launcher_.at(0)->MakeReady();
  launcher_.at(0)->Crash(true, Scheduler::Exit::kOutOfMemory);
  pool_->Tick();
  EXPECT_EQ(replies_.Code(1), "out_of_memory");
  EXPECT_EQ(Counters().out_of_memory, 1u);
}

TEST_F(PoolTest, RequestTimeoutIs504AndTheInstanceIsKilled) {
  Make(Fn(0, 4));
  Submit(1);
  launcher_.at(0)->MakeReady();
  Advance(30 * kSec - 1);
  EXPECT_FALSE(replies_.Has(1));
  Advance(1);
  EXPECT_EQ(replies_.Get(1).status, 504);
  EXPECT_EQ(replies_.Code(1), "timeout");
  EXPECT_TRUE(launcher_.at(0)->killed());
  Advance(0);
  EXPECT_EQ(Counters().timeouts, 1u);
  EXPECT_EQ(Counters().crashes, 0u);
  EXPECT_EQ(replies_.MaxCount(), 1);
}

TEST_F(PoolTest, InitFailureAnswersWaitersAndBacksOff) {
  Make(Fn(0, 4));
  Submit(1);
  launcher_.at(0)->FailInit("Runtime.ImportModuleError: no model");
  pool_->Tick();
  ForwardReply r = replies_.Get(1);
  EXPECT_EQ(r.code, "init_failed");
  EXPECT_NE(r.body.find("Runtime.ImportModuleError: no model"), std::string::npos) << r.body;
  EXPECT_EQ(pool_->Snapshot().last_init_error, "Runtime.ImportModuleError: no model");
  Advance(999 * kMs);
  Submit(2);
  EXPECT_EQ(replies_.Code(2), "init_failed");
  EXPECT_EQ(launcher_.count(), 1u);
  Advance(1 * kMs);
  Submit(3);
  EXPECT_EQ(launcher_.count(), 2u);
  EXPECT_FALSE(replies_.Has(3));
  EXPECT_EQ(Counters().init_failures, 1u);
}

TEST_F(PoolTest, ALaunchThatFailsIsAnInitFailure) {
  Make(Fn(0, 4));
  launcher_.FailLaunches("fork: out of processes");
  Submit(1);
  EXPECT_EQ(replies_.Code(1), "init_failed");
  EXPECT_EQ(pool_->Snapshot().last_init_error, "fork: out of processes");
}

TEST_F(PoolTest, InitTimeoutKillsTheInstance) {
  Make(Fn(0, 4));
  Submit(1);
  Advance(10 * kSec);
  EXPECT_TRUE(launcher_.at(0)->killed());
  EXPECT_NE(pool_->Snapshot().last_init_error.find("init did not finish"), std::string::npos);
}

TEST_F(PoolTest, PromoteDrainsTheOldVersion) {
  Make(Fn(0, 4));
  Submit(1);
  launcher_.at(0)->MakeReady();
  pool_->SetVersion("2");
  EXPECT_EQ(pool_->version(), "2");
  ASSERT_EQ(launcher_.count(), 2u);
  EXPECT_EQ(launcher_.at(1)->launch().version, "2");
  Submit(2);  // waits for version 2
  EXPECT_TRUE(HeldId(0, 2) == 0);
  ASSERT_EQ(launcher_.at(0)->AnswerAll(), 1);  // the old one finishes what it serves
  EXPECT_EQ(replies_.Get(1).version, "1");
  pool_->Tick();
  EXPECT_TRUE(launcher_.at(0)->stopped());
  launcher_.at(1)->MakeReady();
  ASSERT_EQ(launcher_.at(1)->AnswerAll(), 1);
  EXPECT_EQ(replies_.Get(2).version, "2");
}

TEST_F(PoolTest, ConcurrentInitsAreLimited) {
  Make(Fn(0, 8), /*inits=*/2);
  for (int n = 1; n <= 6; ++n) Submit(n);
  EXPECT_EQ(launcher_.count(), 2u);
  launcher_.at(0)->MakeReady();
  EXPECT_EQ(launcher_.count(), 3u);  // a slot freed: one more starts
  EXPECT_NE(HeldId(0, 1), 0u);       // and the ready one serves the oldest at once
  launcher_.at(0)->AnswerAll();
  EXPECT_NE(HeldId(0, 2), 0u);
  EXPECT_EQ(pool_->Snapshot().starting, 2);
}

TEST_F(PoolTest, PoolsShareTheHostsInitBudget) {
  InitSlots host(2);
  env_.init_slots = &host;
  Make(Fn(0, 8));
  FakeLauncher other_launcher;
  PoolEnv other_env = env_;
  other_env.launcher = &other_launcher;
  FunctionConfig other_fn = Fn(0, 8);
  other_fn.name = "other";
  InstancePool other(other_fn, "1", other_env);
  for (int n = 1; n <= 3; ++n) Submit(n);
  EXPECT_EQ(launcher_.count(), 2u);
  EXPECT_EQ(host.Free(), 0);
  ForwardRequest r;
  Replies other_replies;
  other.Submit(r, other_replies.Catch(1));
  EXPECT_EQ(other_launcher.count(), 0u);  // waits for a slot
  launcher_.at(0)->MakeReady();           // gives one back; this pool takes it for its third
  EXPECT_EQ(launcher_.count(), 3u);
  launcher_.at(1)->MakeReady();
  other.Tick();
  ASSERT_EQ(other_launcher.count(), 1u);
  other_launcher.at(0)->MakeReady();
  ASSERT_EQ(other_launcher.at(0)->AnswerAll(), 1);
  EXPECT_EQ(other_replies.Get(1).status, 200);
  launcher_.at(2)->Crash();
  pool_->Tick();
  EXPECT_EQ(host.Free(), 2);  // every slot back: ready or gone
  other.Shutdown();
  pool_.reset();  // before `host`, which it gives slots back to
}

TEST_F(PoolTest, ARefusedConnectionIsRetriedOnAnotherInstance) {
  Make(Fn(0, 4));
  Submit(1);
  Submit(2);
  launcher_.at(0)->MakeReady();
  launcher_.at(1)->MakeReady();
  size_t first = HeldId(0, 1) != 0 ? 0 : 1;
  launcher_.at(first)->RefuseConnections();
  EXPECT_FALSE(replies_.Has(1));
  EXPECT_TRUE(launcher_.at(first)->killed());
  // The other instance gets it once it is free.
  ASSERT_EQ(launcher_.at(1 - first)->AnswerAll(), 1);
  ASSERT_EQ(launcher_.at(1 - first)->AnswerAll(), 1);
  EXPECT_EQ(replies_.Get(1).status, 200);
  EXPECT_EQ(Counters().retries, 1u);
  EXPECT_EQ(replies_.MaxCount(), 1);
}

TEST_F(PoolTest, RequestsAnInstanceNeverTookAreRetriedWhenItDies) {
  Make(Fn(0, 4));
  Submit(1);
  launcher_.at(0)->MakeReady();
  launcher_.at(0)->Crash(/*took_requests=*/false);
  pool_->Tick();
  EXPECT_FALSE(replies_.Has(1));
  ASSERT_EQ(launcher_.count(), 2u);
  launcher_.at(1)->MakeReady();
  ASSERT_EQ(launcher_.at(1)->AnswerAll(), 1);
  EXPECT_EQ(replies_.Get(1).status, 200);
  EXPECT_EQ(Counters().crashes, 0u);
}

TEST_F(PoolTest, APostThatReachedACrashedInstanceIsNotRetriedButAGetIs) {
  Make(Fn(0, 4));
  Submit(1, "POST");
  Submit(2, "GET");
  launcher_.at(0)->MakeReady();
  launcher_.at(1)->MakeReady();
  launcher_.at(0)->Crash();
  launcher_.at(1)->Crash();
  pool_->Tick();
  EXPECT_EQ(replies_.Code(1), "instance_crashed");
  EXPECT_FALSE(replies_.Has(2));
  ASSERT_EQ(launcher_.count(), 3u);
  launcher_.at(2)->MakeReady();
  ASSERT_EQ(launcher_.at(2)->AnswerAll(), 1);
  EXPECT_EQ(replies_.Get(2).status, 200);
}

TEST_F(PoolTest, ShutdownAnswersEverythingAndClosesEveryInstance) {
  Make(Fn(1, 1));
  launcher_.at(0)->MakeReady();
  Submit(1);
  Submit(2);
  pool_->Shutdown();
  // The queued one is refused; the instance exits (asked to) while it holds the other.
  EXPECT_EQ(replies_.Code(2), "shutting_down");
  EXPECT_EQ(replies_.Code(1), "instance_crashed");
  EXPECT_TRUE(launcher_.at(0)->closed());
  Submit(3);
  EXPECT_EQ(replies_.Code(3), "shutting_down");
}

// Many submitters, instances crashing, refusing and answering at random, timers ticking: every
// request gets exactly one reply. Short here; the sanitizer builds run it too.
TEST_F(PoolTest, StressEveryRequestGetsExactlyOneReply) {
  FunctionConfig fn = Fn(0, 4);
  fn.max_queue = 1000;
  Make(fn, 2);
  constexpr int kThreads = 4, kPerThread = 300;
  std::atomic<bool> done{false};
  std::thread driver([&] {
    std::mt19937 rng(7);
    while (!done.load()) {
      for (const auto& in : launcher_.launched()) {
        if (in->exited()) continue;
        switch (rng() % 16) {
          case 0:
            in->Crash(rng() % 2 == 0);
            break;
          case 1:
            in->RefuseConnections();
            break;
          default:
            in->MakeReady();
            in->AnswerAll();
        }
      }
      clock_.Advance(50 * kMs);
      pool_->Tick();
    }
  });
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) Submit(t * kPerThread + i, i % 3 ? "POST" : "GET");
    });
  }
  for (auto& s : submitters) s.join();
  // Every request is answered within its queue deadlines and timeouts, retries included: far
  // less than this much of the fake clock's time.
  const int64_t give_up = clock_.MonotonicNanos() + 1000 * kSec;
  while (replies_.size() < kThreads * kPerThread && clock_.MonotonicNanos() < give_up) {
    std::this_thread::yield();
  }
  done = true;
  driver.join();
  pool_->Shutdown();
  EXPECT_EQ(replies_.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(replies_.MaxCount(), 1);
  for (const auto& in : launcher_.launched()) EXPECT_TRUE(in->closed());
}

// The scheduler's timers racing its callers: short request and queue timeouts on the fake clock,
// every other instance hanging on what it takes (each of its requests times out and it is
// killed), a small queue throttling the submitters, while the others answer or crash. Every
// request still gets exactly one reply.
TEST_F(PoolTest, StressTimeoutsAndThrottlingRaceAnswersAndCrashes) {
  FunctionConfig fn = Fn(0, 3);
  fn.max_queue = 8;
  fn.timeout_s = 1;
  fn.queue_timeout_s = 0.5;
  Make(fn, 2);
  constexpr int kThreads = 4, kPerThread = 200;
  std::atomic<bool> done{false};
  std::thread driver([&] {
    std::mt19937 rng(11);
    while (!done.load()) {
      auto launched = launcher_.launched();
      for (size_t i = 0; i < launched.size(); ++i) {
        const auto& in = launched[i];
        if (in->exited()) continue;
        in->MakeReady();
        if (i % 2 == 1) continue;  // hangs: its requests time out
        if (rng() % 32 == 0) {
          in->Crash(rng() % 2 == 0);
        } else {
          in->AnswerAll();
        }
      }
      clock_.Advance(100 * kMs);
      pool_->Tick();
    }
  });
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) Submit(t * kPerThread + i, i % 3 ? "POST" : "GET");
    });
  }
  for (auto& s : submitters) s.join();
  const int64_t give_up = clock_.MonotonicNanos() + 1000 * kSec;
  while (replies_.size() < kThreads * kPerThread && clock_.MonotonicNanos() < give_up) {
    std::this_thread::yield();
  }
  done = true;
  driver.join();
  PoolCounters c = Counters();
  pool_->Shutdown();
  EXPECT_EQ(replies_.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(replies_.MaxCount(), 1);
  EXPECT_GT(c.timeouts, 0u);
  for (const auto& in : launcher_.launched()) EXPECT_TRUE(in->closed());
}

}  // namespace
}  // namespace modelfn

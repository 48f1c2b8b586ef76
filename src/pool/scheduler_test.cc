#include "pool/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace modelfn {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

// Carries out a scheduler's actions in memory: what was started, stopped, killed, where each
// request went and how it was answered. Time moves only when a test says so.
class World {
 public:
  explicit World(SchedulerParams p) : s(std::move(p)) {}

  void Apply(const SchedActions& actions) {
    for (const SchedAction& a : actions) {
      switch (a.kind) {
        case SchedAction::kStart:
          started.push_back(a.instance);
          if (a.prewarmed) prewarmed.insert(a.instance);
          break;
        case SchedAction::kStop:
          stopped.insert(a.instance);
          break;
        case SchedAction::kKill:
          killed[a.instance] = a.code;
          break;
        case SchedAction::kDispatch:
          sent[a.request] = a.instance;
          if (a.cold) cold.insert(a.request);
          ++sends[a.request];
          break;
        case SchedAction::kReply:
          ASSERT_EQ(replies.count(a.request), 0u) << "request " << a.request << " answered twice";
          replies[a.request] = a.code;
          break;
      }
    }
  }
  void Submit(uint64_t id, bool idempotent = false) { Apply(s.Submit(id, idempotent, now)); }
  void Ready(uint64_t instance) { Apply(s.InstanceReady(instance, now)); }
  void Done(uint64_t request) {
    SchedActions out;
    if (s.RequestDone(request, now, &out)) replies[request] = "ok";
    Apply(out);
  }
  void Exited(uint64_t instance, Scheduler::Exit how = Scheduler::Exit::kExited) {
    Apply(s.InstanceExited(instance, how, "boom", now));
  }
  void Advance(int64_t ns) {
    now += ns;
    Apply(s.Tick(now));
  }
  // Ticks at each deadline the scheduler reports, up to `until`: what a timer loop does.
  void RunUntil(int64_t until) {
    while (true) {
      auto next = s.NextDeadline();
      if (!next || *next > until) break;
      now = std::max(now, *next);
      Apply(s.Tick(now));
    }
    now = until;
    Apply(s.Tick(now));
  }
  int Live() const {
    int n = 0;
    for (const auto& [id, in] : s.instances()) n += in.state != Scheduler::State::kStopping;
    return n;
  }
  int StartingNow() const {
    int n = 0;
    for (const auto& [id, in] : s.instances()) n += in.state == Scheduler::State::kStarting;
    return n;
  }

  Scheduler s;
  int64_t now = 1000 * kSec;
  std::vector<uint64_t> started;
  std::set<uint64_t> prewarmed, stopped, cold;
  std::map<uint64_t, std::string> killed;
  std::map<uint64_t, uint64_t> sent;  // request -> instance
  std::map<uint64_t, int> sends;
  std::map<uint64_t, std::string> replies;
};

SchedulerParams Params(int min, int max, int inits = 8) {
  SchedulerParams p;
  p.function = "digits";
  p.scaling.min_instances = min;
  p.scaling.max_instances = max;
  p.scaling.concurrency = 1;
  p.scaling.idle_ttl_ns = 60 * kSec;
  p.max_concurrent_inits = inits;
  p.max_queue = 4;
  p.queue_timeout_ns = 10 * kSec;
  p.request_timeout_ns = 30 * kSec;
  p.init_timeout_ns = 10 * kSec;
  p.stop_grace_ns = 2 * kSec;
  return p;
}

TEST(SchedulerTest, ScalesFromZeroAndTheFirstRequestIsCold) {
  World w(Params(0, 8));
  w.Apply(w.s.Start(w.now));
  EXPECT_TRUE(w.started.empty());
  w.Submit(1);
  ASSERT_EQ(w.started.size(), 1u);
  EXPECT_EQ(w.prewarmed.count(w.started[0]), 0u);
  EXPECT_TRUE(w.sent.empty());  // waits for init
  w.now += 20 * kMs;
  w.Ready(w.started[0]);
  ASSERT_EQ(w.sent.at(1), w.started[0]);
  EXPECT_EQ(w.cold.count(1), 1u);
  w.Done(1);
  EXPECT_EQ(w.replies.at(1), "ok");
  EXPECT_EQ(w.s.counters().cold_requests, 1u);
  w.Submit(2);
  EXPECT_EQ(w.sent.at(2), w.started[0]);
  EXPECT_EQ(w.cold.count(2), 0u);
  EXPECT_EQ(w.started.size(), 1u);
}

TEST(SchedulerTest, MinInstancesArePrewarmedAndOutliveTheIdleTtl) {
  World w(Params(2, 8));
  w.Apply(w.s.Start(w.now));
  ASSERT_EQ(w.started.size(), 2u);
  EXPECT_EQ(w.prewarmed.size(), 2u);
  EXPECT_EQ(w.s.counters().prewarmed_inits, 2u);
  w.Ready(w.started[0]);
  w.Ready(w.started[1]);
  w.RunUntil(w.now + 3600 * kSec);
  EXPECT_TRUE(w.stopped.empty());
  EXPECT_EQ(w.Live(), 2);
  // Nothing is timed while only min_instances idle: a timer loop sleeps.
  EXPECT_FALSE(w.s.NextDeadline().has_value());
}

TEST(SchedulerTest, NeverStartsMoreThanMaxInstances) {
  World w(Params(0, 3));
  for (uint64_t r = 1; r <= 7; ++r) w.Submit(r);
  EXPECT_EQ(w.started.size(), 3u);
  for (uint64_t i : std::vector<uint64_t>(w.started)) w.Ready(i);
  EXPECT_EQ(w.sent.size(), 3u);
  EXPECT_EQ(w.s.queued(), 4u);
  w.Done(1);
  EXPECT_EQ(w.sent.size(), 4u);
  EXPECT_EQ(w.started.size(), 3u);
}

TEST(SchedulerTest, QueueFullIsThrottled) {
  World w(Params(0, 1));
  w.Submit(1);
  w.Ready(w.started[0]);                          // request 1 is busy on the only instance
  for (uint64_t r = 2; r <= 5; ++r) w.Submit(r);  // max_queue 4
  EXPECT_TRUE(w.replies.empty());
  w.Submit(6);
  EXPECT_EQ(w.replies.at(6), "throttled");
  EXPECT_EQ(w.s.counters().throttled, 1u);
  EXPECT_EQ(w.s.queued(), 4u);
}

TEST(SchedulerTest, AQueuedRequestPastItsDeadlineIsOverloaded) {
  World w(Params(0, 1));
  w.Submit(1);
  w.Ready(w.started[0]);
  w.now += 1 * kSec;
  w.Submit(2);
  EXPECT_EQ(w.s.NextDeadline(), w.now + 10 * kSec);
  w.RunUntil(w.now + 10 * kSec - 1);
  EXPECT_EQ(w.replies.count(2), 0u);
  w.Advance(1);
  EXPECT_EQ(w.replies.at(2), "overloaded");
  EXPECT_EQ(w.s.counters().queue_timeouts, 1u);
  EXPECT_EQ(w.replies.count(1), 0u);  // the one in flight is unaffected
}

TEST(SchedulerTest, IdleInstancesScaleToZeroAfterTheTtl) {
  World w(Params(0, 4));
  w.Submit(1);
  w.Submit(2);
  w.Ready(w.started[0]);
  w.Ready(w.started[1]);
  w.Done(1);
  w.now += 5 * kSec;
  w.Done(2);
  w.RunUntil(w.now + 55 * kSec);  // instance 1 has been idle 60 s, instance 2 55 s
  EXPECT_EQ(w.stopped, (std::set<uint64_t>{w.started[0]}));
  w.Exited(w.started[0]);  // as asked
  w.RunUntil(w.now + 5 * kSec);
  EXPECT_EQ(w.stopped.size(), 2u);
  EXPECT_EQ(w.Live(), 0);
  // One that does not exit when asked gets the grace period, then a kill.
  w.RunUntil(w.now + 2 * kSec - 1);
  EXPECT_TRUE(w.killed.empty());
  w.Advance(1);
  EXPECT_EQ(w.killed.at(w.started[1]), "stopped");
  w.Exited(w.started[1]);
  EXPECT_TRUE(w.s.instances().empty());
  EXPECT_EQ(w.s.counters().crashes, 0u);
}

TEST(SchedulerTest, CrashMidRequestIsInstanceCrashedAndTheNextRequestGetsAFreshInstance) {
  World w(Params(0, 4));
  w.Submit(1);
  w.Ready(w.started[0]);
  w.Exited(w.started[0]);
  EXPECT_EQ(w.replies.at(1), "instance_crashed");
  EXPECT_EQ(w.s.counters().crashes, 1u);
  w.Submit(2);
  ASSERT_EQ(w.started.size(), 2u);
  w.Ready(w.started[1]);
  EXPECT_EQ(w.sent.at(2), w.started[1]);
}

TEST(SchedulerTest, OutOfMemoryIsReportedAsSuch) {
  World w(Params(0, 4));
  w.Submit(1);
  w.Ready(w.started[0]);
  w.Exited(w.started[0], Scheduler::Exit::kOutOfMemory);
  EXPECT_EQ(w.replies.at(1), "out_of_memory");
  EXPECT_EQ(w.s.counters().out_of_memory, 1u);
}

TEST(SchedulerTest, TimeoutIsAnsweredAndTheInstanceKilled) {
  World w(Params(0, 4));
  w.Submit(1);
  w.Ready(w.started[0]);
  w.RunUntil(w.now + 30 * kSec - 1);
  EXPECT_EQ(w.replies.count(1), 0u);
  w.Advance(1);
  EXPECT_EQ(w.replies.at(1), "timeout");
  EXPECT_EQ(w.killed.at(w.started[0]), "timeout");
  // Its late answer is dropped; its exit is no crash.
  SchedActions out;
  EXPECT_FALSE(w.s.RequestDone(1, w.now, &out));
  w.Exited(w.started[0]);
  EXPECT_EQ(w.s.counters().timeouts, 1u);
  EXPECT_EQ(w.s.counters().crashes, 0u);
}

TEST(SchedulerTest, InitFailureFailsWaitersAndBacksOff) {
  World w(Params(0, 4));
  w.Submit(1);
  w.Submit(2);
  ASSERT_EQ(w.started.size(), 2u);
  w.Exited(w.started[0]);
  EXPECT_TRUE(w.replies.empty());   // another instance is still starting
  EXPECT_EQ(w.started.size(), 2u);  // and none replaces it during the backoff
  w.Exited(w.started[1]);
  EXPECT_EQ(w.replies.at(1), "init_failed");
  EXPECT_EQ(w.replies.at(2), "init_failed");
  EXPECT_EQ(w.s.last_init_error(), "boom");
  EXPECT_EQ(w.s.counters().init_failures, 2u);
  // During the backoff: refused at once, nothing started.
  w.now += 500 * kMs;
  w.Submit(3);
  EXPECT_EQ(w.replies.at(3), "init_failed");
  EXPECT_EQ(w.started.size(), 2u);
  w.RunUntil(w.now + 500 * kMs);
  w.Submit(4);
  EXPECT_EQ(w.started.size(), 3u);
  EXPECT_EQ(w.replies.count(4), 0u);
}

TEST(SchedulerTest, InitTimeoutKillsTheInstance) {
  World w(Params(0, 4));
  w.Submit(1);
  w.RunUntil(w.now + 10 * kSec);
  EXPECT_EQ(w.killed.at(w.started[0]), "init_timeout");
  EXPECT_EQ(w.s.counters().init_failures, 1u);
  EXPECT_NE(w.s.last_init_error().find("10000 ms"), std::string::npos);
}

TEST(SchedulerTest, PromoteDrainsOldInstancesOnceANewOneIsReady) {
  World w(Params(0, 2));
  w.Submit(1);
  uint64_t old_id = w.started[0];
  w.Ready(old_id);
  w.Apply(w.s.NewVersion(w.now));
  ASSERT_EQ(w.started.size(), 2u);  // a current one to replace it
  uint64_t new_id = w.started[1];
  w.Submit(2);
  EXPECT_EQ(w.sent.count(2), 0u);  // waits for the new version, not the old instance
  w.Done(1);
  w.Advance(0);
  EXPECT_EQ(w.stopped.count(old_id), 1u);  // idle and old: drained
  EXPECT_EQ(w.sent.count(2), 0u);
  w.Ready(new_id);
  EXPECT_EQ(w.sent.at(2), new_id);
  EXPECT_EQ(w.replies.at(1), "ok");
}

TEST(SchedulerTest, ConcurrentInitsAreLimitedAndQueuedRequestsGoToWhateverIsReady) {
  World w(Params(0, 8, /*inits=*/2));
  for (uint64_t r = 1; r <= 4; ++r) w.Submit(r);
  EXPECT_EQ(w.started.size(), 2u);
  EXPECT_EQ(w.StartingNow(), 2);
  w.Ready(w.started[0]);
  // The first ready instance takes the oldest request; a third init begins in the freed slot.
  EXPECT_EQ(w.sent.at(1), w.started[0]);
  EXPECT_EQ(w.started.size(), 3u);
  EXPECT_EQ(w.StartingNow(), 2);
  w.Done(1);
  EXPECT_EQ(w.sent.at(2), w.started[0]);  // served before the others finish init
  // The demand left (3 and 4, with 2 in flight) is covered by what is starting: no more inits.
  EXPECT_EQ(w.started.size(), 3u);
  w.Ready(w.started[1]);
  w.Ready(w.started[2]);
  EXPECT_EQ(w.sent.size(), 4u);
  EXPECT_LE(w.started.size(), 4u);
}

TEST(SchedulerTest, StartsStayWithinTheRoomTheHostLeaves) {
  World w(Params(0, 8, /*inits=*/4));
  w.s.set_host_init_room(1);
  for (uint64_t r = 1; r <= 4; ++r) w.Submit(r);
  EXPECT_EQ(w.started.size(), 1u);  // the room is used up by the first start
  w.s.set_host_init_room(2);
  w.Advance(0);
  EXPECT_EQ(w.started.size(), 3u);
  w.s.set_host_init_room(0);
  w.Ready(w.started[0]);
  EXPECT_EQ(w.started.size(), 3u);
}

TEST(SchedulerTest, ARequestThatNeverReachedItsInstanceIsRetriedElsewhere) {
  World w(Params(0, 4));
  w.Submit(1);
  w.Submit(2);
  w.Ready(w.started[0]);
  w.Ready(w.started[1]);
  uint64_t first = w.sent.at(1);
  w.Apply(w.s.RequestFailed(1, /*reached=*/false, "instance_crashed", "connect refused", w.now));
  EXPECT_EQ(w.killed.at(first), "crashed");
  EXPECT_EQ(w.replies.count(1), 0u);
  EXPECT_EQ(w.s.counters().retries, 1u);
  // Back at the front of the queue: the next free instance takes it.
  w.Done(2);
  EXPECT_EQ(w.sends.at(1), 2);
  EXPECT_NE(w.sent.at(1), first);
  w.Done(1);
  EXPECT_EQ(w.replies.at(1), "ok");
}

TEST(SchedulerTest, ARequestThatMayHaveReachedItsInstanceIsNotRetried) {
  World w(Params(0, 4));
  w.Submit(1);
  w.Ready(w.started[0]);
  w.Apply(w.s.RequestFailed(1, /*reached=*/true, "instance_crashed", "reset", w.now));
  EXPECT_EQ(w.replies.at(1), "instance_crashed");
  EXPECT_EQ(w.s.counters().crashes, 1u);
  EXPECT_EQ(w.s.counters().retries, 0u);
}

TEST(SchedulerTest, AnIdempotentRequestIsRetriedEvenIfItReachedTheInstance) {
  World w(Params(0, 4));
  w.Submit(1, /*idempotent=*/true);
  w.Ready(w.started[0]);
  w.Apply(w.s.RequestFailed(1, /*reached=*/true, "instance_crashed", "reset", w.now));
  EXPECT_EQ(w.replies.count(1), 0u);
  ASSERT_EQ(w.started.size(), 2u);  // a replacement for the killed one
  w.Ready(w.started[1]);
  EXPECT_EQ(w.sent.at(1), w.started[1]);
}

TEST(SchedulerTest, RetriesAreBounded) {
  World w(Params(0, 8));
  w.Submit(1);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_EQ(w.started.size(), static_cast<size_t>(attempt));
    w.Ready(w.started.back());
    w.Apply(w.s.RequestFailed(1, /*reached=*/false, "instance_crashed", "refused", w.now));
  }
  EXPECT_EQ(w.replies.at(1), "instance_crashed");
  EXPECT_EQ(w.sends.at(1), 3);
}

TEST(SchedulerTest, ShutdownAnswersTheQueueAndStopsEveryInstance) {
  World w(Params(1, 1));
  w.Apply(w.s.Start(w.now));
  w.Ready(w.started[0]);
  w.Submit(1);
  w.Submit(2);
  w.Apply(w.s.Shutdown(w.now));
  EXPECT_EQ(w.replies.at(2), "shutting_down");
  EXPECT_EQ(w.replies.count(1), 0u);  // in flight: may still finish in the grace period
  EXPECT_EQ(w.stopped.count(w.started[0]), 1u);
  w.Submit(3);
  EXPECT_EQ(w.replies.at(3), "shutting_down");
  w.Apply(w.s.FailInFlight("shutting_down", "bye"));
  EXPECT_EQ(w.replies.at(1), "shutting_down");
}

}  // namespace
}  // namespace modelfn

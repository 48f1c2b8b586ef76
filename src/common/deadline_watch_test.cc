#include "common/deadline_watch.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace modelfn {
namespace {

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kHour = 3600'000 * kMs;

// Waits (up to 10 s) for `flag`; deadlines that pass fire soon after, on a loaded machine too.
bool WaitFor(const std::atomic<bool>& flag) {
  for (int i = 0; i < 10'000 && !flag.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return flag.load();
}

TEST(DeadlineWatchTest, APassedDeadlineFiresOnceAndDisarmSaysSo) {
  std::atomic<int> calls{0};
  std::atomic<bool> fired{false};
  auto armed = DeadlineWatch::Get().Arm(Now() - kMs, [&] {
    ++calls;
    fired = true;
  });
  ASSERT_TRUE(WaitFor(fired));
  EXPECT_TRUE(armed.Disarm());
  EXPECT_TRUE(armed.Disarm());  // the first answer again
  EXPECT_EQ(calls.load(), 1);
}

TEST(DeadlineWatchTest, DisarmedBeforeItsDeadlineNeverFires) {
  std::atomic<bool> fired{false};
  {
    auto armed = DeadlineWatch::Get().Arm(Now() + kHour, [&] { fired = true; });
    EXPECT_FALSE(armed.Disarm());
  }
  auto scoped = DeadlineWatch::Get().Arm(Now() + kHour, [&] { fired = true; });
  EXPECT_GE(DeadlineWatch::Get().armed(), 1u);
  scoped = DeadlineWatch::Armed();  // disarmed by the assignment
  EXPECT_FALSE(fired.load());
}

TEST(DeadlineWatchTest, AnEarlierDeadlineWakesTheWatchSleepingOnALaterOne) {
  std::atomic<bool> late{false}, early{false};
  auto a = DeadlineWatch::Get().Arm(Now() + kHour, [&] { late = true; });
  auto b = DeadlineWatch::Get().Arm(Now() + 20 * kMs, [&] { early = true; });
  ASSERT_TRUE(WaitFor(early));
  EXPECT_TRUE(b.Disarm());
  EXPECT_FALSE(a.Disarm());
  EXPECT_FALSE(late.load());
}

TEST(DeadlineWatchTest, ManyThreadsArmAndDisarmAndOnlyPassedDeadlinesFire) {
  std::atomic<int> fired{0}, expected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        bool passed = (i + t) % 7 == 0;
        auto armed =
            DeadlineWatch::Get().Arm(passed ? Now() - kMs : Now() + kHour, [&] { ++fired; });
        if (passed) {
          while (!armed.Disarm()) {
            // Not yet fired: arm again to wait for it (a passed deadline always fires).
            armed = DeadlineWatch::Get().Arm(Now() - kMs, [&] { ++fired; });
          }
          ++expected;
        } else {
          EXPECT_FALSE(armed.Disarm());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fired.load(), expected.load());
  EXPECT_EQ(DeadlineWatch::Get().armed(), 0u);
}

TEST(DeadlineWatchTest, AForkedChildWatchesWithAThreadOfItsOwn) {
  // The parent's watch thread is running (earlier tests, or this arm).
  auto parent = DeadlineWatch::Get().Arm(Now() + kHour, [] {});
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Nothing of the parent's is armed here, and a passed deadline fires.
    if (DeadlineWatch::Get().armed() != 0) _exit(2);
    std::atomic<bool> fired{false};
    auto armed = DeadlineWatch::Get().Arm(Now() - kMs, [&] { fired = true; });
    _exit(WaitFor(fired) && armed.Disarm() ? 0 : 3);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_FALSE(parent.Disarm());
}

}  // namespace
}  // namespace modelfn

#include "http/responder.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <memory>
#include <thread>
#include <vector>

namespace modelfn {
namespace {

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(ResponderTest, AnswerReachesItsLoopsMailboxAndWakesOnlyThatLoop) {
  auto shared = std::make_shared<HttpResponder::Shared>(2);
  EXPECT_FALSE(Readable(shared->wake_fd(0)));
  EXPECT_FALSE(Readable(shared->wake_fd(1)));
  HttpResponse r;
  r.status = 201;
  HttpResponder(shared, 1, 42)(r);
  EXPECT_FALSE(Readable(shared->wake_fd(0)));
  EXPECT_TRUE(Readable(shared->wake_fd(1)));
  HttpResponder::Shared::ClearWake(shared->wake_fd(1));
  EXPECT_FALSE(Readable(shared->wake_fd(1)));

  std::vector<std::pair<uint64_t, HttpResponse>> got;
  shared->Take(0, &got);
  EXPECT_TRUE(got.empty());
  shared->Take(1, &got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, 42u);
  EXPECT_EQ(got[0].second.status, 201);
  shared->Take(1, &got);
  EXPECT_TRUE(got.empty());
}

TEST(ResponderTest, AnswersFromManyThreadsAllArrive) {
  auto shared = std::make_shared<HttpResponder::Shared>(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([shared, t] {
      for (int i = 0; i < 100; ++i) HttpResponder(shared, 0, uint64_t(t * 100 + i))(HttpResponse());
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::pair<uint64_t, HttpResponse>> got;
  shared->Take(0, &got);
  EXPECT_EQ(got.size(), 800u);
}

TEST(ResponderTest, AnswerAfterCloseIsDropped) {
  auto shared = std::make_shared<HttpResponder::Shared>(1);
  HttpResponder respond(shared, 0, 7);
  shared->Close();
  respond(HttpResponse());  // must neither crash nor write to a closed descriptor
  shared->WakeAll();
  std::vector<std::pair<uint64_t, HttpResponse>> got;
  shared->Take(0, &got);
  EXPECT_TRUE(got.empty());
}

TEST(ResponderTest, DefaultResponderIsEmptyAndHarmless) {
  HttpResponder none;
  EXPECT_FALSE(static_cast<bool>(none));
  none(HttpResponse());
}

// A loop's own thread posting to it does not touch the wakeup descriptor (the loop takes its mail
// after the batch of events it is in: TakeOwnPosts says so once); other threads wake it only when
// its mailbox was empty.
TEST(ResponderTest, OwnLoopPostsAndPostsToAFullMailboxDoNotWake) {
  auto shared = std::make_shared<HttpResponder::Shared>(2);
  HttpResponse r;
  shared->EnterLoop(0);
  EXPECT_FALSE(HttpResponder::Shared::TakeOwnPosts());
  HttpResponder(shared, 0, 1)(r);
  EXPECT_FALSE(Readable(shared->wake_fd(0)));
  std::thread([&] { HttpResponder(shared, 0, 2)(r); }).join();  // the mailbox was not empty
  EXPECT_FALSE(Readable(shared->wake_fd(0)));
  HttpResponder(shared, 1, 3)(r);  // another loop: woken
  EXPECT_TRUE(Readable(shared->wake_fd(1)));
  EXPECT_TRUE(HttpResponder::Shared::TakeOwnPosts());
  EXPECT_FALSE(HttpResponder::Shared::TakeOwnPosts());
  std::vector<std::pair<uint64_t, HttpResponse>> got;
  shared->Take(0, &got);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, 1u);
  EXPECT_EQ(got[1].first, 2u);

  std::thread([&] { HttpResponder(shared, 0, 4)(r); }).join();  // empty again: wakes
  EXPECT_TRUE(Readable(shared->wake_fd(0)));
  shared->LeaveLoop();
  HttpResponder::Shared::ClearWake(shared->wake_fd(0));
  shared->Take(0, &got);
  HttpResponder(shared, 0, 5)(r);  // no longer the loop's thread: wakes
  EXPECT_TRUE(Readable(shared->wake_fd(0)));
  EXPECT_FALSE(HttpResponder::Shared::TakeOwnPosts());
}

}  // namespace
}  // namespace modelfn

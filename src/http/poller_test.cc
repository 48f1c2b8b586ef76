#include "http/poller.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace modelfn {
namespace {

TEST(PollerTest, ReportsReadinessWithTheTagAndFollowsModifyAndRemove) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  Poller poller;
  int tag = 0;
  ASSERT_TRUE(poller.Add(p[0], EPOLLIN, &tag));
  epoll_event ev[4];
  EXPECT_EQ(poller.Wait(ev, 4, 0), 0);  // nothing written yet
  ASSERT_EQ(write(p[1], "x", 1), 1);
  ASSERT_EQ(poller.Wait(ev, 4, 1000), 1);
  EXPECT_EQ(ev[0].data.ptr, &tag);
  EXPECT_TRUE(ev[0].events & EPOLLIN);
  // Level-triggered: still ready while unread.
  EXPECT_EQ(poller.Wait(ev, 4, 0), 1);
  ASSERT_TRUE(poller.Modify(p[0], 0, &tag));  // watch nothing
  EXPECT_EQ(poller.Wait(ev, 4, 0), 0);
  ASSERT_TRUE(poller.Modify(p[0], EPOLLIN, &tag));
  EXPECT_EQ(poller.Wait(ev, 4, 0), 1);
  poller.Remove(p[0]);
  EXPECT_EQ(poller.Wait(ev, 4, 0), 0);
  EXPECT_FALSE(poller.Modify(p[0], EPOLLIN, &tag));  // no longer in the set
  close(p[0]);
  close(p[1]);
}

TEST(PollerTest, MonotonicMsDoesNotGoBack) {
  int64_t a = MonotonicMs();
  int64_t b = MonotonicMs();
  EXPECT_GE(b, a);
  EXPECT_GT(a, 0);
}

}  // namespace
}  // namespace modelfn

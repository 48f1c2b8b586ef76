#include "http/accept.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace modelfn {
namespace {

int Listener(sockaddr_in* addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  addr->sin_family = AF_INET;
  addr->sin_port = 0;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(addr), sizeof *addr), 0);
  EXPECT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof *addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(addr), &len);
  return fd;
}

int ConnectTo(const sockaddr_in& addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

// True when the server side closed the connection (EOF or reset).
bool ClosedByServer(int fd) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  ssize_t n = recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

TEST(AcceptTest, OutOfDescriptorsShedsQueuedConnectionsThenRecovers) {
  ReserveDescriptorForAccept();
  sockaddr_in addr{};
  int listener = Listener(&addr);
  int first = ConnectTo(addr);
  int second = ConnectTo(addr);
  // Use up every descriptor this process may open.
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int fd; (fd = dup(0)) >= 0;) filler.push_back(fd);
  ASSERT_EQ(errno, EMFILE);

  int fd = -1;
  EXPECT_EQ(AcceptOrShed(listener, SOCK_NONBLOCK | SOCK_CLOEXEC, &fd), AcceptResult::kShed);
  EXPECT_EQ(AcceptOrShed(listener, SOCK_NONBLOCK | SOCK_CLOEXEC, &fd), AcceptResult::kShed);
  EXPECT_EQ(AcceptOrShed(listener, SOCK_NONBLOCK | SOCK_CLOEXEC, &fd), AcceptResult::kNone);
  EXPECT_TRUE(ClosedByServer(first));
  EXPECT_TRUE(ClosedByServer(second));

  // Descriptors free up: connections are accepted again (the reserve was taken back first).
  for (int f : filler) close(f);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  int third = ConnectTo(addr);
  fd = -1;  // so that only this accept can make the check below pass
  EXPECT_EQ(AcceptOrShed(listener, SOCK_NONBLOCK | SOCK_CLOEXEC, &fd), AcceptResult::kAccepted);
  EXPECT_GE(fd, 0);
  close(fd);
  close(third);
  close(first);
  close(second);
  close(listener);
}

TEST(AcceptTest, NothingQueuedIsNone) {
  sockaddr_in addr{};
  int listener = Listener(&addr);
  int fd = -1;
  EXPECT_EQ(AcceptOrShed(listener, SOCK_NONBLOCK | SOCK_CLOEXEC, &fd), AcceptResult::kNone);
  close(listener);
}

}  // namespace
}  // namespace modelfn

#include "function/template_protocol.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace modelfn {
namespace {

TEST(TemplateProtocolTest, ForkCommandRoundTrips) {
  ForkCommand cmd;
  cmd.requested_ns = 123456789012;
  cmd.reaper_pid = 42;
  cmd.env = {{"PORT", "0"},
             {"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"},
             {"EMPTY", ""},
             {"WITH_EQUALS", "a=b=c"}};
  cmd.has_log_fd = true;
  cmd.has_ready_fd = true;
  cmd.rlimit_as_bytes = 1 << 30;
  cmd.cgroup_procs = "/sys/fs/cgroup/x/cgroup.procs";
  StatusOr<ForkCommand> back = DecodeForkCommand(EncodeForkCommand(cmd));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->requested_ns, cmd.requested_ns);
  EXPECT_EQ(back->reaper_pid, 42);
  EXPECT_EQ(back->env, cmd.env);
  EXPECT_TRUE(back->has_log_fd);
  EXPECT_TRUE(back->has_ready_fd);
  EXPECT_EQ(back->rlimit_as_bytes, 1 << 30);
  EXPECT_EQ(back->cgroup_procs, cmd.cgroup_procs);
}

TEST(TemplateProtocolTest, ForkCommandWithoutDescriptorsHasNone) {
  ForkCommand cmd;
  cmd.reaper_pid = 7;
  StatusOr<ForkCommand> back = DecodeForkCommand(EncodeForkCommand(cmd));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->has_log_fd);
  EXPECT_FALSE(back->has_ready_fd);
  EXPECT_TRUE(back->env.empty());
}

TEST(TemplateProtocolTest, NulInsideAValueCannotEndTheRecord) {
  ForkCommand cmd;
  cmd.reaper_pid = 7;
  cmd.env["X"] = std::string("a\0reaper=1", 10);
  StatusOr<ForkCommand> back = DecodeForkCommand(EncodeForkCommand(cmd));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->reaper_pid, 7);
  EXPECT_EQ(back->env["X"], "a reaper=1");
}

TEST(TemplateProtocolTest, MalformedForkCommandsAreRefused) {
  using namespace std::string_literals;
  EXPECT_FALSE(DecodeForkCommand("").ok());
  EXPECT_FALSE(DecodeForkCommand("kind=ready\0"s).ok());
  EXPECT_FALSE(DecodeForkCommand("kind=fork\0"s).ok());  // no reaper
  EXPECT_FALSE(DecodeForkCommand("kind=fork\0reaper=0\0"s).ok());
  EXPECT_FALSE(DecodeForkCommand("kind=fork\0reaper=12x\0"s).ok());
  EXPECT_FALSE(DecodeForkCommand("kind=fork\0reaper=12"s).ok());  // unterminated
  EXPECT_FALSE(DecodeForkCommand("kind=fork\0reaper=12\0env=NOEQUALS\0"s).ok());
  EXPECT_FALSE(DecodeForkCommand("kind=fork\0reaper=12\0surprise=1\0"s).ok());
  EXPECT_FALSE(DecodeForkCommand("kind=fork\0noequals\0"s).ok());
  EXPECT_TRUE(DecodeForkCommand("kind=fork\0reaper=12\0"s).ok());
}

TEST(TemplateProtocolTest, RepliesRoundTrip) {
  TemplateReply r;
  r.kind = TemplateReply::Kind::kInitError;
  r.code = "model_not_found";
  r.text = "no model.onnx in /x";
  StatusOr<TemplateReply> back = DecodeTemplateReply(EncodeTemplateReply(r));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->kind, TemplateReply::Kind::kInitError);
  EXPECT_EQ(back->code, r.code);
  EXPECT_EQ(back->text, r.text);

  r = TemplateReply{};
  r.kind = TemplateReply::Kind::kForked;
  r.pid = 4321;
  back = DecodeTemplateReply(EncodeTemplateReply(r));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->kind, TemplateReply::Kind::kForked);
  EXPECT_EQ(back->pid, 4321);
}

TEST(TemplateProtocolTest, ForkedReplyNeedsAPid) {
  using namespace std::string_literals;
  EXPECT_FALSE(DecodeTemplateReply("kind=forked\0"s).ok());
  EXPECT_FALSE(DecodeTemplateReply("kind=exploded\0"s).ok());
  EXPECT_FALSE(DecodeTemplateReply("pid=3\0"s).ok());
}

class SocketPairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds_), 0);
  }
  void TearDown() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  int fds_[2] = {-1, -1};
};

TEST_F(SocketPairTest, DescriptorsTravelWithThePacket) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_TRUE(SendPacket(fds_[0], "hello", {p[1]}).ok());
  close(p[1]);
  StatusOr<Packet> got = RecvPacket(fds_[1], 5000);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->bytes, "hello");
  ASSERT_EQ(got->fds.size(), 1u);
  EXPECT_NE(fcntl(got->fds[0], F_GETFD) & FD_CLOEXEC, 0);
  // The received descriptor is the pipe's write end: what goes in comes out of the read end.
  ASSERT_EQ(write(got->fds[0], "x", 1), 1);
  close(got->fds[0]);
  char c = 0;
  ASSERT_EQ(read(p[0], &c, 1), 1);
  EXPECT_EQ(c, 'x');
  close(p[0]);
}

TEST_F(SocketPairTest, PacketsKeepTheirBoundaries) {
  ASSERT_TRUE(SendPacket(fds_[0], "one", {}).ok());
  ASSERT_TRUE(SendPacket(fds_[0], "two", {}).ok());
  EXPECT_EQ(RecvPacket(fds_[1], 5000)->bytes, "one");
  EXPECT_EQ(RecvPacket(fds_[1], 5000)->bytes, "two");
}

TEST_F(SocketPairTest, ClosedPeerIsNotFound) {
  close(fds_[0]);
  fds_[0] = -1;
  EXPECT_EQ(RecvPacket(fds_[1], 5000).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(SendPacket(fds_[1], "x", {}).code(), StatusCode::kUnavailable);
}

TEST_F(SocketPairTest, SilenceIsDeadlineExceeded) {
  EXPECT_EQ(RecvPacket(fds_[1], 0).status().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(SocketPairTest, OversizedPacketIsRefusedBeforeSending) {
  std::string big(kTemplateMaxPacket + 1, 'x');
  EXPECT_EQ(SendPacket(fds_[0], big, {}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace modelfn

// Connection over a real socketpair; its TLS path with a scripted session (the real OpenSSL one is
// exercised end to end in http_server_tls_test.cc).
#include "http/connection.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <string>

namespace modelfn {
namespace {

// A socketpair: [0] for the Connection (non-blocking), [1] for the test's peer.
struct Pair {
  int fd[2];
  Pair() {
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0);
    fcntl(fd[0], F_SETFL, fcntl(fd[0], F_GETFL) | O_NONBLOCK);
  }
  ~Pair() { close(fd[1]); }  // fd[0] belongs to the Connection
};

TEST(ConnectionTest, PlainReadWriteWouldBlockAndEof) {
  Pair p;
  Connection c(p.fd[0], ParserLimits());
  EXPECT_FALSE(c.tls());
  EXPECT_FALSE(c.handshaking());
  EXPECT_EQ(c.Handshake(), IoResult::kOk);
  char buf[64];
  size_t got = 0;
  EXPECT_EQ(c.Read(buf, sizeof buf, &got), IoResult::kWouldBlock);
  EXPECT_FALSE(c.HasUnreadBytes());
  ASSERT_EQ(write(p.fd[1], "abc", 3), 3);
  EXPECT_TRUE(c.HasUnreadBytes());  // peeking consumes nothing
  ASSERT_EQ(c.Read(buf, sizeof buf, &got), IoResult::kOk);
  EXPECT_EQ(std::string(buf, got), "abc");
  size_t put = 0;
  ASSERT_EQ(c.Write("xyz", 3, &put), IoResult::kOk);
  EXPECT_EQ(put, 3u);
  char back[8];
  ASSERT_EQ(read(p.fd[1], back, sizeof back), 3);
  c.ShutdownWrite();
  EXPECT_EQ(read(p.fd[1], back, sizeof back), 0);  // our FIN
  shutdown(p.fd[1], SHUT_WR);
  EXPECT_EQ(c.Read(buf, sizeof buf, &got), IoResult::kEof);
}

TEST(ConnectionTest, ResetRequestClearsTheRequestInProgress) {
  Pair p;
  Connection c(p.fd[0], ParserLimits());
  c.req.method = "POST";
  c.request_started_ms = 5;
  c.ResetRequest();
  EXPECT_TRUE(c.req.method.empty());
  EXPECT_EQ(c.request_started_ms, 0);
  c.out = "abc";
  c.out_off = 1;
  EXPECT_FALSE(c.WriteDone());
  c.out_off = 3;
  EXPECT_TRUE(c.WriteDone());
}

// A session that answers the handshake with a script and records what it was asked.
struct Script {
  std::deque<IoResult> handshake;
  bool close_notify = false;
  std::string written;
};

class ScriptedSession : public TlsSession {
 public:
  explicit ScriptedSession(Script* s) : s_(s) {}
  IoResult Handshake() override {
    IoResult r = s_->handshake.front();
    s_->handshake.pop_front();
    return r;
  }
  IoResult Read(char* buf, size_t n, size_t* got) override {
    buf[0] = 'd';
    *got = n > 0 ? 1 : 0;
    return IoResult::kOk;
  }
  IoResult Write(const char* buf, size_t n, size_t* put) override {
    s_->written.append(buf, n);
    *put = n;
    return IoResult::kOk;
  }
  void SendCloseNotify() override { s_->close_notify = true; }
  bool HasBuffered() const override { return false; }

 private:
  Script* s_;
};

class ScriptedServer : public TlsServer {
 public:
  explicit ScriptedServer(Script* s, bool fail = false) : s_(s), fail_(fail) {}
  std::unique_ptr<TlsSession> NewSession(int) override {
    if (fail_) return nullptr;
    return std::make_unique<ScriptedSession>(s_);
  }

 private:
  Script* s_;
  bool fail_;
};

TEST(ConnectionTest, TlsBytesFlowOnlyAfterTheHandshake) {
  Pair p;
  Script script;
  script.handshake = {IoResult::kWouldBlock, IoResult::kWantWrite, IoResult::kOk};
  ScriptedServer tls(&script);
  Connection c(p.fd[0], ParserLimits(), &tls);
  EXPECT_TRUE(c.tls());
  EXPECT_TRUE(c.handshaking());
  char buf[8];
  size_t n = 0;
  EXPECT_EQ(c.Read(buf, sizeof buf, &n), IoResult::kError);  // nothing before the handshake
  EXPECT_EQ(c.Write("x", 1, &n), IoResult::kError);
  EXPECT_EQ(c.Handshake(), IoResult::kWouldBlock);
  EXPECT_EQ(c.Handshake(), IoResult::kWantWrite);
  EXPECT_TRUE(c.handshaking());
  EXPECT_EQ(c.Handshake(), IoResult::kOk);
  EXPECT_FALSE(c.handshaking());
  EXPECT_EQ(c.Handshake(), IoResult::kOk);  // done stays done; the script is not asked again
  ASSERT_EQ(c.Read(buf, sizeof buf, &n), IoResult::kOk);
  EXPECT_EQ(std::string(buf, n), "d");
  ASSERT_EQ(c.Write("hi", 2, &n), IoResult::kOk);
  EXPECT_EQ(script.written, "hi");
  c.ShutdownWrite();
  EXPECT_TRUE(script.close_notify);
  char raw[8];
  EXPECT_EQ(read(p.fd[1], raw, sizeof raw), 0);  // and the FIN after it
}

TEST(ConnectionTest, FailedOrEndedHandshakeIsAnError) {
  {
    Pair p;
    Script script;
    script.handshake = {IoResult::kEof};  // the client closed mid-handshake
    ScriptedServer tls(&script);
    Connection c(p.fd[0], ParserLimits(), &tls);
    EXPECT_EQ(c.Handshake(), IoResult::kError);
    c.ShutdownWrite();
    EXPECT_FALSE(script.close_notify);  // no close_notify without a finished handshake
  }
  {
    Pair p;
    Script script;
    ScriptedServer tls(&script, /*fail=*/true);  // no session could be made
    Connection c(p.fd[0], ParserLimits(), &tls);
    EXPECT_TRUE(c.tls());
    EXPECT_TRUE(c.handshaking());
    EXPECT_EQ(c.Handshake(), IoResult::kError);
  }
}

}  // namespace
}  // namespace modelfn

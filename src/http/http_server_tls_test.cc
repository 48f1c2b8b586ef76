// HttpServer with TLS on its event loops, against real peers in this process: OpenSSL clients,
// certificates made here for each test, the server's own handler behind.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "http/http_server.h"
#include "http/openssl_tls.h"

namespace modelfn {
namespace {

// A key and a certificate, written as PEM files.
struct Identity {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  std::string key_path;
  std::string cert_path;
  ~Identity() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

// Makes `id` a P-256 key with a certificate for `cn`, signed by `issuer` (self-signed when null).
void MakeIdentity(const std::string& dir, const std::string& name, const Identity* issuer,
                  bool is_ca, Identity* id) {
  id->key = EVP_EC_gen("P-256");
  ASSERT_NE(id->key, nullptr);
  id->cert = X509_new();
  X509_set_version(id->cert, 2);
  static std::atomic<long> serial{1};
  ASN1_INTEGER_set(X509_get_serialNumber(id->cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(id->cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(id->cert), 3600L * 24);
  X509_set_pubkey(id->cert, id->key);
  X509_NAME* subject = X509_get_subject_name(id->cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(id->cert, issuer ? X509_get_subject_name(issuer->cert) : subject);
  if (is_ca) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer->cert : id->cert, id->cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext =
        X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    ASSERT_NE(ext, nullptr);
    X509_add_ext(id->cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  ASSERT_GT(X509_sign(id->cert, issuer ? issuer->key : id->key, EVP_sha256()), 0);
  id->key_path = dir + "/" + name + ".key";
  id->cert_path = dir + "/" + name + ".pem";
  FILE* f = fopen(id->key_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, id->key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  f = fopen(id->cert_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, id->cert);
  fclose(f);
}

int ConnectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  // A guard against a hung front, not a timing assertion: a broken test fails instead of hanging.
  timeval tv{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// A TLS client connection; `client` (optional) is the certificate it presents.
class TlsClient {
 public:
  TlsClient(int port, const Identity* client) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (client) {
      EXPECT_EQ(SSL_CTX_use_certificate(ctx_, client->cert), 1);
      EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_, client->key), 1);
    }
    fd_ = ConnectTo(port);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    handshake_ok_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    close(fd_);
  }
  bool handshake_ok() const { return handshake_ok_; }

  // Sends `text` and reads until as many bytes came back; returns what came ("" on an error).
  std::string RoundTrip(const std::string& text) {
    if (SSL_write(ssl_, text.data(), static_cast<int>(text.size())) <= 0) return "";
    return ReadUpTo(text.size());
  }
  bool Write(const std::string& text) {
    return SSL_write(ssl_, text.data(), static_cast<int>(text.size())) ==
           static_cast<int>(text.size());
  }
  // Waits until the peer acknowledged every byte written (true) or reset the connection (false).
  // A reset is certain when the peer closed with our bytes unread, however the race between our
  // writes and its close goes; the loop's bound only guards against a hung peer.
  bool PeerAcknowledgedEveryWrite() {
    for (int i = 0; i < 6000; ++i) {
      tcp_info info{};
      socklen_t len = sizeof info;
      if (getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
      if (info.tcpi_state == TCP_CLOSE) return false;
      int unacknowledged = 0;
      if (ioctl(fd_, SIOCOUTQ, &unacknowledged) != 0) return false;
      if (unacknowledged == 0) return true;
      poll(nullptr, 0, 10);
    }
    return false;
  }
  // Reads to the end of the connection; true when it ended with the peer's close_notify (not a
  // reset or a bare EOF).
  bool EndsWithCloseNotify() {
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) {
    }
    return SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN;
  }
  std::string ReadUpTo(size_t want) {
    std::string got;
    char buf[4096];
    while (got.size() < want) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool handshake_ok_ = false;
};

// True when the peer closes `fd` (after any bytes it sends first).
bool ClosedByPeer(int fd) {
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
  }
  return n == 0 || errno == ECONNRESET;
}

std::string Request(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// The answer TlsServerTest's handler gives to Request(path, body).
std::string Answer(const std::string& path, const std::string& body) {
  std::string content = "POST " + path + " " + body;
  return "Content-Length: " + std::to_string(content.size()) +
         "\r\nConnection: keep-alive\r\n\r\n" + content;
}

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // as the gateway does: a peer that closes is an error, not death
    char tmpl[] = "/tmp/http-tls-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    MakeIdentity(dir_, "server", nullptr, false, &server_);
  }
  void TearDown() override {
    Stop();
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) ADD_FAILURE() << "could not remove " << dir_;
  }

  void Start(const std::string& client_ca = "", HeadHandler head = nullptr,
             HttpServerOptions o = HttpServerOptions()) {
    auto tls = MakeOpenSslTlsServer(TlsConfig{server_.cert_path, server_.key_path, client_ca});
    ASSERT_TRUE(tls.ok()) << tls.status().ToString();
    o.host = "127.0.0.1";
    o.port = 0;
    o.workers = 2;
    o.tls = *tls;
    auto s = HttpServer::Create(o, [this](const HttpRequest& req, HttpResponse* resp) {
      handled_.fetch_add(1);
      resp->content_type = "text/plain";
      resp->body = req.method + " " + req.path + " " + req.body;
    });
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_http_ = std::move(s).value();
    if (head) server_http_->SetHeadHandler(std::move(head));
    run_ = std::thread([this] { server_http_->Run(); });
  }
  void Stop() {
    if (!server_http_) return;
    server_http_->Shutdown();
    run_.join();
    server_http_.reset();
  }
  int port() const { return server_http_->port(); }

  std::string dir_;
  Identity server_;
  std::atomic<int> handled_{0};
  std::unique_ptr<HttpServer> server_http_;
  std::thread run_;
};

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

TEST_F(TlsServerTest, HandshakeThenRequestsOnOneConnection) {
  Start();
  TlsClient client(port(), nullptr);
  ASSERT_TRUE(client.handshake_ok());
  ASSERT_TRUE(client.Write(Request("/a", "hello")));
  std::string want = Answer("/a", "hello");
  std::string got = client.ReadUpTo(1);
  while (!EndsWith(got, want)) {
    std::string more = client.ReadUpTo(1);
    if (more.empty()) break;
    got += more;
  }
  EXPECT_TRUE(EndsWith(got, want)) << got;
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
  // A body of many TLS records, on the same (kept-alive) connection.
  std::string big(200'000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(client.Write(Request("/b", big)));
  want = Answer("/b", big);
  got.clear();
  while (!EndsWith(got, want)) {
    std::string more = client.ReadUpTo(1);
    if (more.empty()) break;
    got += more;
  }
  EXPECT_TRUE(EndsWith(got, want)) << got.substr(0, 200);
  EXPECT_EQ(handled_.load(), 2);
}

TEST_F(TlsServerTest, EarlyAnswerReachesTheClientWithCloseNotify) {
  // The head handler refuses before the body, as the gateway does for a body too large.
  Start("", [](HttpRequest*, HttpResponse* early) {
    early->status = 413;
    early->body = "too large";
    return false;
  });
  TlsClient client(port(), nullptr);
  ASSERT_TRUE(client.handshake_ok());
  ASSERT_TRUE(client.Write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"));
  std::string answer = client.ReadUpTo(1);
  answer += client.ReadUpTo(4096);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413 Content Too Large\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n\r\ntoo large"), std::string::npos) << answer;
  EXPECT_TRUE(client.EndsWithCloseNotify());
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(TlsServerTest, ClientStillSendingAfterAnEarlyAnswerIsDrainedNotReset) {
  // Refused by its head; the client, unaware, keeps sending the body it announced. Its writes
  // must succeed and the connection end in close_notify: a reset there can destroy the answer
  // before the client reads it.
  Start("", [](HttpRequest*, HttpResponse* early) {
    early->status = 401;
    early->body = "who are you";
    return false;
  });
  TlsClient client(port(), nullptr);
  ASSERT_TRUE(client.handshake_ok());
  ASSERT_TRUE(client.Write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n"));
  std::string answer = client.ReadUpTo(1);
  while (answer.find("who are you") == std::string::npos) {
    std::string more = client.ReadUpTo(1);
    if (more.empty()) break;
    answer += more;
  }
  ASSERT_EQ(answer.rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0u) << answer;
  std::string body(200'000, '1');
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(client.Write(body)) << "write " << i;
  EXPECT_TRUE(client.PeerAcknowledgedEveryWrite());
  EXPECT_TRUE(client.EndsWithCloseNotify());
}

TEST_F(TlsServerTest, PlainTextOrGarbageHelloNeverReachesTheRequestPath) {
  Start();
  int fd = ConnectTo(port());
  const char plain[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, plain, sizeof plain - 1, MSG_NOSIGNAL), ssize_t(sizeof plain - 1));
  EXPECT_TRUE(ClosedByPeer(fd));
  close(fd);
  // Garbage shaped like a TLS record.
  fd = ConnectTo(port());
  const char junk[] = "\x16\x03\x01\x00\x05hello";
  ASSERT_EQ(send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL), ssize_t(sizeof junk - 1));
  EXPECT_TRUE(ClosedByPeer(fd));
  close(fd);
  EXPECT_EQ(handled_.load(), 0);
  TlsClient client(port(), nullptr);
  ASSERT_TRUE(client.handshake_ok());
  ASSERT_TRUE(client.Write(Request("/ok", "")));
  EXPECT_NE(client.ReadUpTo(1).find("200 OK"), std::string::npos);
  EXPECT_EQ(handled_.load(), 1);
}

TEST_F(TlsServerTest, StalledHandshakeDoesNotHoldUpOthersOrShutdown) {
  Start();
  int stalled = ConnectTo(port());
  const char partial[] = "\x16\x03\x01";  // the start of a record header, then nothing
  ASSERT_EQ(send(stalled, partial, 3, MSG_NOSIGNAL), 3);
  for (int i = 0; i < 3; ++i) {
    TlsClient client(port(), nullptr);
    ASSERT_TRUE(client.handshake_ok());
    ASSERT_TRUE(client.Write(Request("/next", "")));
    EXPECT_NE(client.ReadUpTo(1).find("200 OK"), std::string::npos);
  }
  EXPECT_EQ(handled_.load(), 3);
  Stop();  // returns with the stalled client still connected
  EXPECT_TRUE(ClosedByPeer(stalled));
  close(stalled);
}

TEST_F(TlsServerTest, HandshakeNotDoneInTimeIsClosed) {
  HttpServerOptions o;
  o.tls_handshake_timeout_ms = 100;  // 10 s in the gateway
  Start("", nullptr, o);
  int stalled = ConnectTo(port());
  const char partial[] = "\x16\x03\x01";
  ASSERT_EQ(send(stalled, partial, 3, MSG_NOSIGNAL), 3);
  EXPECT_TRUE(ClosedByPeer(stalled));  // by the server's deadline, while it keeps running
  close(stalled);
  TlsClient client(port(), nullptr);
  EXPECT_TRUE(client.handshake_ok());
}

TEST_F(TlsServerTest, MutualTlsLetsOnlyClientsTheCaSigned) {
  Identity ca, client, stranger_ca, stranger;
  MakeIdentity(dir_, "ca", nullptr, true, &ca);
  MakeIdentity(dir_, "client", &ca, false, &client);
  MakeIdentity(dir_, "other-ca", nullptr, true, &stranger_ca);
  MakeIdentity(dir_, "stranger", &stranger_ca, false, &stranger);
  Start(ca.cert_path);
  {
    // TLS 1.3 finishes the client's side before the server checks it: the refusal shows as the
    // connection ending without an answer.
    TlsClient anonymous(port(), nullptr);
    EXPECT_EQ(anonymous.RoundTrip(Request("/x", "")), "");
  }
  {
    TlsClient other(port(), &stranger);
    EXPECT_EQ(other.RoundTrip(Request("/x", "")), "");
  }
  EXPECT_EQ(handled_.load(), 0);
  TlsClient signed_client(port(), &client);
  ASSERT_TRUE(signed_client.handshake_ok());
  ASSERT_TRUE(signed_client.Write(Request("/x", "")));
  EXPECT_NE(signed_client.ReadUpTo(1).find("200 OK"), std::string::npos);
  EXPECT_EQ(handled_.load(), 1);
}

TEST_F(TlsServerTest, LocalPlainListenerServesLoopbackBesideTls) {
  HttpServerOptions o;
  o.local_plain_listener = true;
  Start("", nullptr, o);
  ASSERT_NE(server_http_->local_port(), port());
  int fd = ConnectTo(server_http_->local_port());
  std::string req = Request("/plain", "p");
  ASSERT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL), ssize_t(req.size()));
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  close(fd);
  TlsClient client(port(), nullptr);
  ASSERT_TRUE(client.handshake_ok());
}

TEST(OpenSslTlsServerTest, UnreadableOrMismatchedPemIsInvalidArgument) {
  char tmpl[] = "/tmp/http-tls-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  Identity a, b;
  MakeIdentity(dir, "a", nullptr, false, &a);
  MakeIdentity(dir, "b", nullptr, false, &b);
  auto create = [&](const std::string& cert, const std::string& key, const std::string& ca) {
    return MakeOpenSslTlsServer(TlsConfig{cert, key, ca}).status();
  };
  EXPECT_EQ(create(dir + "/none.pem", a.key_path, "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(create(a.cert_path, b.key_path, "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(create(a.cert_path, a.key_path, dir + "/none.pem").code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(create(a.cert_path, a.key_path, "").ok());
  std::string cmd = "rm -rf '" + dir + "'";
  ASSERT_EQ(system(cmd.c_str()), 0);
}

}  // namespace
}  // namespace modelfn

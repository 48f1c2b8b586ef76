// TlsFront against real peers in this process: OpenSSL clients in front, a loopback TCP server
// behind, certificates made here for each test.
#include "platform/tls_front.h"

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
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

int ListenLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
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

// The gateway's stand-in: a loopback server running `serve` on each connection (own thread).
class Backend {
 public:
  explicit Backend(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
    listen_fd_ = ListenLoopback(&port_);
    acceptor_ = std::thread([this] {
      while (true) {
        int c = accept(listen_fd_, nullptr, nullptr);
        if (c < 0) return;
        ++accepted_;
        std::lock_guard<std::mutex> lock(mu_);
        conns_.push_back(c);
        workers_.emplace_back([this, c] {
          serve_(c);
          shutdown(c, SHUT_RDWR);  // closed by the destructor, so no fd number is reused early
        });
      }
    });
  }
  ~Backend() {
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    close(listen_fd_);
    std::lock_guard<std::mutex> lock(mu_);
    for (int c : conns_) shutdown(c, SHUT_RDWR);  // ends the workers' reads
    for (auto& t : workers_) t.join();
    for (int c : conns_) close(c);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }

  // Echoes what it reads until the peer closes.
  static void Echo(int fd) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      if (write(fd, buf, static_cast<size_t>(n)) != n) return;
    }
  }

 private:
  std::function<void(int)> serve_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
};

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

class TlsFrontTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // as the gateway does: a peer that closes is an error, not death
    char tmpl[] = "/tmp/tls-front-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    MakeIdentity(dir_, "server", nullptr, false, &server_);
  }
  void TearDown() override {
    Stop();
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) ADD_FAILURE() << "could not remove " << dir_;
  }

  void Start(int backend_port, const std::string& client_ca = "") {
    TlsConfig config;
    config.cert = server_.cert_path;
    config.key = server_.key_path;
    config.client_ca = client_ca;
    auto front = TlsFront::Create(config, "127.0.0.1", 0, backend_port);
    ASSERT_TRUE(front.ok()) << front.status().ToString();
    front_ = std::move(front).value();
    run_ = std::thread([this] { front_->Run(); });
  }
  void Stop() {
    if (!front_) return;
    front_->Shutdown();
    run_.join();
    front_.reset();
  }

  std::string dir_;
  Identity server_;
  std::unique_ptr<TlsFront> front_;
  std::thread run_;
};

TEST_F(TlsFrontTest, HandshakeThenBytesRelayBothWays) {
  Backend backend(Backend::Echo);
  Start(backend.port());
  TlsClient client(front_->port(), nullptr);
  ASSERT_TRUE(client.handshake_ok());
  EXPECT_EQ(client.RoundTrip("GET / HTTP/1.1\r\n\r\n"), "GET / HTTP/1.1\r\n\r\n");
  std::string big(200'000, 'x');  // several TLS records and relay reads
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(client.RoundTrip(big), big);
  EXPECT_EQ(backend.accepted(), 1);
}

TEST_F(TlsFrontTest, AnswerSentBeforeTheBackendClosesReachesTheClient) {
  // As the gateway does when it refuses a request before reading its body.
  Backend backend([](int fd) {
    char buf[64];
    if (read(fd, buf, sizeof buf) <= 0) return;
    const char answer[] = "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n\r\n";
    ssize_t ignored = write(fd, answer, sizeof answer - 1);
    (void)ignored;
  });
  Start(backend.port());
  TlsClient client(front_->port(), nullptr);
  ASSERT_TRUE(client.handshake_ok());
  std::string answer = client.RoundTrip("POST / HTTP/1.1\r\n");
  answer += client.ReadUpTo(1000);
  EXPECT_EQ(answer, "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n\r\n");
}

TEST_F(TlsFrontTest, ClientStillSendingAfterTheBackendClosedIsDrainedNotReset) {
  // The gateway refused a request by its head and closed; the client, unaware, keeps sending the
  // body it announced. Its writes must succeed and the connection end in close_notify: a reset
  // there can destroy the answer before the client reads it.
  const std::string answer = "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n";
  Backend backend([&](int fd) {
    char buf[64];
    if (read(fd, buf, sizeof buf) <= 0) return;
    ssize_t ignored = write(fd, answer.data(), answer.size());
    (void)ignored;
  });
  Start(backend.port());
  TlsClient client(front_->port(), nullptr);
  ASSERT_TRUE(client.handshake_ok());
  ASSERT_TRUE(client.Write("POST / HTTP/1.1\r\nContent-Length: 4000000\r\n\r\n"));
  ASSERT_EQ(client.ReadUpTo(answer.size()), answer);  // the backend has answered and closed
  std::string body(200'000, '1');
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(client.Write(body)) << "write " << i;
  EXPECT_TRUE(client.PeerAcknowledgedEveryWrite());
  EXPECT_TRUE(client.EndsWithCloseNotify());
}

TEST_F(TlsFrontTest, PlainTextClientHelloNeverReachesTheBackend) {
  Backend backend(Backend::Echo);
  Start(backend.port());
  int fd = ConnectTo(front_->port());
  const char plain[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, plain, sizeof plain - 1, MSG_NOSIGNAL), ssize_t(sizeof plain - 1));
  EXPECT_TRUE(ClosedByPeer(fd));
  close(fd);
  // Garbage shaped like a TLS record.
  fd = ConnectTo(front_->port());
  const char junk[] = "\x16\x03\x01\x00\x05hello";
  ASSERT_EQ(send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL), ssize_t(sizeof junk - 1));
  EXPECT_TRUE(ClosedByPeer(fd));
  close(fd);
  // Both were refused before a backend connection: the next good client is the first there.
  TlsClient client(front_->port(), nullptr);
  ASSERT_TRUE(client.handshake_ok());
  EXPECT_EQ(client.RoundTrip("ok"), "ok");
  EXPECT_EQ(backend.accepted(), 1);
}

TEST_F(TlsFrontTest, StalledHandshakeDoesNotHoldUpOthersOrShutdown) {
  Backend backend(Backend::Echo);
  Start(backend.port());
  int stalled = ConnectTo(front_->port());
  const char partial[] = "\x16\x03\x01";  // the start of a record header, then nothing
  ASSERT_EQ(send(stalled, partial, 3, MSG_NOSIGNAL), 3);
  for (int i = 0; i < 3; ++i) {
    TlsClient client(front_->port(), nullptr);
    ASSERT_TRUE(client.handshake_ok());
    EXPECT_EQ(client.RoundTrip("next"), "next");
  }
  EXPECT_EQ(backend.accepted(), 3);
  Stop();  // returns with the stalled client still connected
  EXPECT_TRUE(ClosedByPeer(stalled));
  close(stalled);
}

TEST_F(TlsFrontTest, MutualTlsLetsOnlyClientsTheCaSigned) {
  Identity ca, client, stranger_ca, stranger;
  MakeIdentity(dir_, "ca", nullptr, true, &ca);
  MakeIdentity(dir_, "client", &ca, false, &client);
  MakeIdentity(dir_, "other-ca", nullptr, true, &stranger_ca);
  MakeIdentity(dir_, "stranger", &stranger_ca, false, &stranger);
  Backend backend(Backend::Echo);
  Start(backend.port(), ca.cert_path);
  {
    // TLS 1.3 finishes the client's side before the server checks it: the refusal shows as the
    // connection ending without an answer.
    TlsClient anonymous(front_->port(), nullptr);
    EXPECT_EQ(anonymous.RoundTrip("hello"), "");
  }
  {
    TlsClient other(front_->port(), &stranger);
    EXPECT_EQ(other.RoundTrip("hello"), "");
  }
  TlsClient signed_client(front_->port(), &client);
  ASSERT_TRUE(signed_client.handshake_ok());
  EXPECT_EQ(signed_client.RoundTrip("hello"), "hello");
  EXPECT_EQ(backend.accepted(), 1);
}

TEST(TlsFrontCreateTest, UnreadableOrMismatchedPemIsInvalidArgument) {
  char tmpl[] = "/tmp/tls-front-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  Identity a, b;
  MakeIdentity(dir, "a", nullptr, false, &a);
  MakeIdentity(dir, "b", nullptr, false, &b);
  auto create = [&](const std::string& cert, const std::string& key, const std::string& ca) {
    return TlsFront::Create(TlsConfig{cert, key, ca}, "127.0.0.1", 0, 1).status();
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

#include "http/openssl_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace modelfn {
namespace {

std::string SslError() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return e ? buf : "unknown TLS error";
}

// What a failed SSL_* call on a non-blocking socket means for the loop.
IoResult SslResult(SSL* ssl, int rc) {
  int e = SSL_get_error(ssl, rc);
  int saved = errno;
  ERR_clear_error();  // leave no error behind for the next connection on this thread
  switch (e) {
    case SSL_ERROR_WANT_READ:
      return IoResult::kWouldBlock;
    case SSL_ERROR_WANT_WRITE:
      return IoResult::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return IoResult::kEof;
    case SSL_ERROR_SYSCALL:
      if (saved == EAGAIN || saved == EWOULDBLOCK || saved == EINTR) return IoResult::kWouldBlock;
      return IoResult::kError;
    default:
      return IoResult::kError;
  }
}

class OpenSslSession : public TlsSession {
 public:
  explicit OpenSslSession(SSL* ssl) : ssl_(ssl) {}
  ~OpenSslSession() override { SSL_free(ssl_); }

  IoResult Handshake() override {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) return IoResult::kOk;
    IoResult r = SslResult(ssl_, rc);
    return r == IoResult::kEof ? IoResult::kError : r;
  }

  IoResult Read(char* buf, size_t n, size_t* got) override {
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(n, INT_MAX)));
    if (r > 0) {
      *got = static_cast<size_t>(r);
      return IoResult::kOk;
    }
    return SslResult(ssl_, r);
  }

  IoResult Write(const char* buf, size_t n, size_t* put) override {
    ERR_clear_error();
    errno = 0;
    int w = SSL_write(ssl_, buf, static_cast<int>(std::min<size_t>(n, INT_MAX)));
    if (w > 0) {
      *put = static_cast<size_t>(w);
      return IoResult::kOk;
    }
    IoResult r = SslResult(ssl_, w);
    // Either way the write waits: for room in the socket, or (rarely) for the peer's next record.
    return r == IoResult::kWantWrite ? IoResult::kWouldBlock : r;
  }

  void SendCloseNotify() override {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify and sends what the socket takes now
    ERR_clear_error();
  }

  bool HasBuffered() const override { return SSL_pending(ssl_) > 0; }

 private:
  SSL* ssl_;
};

class OpenSslServer : public TlsServer {
 public:
  explicit OpenSslServer(SSL_CTX* ctx) : ctx_(ctx) {}
  ~OpenSslServer() override { SSL_CTX_free(ctx_); }

  std::unique_ptr<TlsSession> NewSession(int fd) override {
    SSL* ssl = SSL_new(ctx_);
    if (ssl == nullptr) {
      ERR_clear_error();
      return nullptr;
    }
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    return std::make_unique<OpenSslSession>(ssl);
  }

 private:
  SSL_CTX* ctx_;
};

}  // namespace

StatusOr<std::shared_ptr<TlsServer>> MakeOpenSslTlsServer(const TlsConfig& config) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return InternalError("cannot create a TLS context: " + SslError());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Non-blocking writes from a buffer that may grow (and move) between retries; idle
  // connections give their record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  auto fail = [&](const std::string& what) {
    std::string e = what + ": " + SslError();
    SSL_CTX_free(ctx);
    return InvalidArgumentError(e);
  };
  if (SSL_CTX_use_certificate_chain_file(ctx, config.cert.c_str()) != 1) {
    return fail("cannot load the certificate " + config.cert);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, config.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("cannot load the key " + config.key);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) return fail("the key does not match the certificate");
  static const unsigned char kSessionContext[] = "modelfn";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  if (!config.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, config.client_ca.c_str(), nullptr) != 1) {
      return fail("cannot load the client CA " + config.client_ca);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return std::shared_ptr<TlsServer>(std::make_shared<OpenSslServer>(ctx));
}

}  // namespace modelfn

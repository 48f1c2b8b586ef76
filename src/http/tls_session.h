// The seam between HttpServer's connections and a TLS implementation. The server knows only these
// interfaces; the OpenSSL implementation lives in its own library (openssl_tls.h, target
// modelfn::http_tls) so that binaries serving plain HTTP only (modelfn-fn) do not link libssl.
#pragma once

#include <cstddef>
#include <memory>

namespace modelfn {

// What one read, write or handshake step on a non-blocking socket did.
enum class IoResult {
  kOk,          // some bytes moved (for Handshake: the handshake is done)
  kWouldBlock,  // nothing now; wait for readiness (readable for reads and the handshake,
                // writable for writes)
  kWantWrite,   // TLS: nothing now; wait until the socket is writable (handshake, reads)
  kEof,         // the peer closed its side (reads only)
  kError,       // the connection is broken, or the peer failed the handshake; close it
};

// One connection's TLS state over its socket. Used by the connection's loop thread only.
class TlsSession {
 public:
  virtual ~TlsSession() = default;
  // Takes the server side of the handshake as far as the socket allows (see IoResult). A peer
  // that is not speaking TLS, sends a malformed hello, or (mutual TLS) has no certificate the CA
  // signed gets kError.
  virtual IoResult Handshake() = 0;
  // Decrypted bytes, at most n; *got holds the count on kOk. kEof on close_notify or a bare EOF.
  // Must leave nothing buffered inside when n >= 16 KiB, so that the socket's level-triggered
  // readiness stays the whole truth.
  virtual IoResult Read(char* buf, size_t n, size_t* got) = 0;
  // Encrypts and sends at most n bytes; *put holds the count on kOk. kWouldBlock: retry with
  // the same bytes (the buffer may have moved or grown since).
  virtual IoResult Write(const char* buf, size_t n, size_t* put) = 0;
  // Sends close_notify, best effort (does not wait for the peer's).
  virtual void SendCloseNotify() = 0;
  // Decrypted bytes wait inside, unread.
  virtual bool HasBuffered() const = 0;
};

// Makes sessions; shared by every loop of a server. Thread-safe.
class TlsServer {
 public:
  virtual ~TlsServer() = default;
  // A session over the connected, non-blocking socket fd (which the caller keeps owning);
  // null when it cannot be made (the connection is then closed unserved).
  virtual std::unique_ptr<TlsSession> NewSession(int fd) = 0;
};

}  // namespace modelfn

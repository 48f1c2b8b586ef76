// One client connection of an HttpServer event loop: its socket, its buffers, the parser of the
// request in progress and the state of its write / linger / close machine. Owned by one loop and
// used only on that loop's thread.
//
// The states, in the order a connection moves through them:
//   handshake  (TLS only) the non-blocking TLS handshake; no byte reaches the parser until it is
//              done, and it must be done by handshake_deadline_ms
//   reading    parsing requests from `in`, answering into `out`
//   awaiting   an asynchronous handler holds the current request; nothing more is parsed until
//              its answer arrives (pipelined bytes stay in `in`, so answers keep their order);
//              `paused` when reading stopped because `in` is full, `peer_closed` on the client's
//              FIN
//   closing    close_after_write: the last answer is in `out`; once it is written our side is
//              shut down and the connection lingers
//   lingering  reads and drops what the client still sends (up to linger_budget bytes) until it
//              closes or linger_deadline_ms passes, so that unread bytes do not turn the close
//              into a reset that destroys the answer before the client reads it (over TLS,
//              close_notify goes out first and what follows is dropped undecrypted)
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "http/request_parser.h"
#include "http/tls_session.h"

namespace modelfn {

struct HttpListener;  // http_server.h

class Connection {
 public:
  // Takes ownership of the connected, non-blocking socket `fd`. With `tls` the connection makes
  // a session of it, starts in the handshake state and every byte goes through TLS.
  Connection(int fd, ParserLimits limits, TlsServer* tls = nullptr);
  ~Connection();  // closes the socket (without close_notify: see ShutdownWrite)
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }

  bool tls() const { return tls_ != nullptr || handshaking_; }
  // TLS: the handshake is not finished yet (always false without TLS).
  bool handshaking() const { return handshaking_; }
  // Takes the TLS handshake as far as the socket allows. kOk: done (reads and writes may begin);
  // kWouldBlock / kWantWrite: call again when readable / writable; kError or kEof: the client
  // failed it (a plaintext or malformed hello, no certificate or one the CA did not sign, a
  // closed connection): close without an answer.
  IoResult Handshake();

  // Reads at most n bytes of (decrypted) data into buf; *got holds the count on kOk. Retries
  // EINTR. Over TLS one call returns at most one record (16 KiB), and with n >= 16 KiB nothing
  // stays buffered inside TLS, so level-triggered readiness of the socket stays accurate.
  IoResult Read(char* buf, size_t n, size_t* got);
  // Reads and returns raw bytes from the socket, bypassing TLS (lingering drops them unread).
  IoResult ReadRaw(char* buf, size_t n, size_t* got);
  // Writes at most n bytes of buf; *put holds the count on kOk. Plain: never raises SIGPIPE (a
  // TLS session may write with write(2): the process ignores SIGPIPE, as `modelfn up` does). Over
  // TLS a retry after kWouldBlock must pass the same bytes (the buffer may have moved or grown).
  IoResult Write(const char* buf, size_t n, size_t* put);
  // Ends our side: TLS close_notify (best effort), then FIN; raw reads stay possible.
  void ShutdownWrite();
  // Whether bytes the loop has not read yet wait in the socket (a request that arrived while the
  // loop was busy). Does not consume them.
  bool HasUnreadBytes() const;

  // Everything written is out: `out` is empty or fully sent.
  bool WriteDone() const { return out_off >= out.size(); }
  // Ready for the next request on a kept-alive connection: parser and request cleared.
  void ResetRequest();

  // The state machine (see the top of this file); the loop reads and writes these directly.
  uint64_t await_token = 0;  // names the held request; unique per loop, so a stale answer misses
  bool awaiting = false;
  bool awaiting_keep_alive = false;
  bool awaiting_head = false;
  bool peer_closed = false;  // the client sent FIN while we were awaiting
  // The held request's HttpResponder::ClientGone: set on FIN or on close while awaiting.
  std::shared_ptr<std::atomic<bool>> gone;
  bool paused = false;  // not reading: awaiting, with a full buffer of pipelined bytes
  std::string in;
  std::string out;
  size_t out_off = 0;
  HttpRequest req;
  RequestParser parser;
  int64_t last_active_ms = 0;
  int64_t request_started_ms = 0;  // first byte of the request in progress, 0 when none
  bool close_after_write = false;
  bool want_write = false;  // watched for EPOLLOUT: `out` waits for room in the socket
  bool lingering = false;
  int64_t linger_deadline_ms = 0;
  size_t linger_budget = SIZE_MAX;  // bytes we still read and drop while lingering
  bool head_checked = false;        // the HeadHandler has judged the request in progress
  bool drop_request = false;  // it answered early: the request is read (small body) and dropped
  int64_t handshake_deadline_ms = 0;  // TLS: the handshake must be done by then
  // The listener it came through: its handler, limits and timeouts; set by the loop, which keeps
  // the listener alive while the connection is open.
  const HttpListener* listener = nullptr;

 private:
  int fd_;
  std::unique_ptr<TlsSession> tls_;
  bool handshaking_ = false;
};

}  // namespace modelfn

// One client connection of an HttpServer event loop: its socket, its buffers, the parser of the
// request in progress and the state of its write / linger / close machine. Owned by one loop and
// used only on that loop's thread.
//
// The states, in the order a connection moves through them:
//   reading    parsing requests from `in`, answering into `out`
//   awaiting   an asynchronous handler holds the current request; nothing more is parsed until
//              its answer arrives (pipelined bytes stay in `in`, so answers keep their order);
//              `paused` when reading stopped because `in` is full, `peer_closed` on the client's
//              FIN
//   closing    close_after_write: the last answer is in `out`; once it is written our side is
//              shut down and the connection lingers
//   lingering  reads and drops what the client still sends (up to linger_budget bytes) until it
//              closes or linger_deadline_ms passes, so that unread bytes do not turn the close
//              into a reset that destroys the answer before the client reads it
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "http/request_parser.h"

namespace modelfn {

// What one read or write on the socket did.
enum class IoResult {
  kOk,          // some bytes moved
  kWouldBlock,  // nothing now; wait for readiness
  kEof,         // the peer closed its side (reads only)
  kError,       // the connection is broken; close it
};

class Connection {
 public:
  // Takes ownership of the connected, non-blocking socket `fd`.
  Connection(int fd, ParserLimits limits);
  ~Connection();  // closes the socket
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }

  // Reads at most n bytes into buf; *got holds the count on kOk. Retries EINTR.
  IoResult Read(char* buf, size_t n, size_t* got);
  // Writes at most n bytes of buf; *put holds the count on kOk. Never raises SIGPIPE.
  IoResult Write(const char* buf, size_t n, size_t* put);
  // Ends our side (FIN); reads stay possible.
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
  bool paused = false;       // not reading: awaiting, with a full buffer of pipelined bytes
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

 private:
  int fd_;
};

}  // namespace modelfn

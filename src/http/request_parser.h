// Incremental HTTP/1.1 request parser (RFC 9112): request line, header fields, Content-Length or
// chunked bodies, with size limits. Pure: no I/O, so every edge is unit-tested.
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/problem.h"

namespace modelfn {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path plus optional "?query"
  std::string path;    // target up to '?'
  std::string query;   // after '?', without it
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, values trimmed
  std::string body;
  bool keep_alive = true;
  // Whatever a HeadHandler (http_server.h) hands on to the request handler, e.g. who was
  // authenticated; empty otherwise.
  std::any context;

  // First value of a header (name in lowercase), or nullptr.
  const std::string* Header(std::string_view lowercase_name) const;
};

struct ParserLimits {
  // Request line, header fields, the blank lines allowed before a request, and (chunked) every
  // chunk-size line and trailer field all count toward this.
  size_t max_header_bytes = 64 * 1024;
  size_t max_body_bytes = 6 * 1024 * 1024;
  // HTTP/1.1 requests without a Host field are refused (RFC 9112 section 3.2). A repeated Host is
  // refused whatever this says.
  bool require_host = false;
};

class RequestParser {
 public:
  enum class Result { kNeedMore, kComplete, kError };

  explicit RequestParser(ParserLimits limits) : limits_(limits) {}

  // Parses one request from the start of `buf`, which holds everything received since the last
  // complete request (the caller appends to it and passes it again after kNeedMore; the parser
  // keeps its progress). kComplete: *req is filled and *consumed bytes of buf belong to it; call
  // Reset() before the next request. kError: *problem says why (400, 413, 431, 501); the caller
  // replies and closes the connection.
  Result Parse(std::string_view buf, HttpRequest* req, size_t* consumed, Problem* problem);

  // True once the request head (line and fields) is parsed: *req of the last Parse() holds it and
  // the body may still be arriving. Fields that must appear at most once (Host, Authorization,
  // X-Api-Key, Content-Length with different values) were refused as 400 if repeated.
  bool HeaderDone() const { return header_done_; }
  bool Chunked() const { return chunked_; }
  // Body bytes announced by Content-Length that are not in `buf` yet (0 when chunked).
  uint64_t BodyBytesMissing(std::string_view buf) const {
    if (!header_done_ || chunked_) return 0;
    uint64_t have = buf.size() - body_start_;
    return have >= content_length_ ? 0 : content_length_ - have;
  }
  bool ExpectsContinue() const { return expect_continue_; }
  // Bytes examined while looking for the end of the head since Reset(). Each byte is examined at
  // most once (plus 3 bytes per call to find a terminator split over reads), however the request
  // is split into reads.
  size_t head_bytes_scanned() const { return head_scanned_total_; }

  // True once the header is parsed and the client sent "Expect: 100-continue" and the body is
  // still missing: the caller should send "100 Continue" once.
  bool WantsContinue() const { return header_done_ && expect_continue_ && !continue_sent_; }
  void MarkContinueSent() { continue_sent_ = true; }
  // True while part of a request has been received.
  bool InProgress(std::string_view buf) const { return header_done_ || !buf.empty(); }
  void Reset();

 private:
  Result ParseHeader(std::string_view head, HttpRequest* req, Problem* problem);
  Result ParseChunked(std::string_view buf, HttpRequest* req, size_t* consumed, Problem* problem);

  ParserLimits limits_;
  size_t scanned_ = 0;  // bytes of buf already searched for the header end
  size_t lead_ = 0;     // empty lines (CRLF) skipped before the request line
  size_t head_scanned_total_ = 0;
  size_t chunk_overhead_ = 0;  // chunk-size and trailer bytes, counted toward the header limit
  size_t overhead_counted_to_ = 0;
  bool header_done_ = false;
  size_t body_start_ = 0;
  bool chunked_ = false;
  uint64_t content_length_ = 0;
  bool expect_continue_ = false;
  bool continue_sent_ = false;
  size_t chunk_pos_ = 0;  // next chunk-size line (chunked)
  bool in_trailer_ = false;
};

}  // namespace modelfn

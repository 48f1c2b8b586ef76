#include "http/request_parser.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace modelfn {
namespace {

// RFC 9110 tchar, as a table: the header loop calls this for every octet of every field name.
constexpr auto kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool IsTokenChar(char c) { return kTokenChars[static_cast<unsigned char>(c)]; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ContainsToken(std::string_view list, std::string_view token) {
  // Comma-separated, case-insensitive.
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = Trim(list.substr(0, comma));
    if (Lower(item) == token) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

void RequestParser::Reset() {
  scanned_ = 0;
  lead_ = 0;
  head_scanned_total_ = 0;
  chunk_overhead_ = 0;
  overhead_counted_to_ = 0;
  header_done_ = false;
  body_start_ = 0;
  chunked_ = false;
  content_length_ = 0;
  expect_continue_ = false;
  continue_sent_ = false;
  chunk_pos_ = 0;
  in_trailer_ = false;
}

RequestParser::Result RequestParser::ParseHeader(std::string_view head, HttpRequest* req,
                                                 Problem* problem) {
  auto bad = [&](std::string detail) {
    *problem = MakeProblem("invalid_request", std::move(detail));
    return Result::kError;
  };
  *req = HttpRequest();
  req->headers.reserve(16);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
      sp2 == sp1 + 1) {
    return bad("malformed request line");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  for (char c : method) {
    if (!IsTokenChar(c)) return bad("malformed method");
  }
  if (version == "HTTP/1.1") {
    req->minor_version = 1;
  } else if (version == "HTTP/1.0") {
    req->minor_version = 0;
  } else {
    *problem = MakeProblem("not_implemented", "HTTP version not supported");
    problem->status = 505;
    return Result::kError;
  }
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return bad("malformed request target");
  }
  // RFC 9112 section 3.2: origin-form, absolute-form, or "*" for OPTIONS. Authority-form belongs
  // to CONNECT, which is not served; anything else would reach the router as a path that does not
  // start with '/'.
  std::string scheme = Lower(target.substr(0, 8));
  bool absolute = scheme.rfind("http://", 0) == 0 || scheme.rfind("https://", 0) == 0;
  if (!(target.size() > 0 && target[0] == '/') && !absolute &&
      !(target == "*" && method == "OPTIONS")) {
    return bad("malformed request target");
  }
  req->method = std::string(method);
  req->target = std::string(target);
  if (absolute) {
    size_t slash = target.find('/', target.find("//") + 2);  // absolute-form: keep the path
    target = slash == std::string_view::npos ? "/" : target.substr(slash);
  }
  size_t q = target.find('?');
  req->path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) req->query = std::string(target.substr(q + 1));

  bool have_cl = false;
  bool have_te = false;
  int hosts = 0;
  bool have_authorization = false;
  bool have_api_key = false;
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
    if (h.empty()) continue;
    if (h[0] == ' ' || h[0] == '\t') return bad("obsolete header line folding");
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return bad("malformed header field");
    for (size_t i = 0; i < colon; ++i) {
      if (!IsTokenChar(h[i])) return bad("malformed header field name");
    }
    std::string name = Lower(h.substr(0, colon));
    std::string_view value = Trim(h.substr(colon + 1));
    if (value.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos) {
      return bad("invalid character in header value");
    }
    if (name == "content-length") {
      uint64_t n = 0;
      auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size()) {
        return bad("invalid Content-Length");
      }
      if (have_cl && n != content_length_) return bad("conflicting Content-Length headers");
      have_cl = true;
      content_length_ = n;
    } else if (name == "transfer-encoding") {
      if (Lower(value) != "chunked") {
        *problem = MakeProblem("not_implemented", "only the chunked transfer coding is supported");
        return Result::kError;
      }
      have_te = true;
    } else if (name == "expect") {
      if (Lower(value) == "100-continue") expect_continue_ = true;
    } else if (name == "host") {
      if (++hosts > 1) return bad("repeated Host header");
    } else if (name == "authorization") {
      // Two credentials would let the gateway and a proxy in front of it each check a different
      // one; there is no legitimate use.
      if (have_authorization) return bad("repeated Authorization header");
      have_authorization = true;
    } else if (name == "x-api-key") {
      if (have_api_key) return bad("repeated X-Api-Key header");
      have_api_key = true;
    } else if (name == "content-type" || name == "inference-header-content-length") {
      // Single-valued fields that decide how the body is read: two would let layers disagree.
      if (req->Header(name) != nullptr) return bad("repeated " + name + " header");
    }
    req->headers.emplace_back(std::move(name), std::string(value));
  }
  if (have_cl && have_te) return bad("both Content-Length and Transfer-Encoding");
  if (hosts == 0 && req->minor_version == 1 && limits_.require_host) {
    return bad("an HTTP/1.1 request needs a Host header");
  }
  chunked_ = have_te;
  if (const std::string* conn = req->Header("connection")) {
    if (ContainsToken(*conn, "close")) {
      req->keep_alive = false;
    } else {
      req->keep_alive = req->minor_version == 1 || ContainsToken(*conn, "keep-alive");
    }
  } else {
    req->keep_alive = req->minor_version == 1;
  }
  if (!chunked_ && content_length_ > limits_.max_body_bytes) {
    *problem =
        MakeProblem("payload_too_large", "request body of " + std::to_string(content_length_) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(limits_.max_body_bytes));
    return Result::kError;
  }
  if (!have_cl && !have_te) expect_continue_ = false;  // no body to wait for
  return Result::kNeedMore;
}

RequestParser::Result RequestParser::Parse(std::string_view buf, HttpRequest* req, size_t* consumed,
                                           Problem* problem) {
  if (!header_done_) {
    // Empty lines before a request line are ignored (RFC 9112 section 2.2) but count toward the
    // header limit; progress is kept so that no byte is examined twice across calls.
    size_t lead_before = lead_;
    while (lead_ + 1 < buf.size() && buf[lead_] == '\r' && buf[lead_ + 1] == '\n') lead_ += 2;
    head_scanned_total_ += lead_ - lead_before;
    size_t from = std::min(buf.size(), scanned_ > lead_ + 3 ? scanned_ - 3 : lead_);
    size_t end = buf.find("\r\n\r\n", from);
    head_scanned_total_ += (end == std::string_view::npos ? buf.size() : end + 4) - from;
    auto too_large = [&] {
      *problem =
          MakeProblem("header_too_large", "request header exceeds " +
                                              std::to_string(limits_.max_header_bytes) + " bytes");
      return Result::kError;
    };
    if (end == std::string_view::npos) {
      scanned_ = buf.size();
      // Up to 3 bytes of a terminator may already be here: judge the header without them, so the
      // verdict does not depend on how the bytes were split into reads.
      if (buf.size() > limits_.max_header_bytes + 3) return too_large();
      return Result::kNeedMore;
    }
    if (end > limits_.max_header_bytes) return too_large();
    size_t start = lead_;
    Result r = ParseHeader(buf.substr(start, end - start), req, problem);
    if (r == Result::kError) return r;
    header_done_ = true;
    body_start_ = end + 4;
    chunk_pos_ = body_start_;
  }
  if (chunked_) return ParseChunked(buf, req, consumed, problem);
  if (buf.size() - body_start_ < content_length_) return Result::kNeedMore;
  req->body.assign(buf.data() + body_start_, static_cast<size_t>(content_length_));
  *consumed = body_start_ + static_cast<size_t>(content_length_);
  return Result::kComplete;
}

RequestParser::Result RequestParser::ParseChunked(std::string_view buf, HttpRequest* req,
                                                  size_t* consumed, Problem* problem) {
  while (true) {
    constexpr size_t kMaxLine = 4096;  // chunk-size and trailer lines
    size_t eol = buf.find("\r\n", chunk_pos_);
    if ((eol == std::string_view::npos && buf.size() - chunk_pos_ > kMaxLine + 1) ||
        (eol != std::string_view::npos && eol - chunk_pos_ > kMaxLine)) {
      *problem = MakeProblem("invalid_request", "chunk-size or trailer line too long");
      return Result::kError;
    }
    if (eol == std::string_view::npos) return Result::kNeedMore;
    if (eol + 2 > overhead_counted_to_) {  // a size line is seen again while its data arrives
      chunk_overhead_ += eol + 2 - chunk_pos_;
      overhead_counted_to_ = eol + 2;
    }
    if (chunk_overhead_ > limits_.max_header_bytes) {
      // Endless tiny chunks with long extensions, or endless trailer fields, would otherwise
      // stream without limit.
      *problem =
          MakeProblem("header_too_large", "chunk-size and trailer lines exceed " +
                                              std::to_string(limits_.max_header_bytes) + " bytes");
      return Result::kError;
    }
    if (in_trailer_) {
      if (eol == chunk_pos_) {  // empty line ends the trailer section
        *consumed = eol + 2;
        return Result::kComplete;
      }
      chunk_pos_ = eol + 2;  // trailer fields are ignored
      continue;
    }
    std::string_view size_line = buf.substr(chunk_pos_, eol - chunk_pos_);
    size_t semi = size_line.find(';');  // chunk extensions are ignored
    std::string_view hex = Trim(size_line.substr(0, semi));
    uint64_t size = 0;
    auto r = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
    if (hex.empty() || r.ec != std::errc() || r.ptr != hex.data() + hex.size()) {
      *problem = MakeProblem("invalid_request", "malformed chunk size");
      return Result::kError;
    }
    if (size == 0) {
      in_trailer_ = true;
      chunk_pos_ = eol + 2;
      continue;
    }
    if (size > limits_.max_body_bytes || req->body.size() + size > limits_.max_body_bytes) {
      *problem =
          MakeProblem("payload_too_large", "request body exceeds the limit of " +
                                               std::to_string(limits_.max_body_bytes) + " bytes");
      return Result::kError;
    }
    size_t data = eol + 2;
    if (buf.size() < data + size + 2) return Result::kNeedMore;
    if (buf.substr(data + size, 2) != "\r\n") {
      *problem = MakeProblem("invalid_request", "chunk data not followed by CRLF");
      return Result::kError;
    }
    req->body.append(buf.data() + data, static_cast<size_t>(size));
    chunk_pos_ = data + size + 2;
  }
}

}  // namespace modelfn

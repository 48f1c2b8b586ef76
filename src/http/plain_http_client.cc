#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "http/http_client.h"

namespace modelfn {
namespace {

// A plain-HTTP/1.1 client for loopback control APIs (the Lambda Runtime API): one keep-alive
// connection, in-memory bodies, Content-Length or chunked responses. No TLS, no files: what a
// runtime needs before its first invocation, without loading libcurl.
class PlainHttpClient final : public HttpClient {
 public:
  ~PlainHttpClient() override { Close(); }

  StatusOr<HttpReply> Send(const HttpCall& call) override {
    std::lock_guard<std::mutex> lock(mu_);
    HttpFailure ignored;
    HttpFailure& failure = call.failure != nullptr ? *call.failure : ignored;
    failure = HttpFailure::kNone;
    if (!call.body_file.empty() || !call.response_file.empty()) {
      return UnimplementedError("the plain HTTP client sends and receives in memory only");
    }
    if (call.url.rfind("http://", 0) != 0)
      return UnimplementedError("the plain HTTP client speaks http:// only");
    std::string rest = call.url.substr(7);
    size_t slash = rest.find('/');
    std::string hostport = rest.substr(0, slash);
    std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
    std::string req = call.method + " " + target + " HTTP/1.1\r\nHost: " + hostport + "\r\n";
    for (const auto& [k, v] : call.headers) req += k + ": " + v + "\r\n";
    if (call.method != "GET" && call.method != "HEAD")
      req += "Content-Length: " + std::to_string(call.body.size()) + "\r\n";
    req += "\r\n";
    req.append(call.body);
    // A kept-alive connection may have been closed by the server: one retry on a fresh one.
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = fd_ >= 0 && hostport == peer_;
      if (!reused) {
        Close();
        Status connected = Connect(hostport, call.connect_timeout_ms);
        if (!connected.ok()) {
          failure = HttpFailure::kConnect;
          return connected;
        }
      }
      timeval tv{call.stall_timeout_s, 0};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      auto reply = Exchange(req, call.method == "HEAD", call.max_response_bytes);
      if (reply.ok()) return reply;
      failure = HttpFailure::kExchange;
      Close();
      if (!reused || reply.status().code() != StatusCode::kUnavailable) return reply.status();
    }
    return UnavailableError("unreachable");
  }

 private:
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  Status Connect(const std::string& hostport, int timeout_ms) {
    size_t colon = hostport.rfind(':');
    std::string host = hostport.substr(0, colon);
    std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
      return UnavailableError("cannot resolve " + host);
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) {  // this process is out of descriptors: not the peer's fault
      int e = errno;
      freeaddrinfo(res);
      return Status(StatusCode::kResourceExhausted, std::string("socket: ") + strerror(e));
    }
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0) {
      int e = errno;
      close(fd);
      return UnavailableError("connect to " + hostport + ": " + strerror(e));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_ = fd;
    peer_ = hostport;
    return Status::Ok();
  }

  // Reads until `buf_` holds `n` bytes. Unavailable on close/error, DeadlineExceeded on timeout.
  Status Fill(size_t n) {
    char tmp[65536];
    // A body of known length (a Lambda event of up to 6 MB) grows `buf_` once instead of by
    // doubling, each step copying what came so far; the reservation is bounded, since `n` comes
    // from the peer's Content-Length.
    constexpr size_t kMaxReserve = 8 << 20;
    if (n > buf_.capacity() && n - buf_.size() > sizeof tmp) {
      buf_.reserve(std::min(n, buf_.size() + kMaxReserve));
    }
    while (buf_.size() < n) {
      ssize_t r = recv(fd_, tmp, sizeof tmp, 0);
      if (r > 0) {
        buf_.append(tmp, static_cast<size_t>(r));
      } else if (r == 0) {
        return UnavailableError("connection closed by " + peer_);
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Status(StatusCode::kDeadlineExceeded, "no data from " + peer_ + " in time");
      } else {
        return UnavailableError("recv from " + peer_ + ": " + strerror(errno));
      }
    }
    return Status::Ok();
  }

  // Reads until `delim` is in `buf_`, at most `limit` bytes (response_too_large past it).
  Status FillUntil(const char* delim, size_t* pos, size_t limit) {
    while ((*pos = buf_.find(delim)) == std::string::npos) {
      if (buf_.size() > limit) return TooLarge();
      RETURN_IF_ERROR(Fill(buf_.size() + 1));
    }
    return Status::Ok();
  }

  Status TooLarge() const {
    return Status(StatusCode::kResourceExhausted, "the response from " + peer_ + " is too large",
                  "response_too_large");
  }

  // A hexadecimal chunk size or a decimal Content-Length: digits only, below 2^60 (so that adding
  // the CRLF cannot wrap), else -1.
  static long long ParseSize(std::string_view s, int base) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    if (s.empty() || s.size() > 15) return -1;
    long long v = 0;
    for (char c : s) {
      int d = c >= '0' && c <= '9'                 ? c - '0'
              : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10
              : base == 16 && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                   : -1;
      if (d < 0) return -1;
      v = v * base + d;
    }
    return v;
  }

  StatusOr<HttpReply> Exchange(const std::string& req, bool head, uint64_t max_bytes) {
    const size_t limit = max_bytes == 0 ? SIZE_MAX / 2 : static_cast<size_t>(max_bytes);
    for (size_t sent = 0; sent < req.size();) {
      ssize_t w = send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        return UnavailableError("send to " + peer_ + ": " + strerror(errno));
      }
      sent += static_cast<size_t>(w);
    }
    HttpReply reply;
    size_t end;
    RETURN_IF_ERROR(FillUntil("\r\n\r\n", &end, std::min<size_t>(limit, 1 << 20)));
    std::string head_text = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (head_text.size() < 12 || head_text.rfind("HTTP/1.", 0) != 0)
      return UnavailableError("bad response from " + peer_);
    reply.status = atoi(head_text.c_str() + 9);
    bool chunked = false, close_after = false;
    long long length = -1;
    size_t pos = head_text.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = head_text.find("\r\n", pos + 2);
      std::string line =
          head_text.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      pos = next;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (name == "content-length") {
        length = ParseSize(value, 10);
        if (length < 0) return UnavailableError("bad Content-Length from " + peer_);
      }
      if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) chunked = true;
      if (name == "connection" && value.find("close") != std::string::npos) close_after = true;
      reply.headers.emplace_back(std::move(name), std::move(value));
    }
    if (head || reply.status == 204 || reply.status == 304) {
      // no body
    } else if (chunked) {
      while (true) {
        size_t eol;
        RETURN_IF_ERROR(FillUntil("\r\n", &eol, 4096));
        std::string_view line(buf_.data(), eol);
        long long size = ParseSize(line.substr(0, line.find(';')), 16);
        if (size < 0) return UnavailableError("bad chunk size from " + peer_);
        size_t n = static_cast<size_t>(size);
        if (reply.body.size() + n > limit) return TooLarge();
        buf_.erase(0, eol + 2);
        RETURN_IF_ERROR(Fill(n + 2));
        reply.body.append(buf_, 0, n);
        buf_.erase(0, n + 2);
        if (n == 0) break;
      }
    } else if (length >= 0) {
      if (static_cast<size_t>(length) > limit) return TooLarge();
      RETURN_IF_ERROR(Fill(static_cast<size_t>(length)));
      if (buf_.size() == static_cast<size_t>(length)) {
        reply.body = std::move(buf_);  // the usual case, nothing after it: no copy
        buf_.clear();
      } else {
        reply.body = buf_.substr(0, static_cast<size_t>(length));
        buf_.erase(0, static_cast<size_t>(length));
      }
    } else {
      Status s;
      while ((s = Fill(buf_.size() + 1)).ok()) {
        if (buf_.size() > limit) return TooLarge();
      }
      if (buf_.size() > limit) return TooLarge();
      reply.body = std::move(buf_);
      buf_.clear();
      close_after = true;
    }
    reply.body_bytes = reply.body.size();
    if (close_after) Close();
    return reply;
  }

  std::mutex mu_;
  int fd_ = -1;
  std::string peer_;
  std::string buf_;
};

}  // namespace

std::unique_ptr<HttpClient> MakePlainHttpClient() { return std::make_unique<PlainHttpClient>(); }

}  // namespace modelfn

#include "http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <mutex>
#include <unordered_map>

#include "common/json.h"
#include "http/accept.h"

namespace modelfn {
namespace {

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

struct Conn {
  int fd = -1;
  uint64_t await_token = 0;  // names the held request; unique per loop, so a stale answer misses
  // An asynchronous handler holds this connection's current request: parse nothing more until its
  // response arrives (pipelined requests stay buffered, so answers keep their order).
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
  bool want_write = false;
  // After the last response: our side is shut down and we read and drop what the client still
  // sends until it closes (or a short deadline), so an unread request body does not turn the close
  // into a reset that destroys the response before the client reads it.
  bool lingering = false;
  int64_t linger_deadline_ms = 0;
  size_t linger_budget = SIZE_MAX;  // bytes we still read and drop while lingering
  bool head_checked = false;        // the HeadHandler has judged the request in progress
  bool drop_request = false;  // it answered early: the request is read (small body) and dropped

  explicit Conn(ParserLimits limits) : parser(limits) {}
};

// "Date: ..." value, cached per second per thread.
const std::string& HttpDate() {
  thread_local time_t cached_sec = 0;
  thread_local std::string cached;
  time_t now = time(nullptr);
  if (now != cached_sec) {
    cached_sec = now;
    tm t;
    gmtime_r(&now, &t);
    char buf[64];
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &t);
    cached = buf;
  }
  return cached;
}

void LogDroppedHeader(std::string_view name) {
  std::string line;
  JsonWriter w(&line);
  w.BeginObject();
  w.Key("level").String("error");
  w.Key("event").String("response_header_dropped");
  w.Key("header").String(name.substr(0, 64));
  w.Key("why").String("invalid name or a control character in the value");
  w.EndObject();
  line.push_back('\n');
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

// Fields the server writes itself (framing, connection management): a handler's copy of one, such
// as an instance's Transfer-Encoding passed through the gateway, would desynchronise the client.
bool IsFramingHeader(std::string_view name) {
  for (std::string_view f :
       {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
        "trailer", "proxy-connection", "content-type", "date", "server"}) {
    if (name.size() == f.size() && strncasecmp(name.data(), f.data(), f.size()) == 0) return true;
  }
  return false;
}

void AppendHeader(std::string_view name, std::string_view value, std::string* out) {
  if (!IsValidHeaderName(name) || !IsValidHeaderValue(value)) {
    LogDroppedHeader(name);
    return;
  }
  out->append("\r\n");
  out->append(name);
  out->append(": ");
  out->append(value);
}

// The only writer of response heads.
void AppendResponse(const HttpResponse& r, bool keep_alive, bool head, std::string* out) {
  out->reserve(out->size() + r.body.size() + 256);
  // A final answer is 2xx-5xx; anything else from a handler is a bug, answered as one.
  int status = r.status >= 200 && r.status <= 599 ? r.status : 500;
  out->append("HTTP/1.1 ");
  out->append(std::to_string(status));
  out->push_back(' ');
  out->append(ReasonPhrase(status));
  out->append("\r\nServer: modelfn\r\nDate: ");
  out->append(HttpDate());
  if (!r.body.empty() || r.status >= 200) {
    AppendHeader("Content-Type",
                 IsValidHeaderValue(r.content_type) ? std::string_view(r.content_type)
                                                    : std::string_view("application/octet-stream"),
                 out);
  }
  out->append("\r\nContent-Length: ");
  out->append(std::to_string(r.body.size()));
  for (const auto& [k, v] : r.headers) {
    if (IsFramingHeader(k)) {
      LogDroppedHeader(k);  // the server alone frames the message and manages the connection
      continue;
    }
    AppendHeader(k, v, out);
  }
  out->append(keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
  if (!head) out->append(r.body);  // HEAD: same headers, no content
}

}  // namespace

struct HttpResponder::Shared {
  struct Mailbox {
    std::vector<std::pair<uint64_t, HttpResponse>> done;
  };
  std::mutex mu;
  bool closed = false;
  std::vector<Mailbox> mailboxes;  // one per loop
  std::vector<int> wake_fds;       // one eventfd per loop

  void Wake(size_t loop) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fds[loop], &one, sizeof one);
    (void)ignored;
  }
};

void HttpResponder::operator()(HttpResponse response) const {
  if (!shared_) return;
  std::lock_guard<std::mutex> lock(shared_->mu);
  if (shared_->closed) return;
  auto loop = static_cast<size_t>(loop_);
  shared_->mailboxes[loop].done.emplace_back(conn_id_, std::move(response));
  shared_->Wake(loop);
}

bool IsValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
    if (!ok) return false;
  }
  return true;
}

bool IsValidHeaderValue(std::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

bool IsSafeRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Status";
  }
}

namespace {

StatusOr<std::pair<int, int>> Listen(const HttpServerOptions& options) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(options.port);
  int rc = getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(), port_str.c_str(),
                       &hints, &res);
  if (rc != 0) return UnavailableError("cannot resolve " + options.host + ": " + gai_strerror(rc));
  int fd = -1;
  std::string err;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) break;
    err = strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    return UnavailableError("cannot listen on " + options.host + ":" + port_str + ": " + err);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return std::make_pair(fd, port);
}

}  // namespace

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options,
                                                         HttpHandler handler) {
  if (options.workers < 1) options.workers = 1;
  ASSIGN_OR_RETURN(auto fd_port, Listen(options));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(options), std::move(handler), nullptr,
                                                    fd_port.first, fd_port.second));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::CreateAsync(HttpServerOptions options,
                                                              AsyncHttpHandler handler) {
  if (options.workers < 1) options.workers = 1;
  ASSIGN_OR_RETURN(auto fd_port, Listen(options));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(options), nullptr, std::move(handler),
                                                    fd_port.first, fd_port.second));
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler,
                       AsyncHttpHandler async_handler, int listen_fd, int port)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      async_handler_(std::move(async_handler)),
      shared_(std::make_shared<HttpResponder::Shared>()),
      listen_fd_(listen_fd),
      port_(port) {
  ReserveDescriptorForAccept();
  shared_->mailboxes.resize(static_cast<size_t>(options_.workers));
  for (int i = 0; i < options_.workers; ++i)
    shared_->wake_fds.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
}

HttpServer::~HttpServer() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->closed = true;
    for (int fd : shared_->wake_fds) close(fd);
  }
  if (listen_fd_ >= 0) close(listen_fd_);
}

void HttpServer::Shutdown() {
  // Run() may return, and its owner destroy this server, as soon as the loops see draining_: after
  // that store only `shared` (which outlives the server) is touched.
  auto shared = shared_;
  // Stop listening at once, not only watching: a connection made during the drain is refused
  // instead of waiting in the kernel's queue to be reset at exit, even while every loop is busy in
  // a handler. The descriptor stays open (the loops' epoll sets hold it) until destruction.
  if (!listener_shut_.exchange(true)) shutdown(listen_fd_, SHUT_RDWR);
  draining_.store(true);
  std::lock_guard<std::mutex> lock(shared->mu);
  if (shared->closed) return;
  for (size_t i = 0; i < shared->wake_fds.size(); ++i) shared->Wake(i);
}

void HttpServer::Run() {
  std::vector<std::thread> threads;
  for (int i = 1; i < options_.workers; ++i) threads.emplace_back([this, i] { Loop(i); });
  Loop(0);
  for (auto& t : threads) t.join();
}

void HttpServer::Loop(int index) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  ev.data.ptr = nullptr;  // listen socket
  epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd_, &ev);
  int wake_fd = shared_->wake_fds[static_cast<size_t>(index)];
  epoll_event wev{};
  wev.events = EPOLLIN;
  wev.data.ptr = &wake_fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd, &wev);

  std::unordered_map<int, std::unique_ptr<Conn>> conns;
  std::unordered_map<uint64_t, Conn*> awaiting;  // connections holding a request, by token
  uint64_t next_token = 1;
  bool listening = true;
  int64_t accept_paused_until = 0;  // out of descriptors: the listener is out of the set till then
  int64_t drain_deadline = 0;
  int64_t last_sweep = NowMs();

  auto close_conn = [&](Conn* c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    connections_.fetch_sub(1);
    if (c->awaiting) awaiting.erase(c->await_token);
    conns.erase(c->fd);
  };

  // Writes what is buffered. Returns false when the connection was closed.
  auto flush = [&](Conn* c) -> bool {
    while (c->out_off < c->out.size()) {
      ssize_t n = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c->out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c->want_write) {
          epoll_event e{};
          e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
          e.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
          c->want_write = true;
        }
        return true;
      }
      close_conn(c);
      return false;
    }
    c->out.clear();
    c->out_off = 0;
    if (c->want_write) {
      epoll_event e{};
      e.events = EPOLLIN | EPOLLRDHUP;
      e.data.ptr = c;
      epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
      c->want_write = false;
    }
    if (c->close_after_write && !c->lingering && !c->awaiting) {
      shutdown(c->fd, SHUT_WR);
      c->lingering = true;
      c->linger_deadline_ms = NowMs() + 2000;
      c->in.clear();
    }
    return true;
  };

  auto reply_error = [&](Conn* c, const Problem& p) {
    HttpResponse r;
    r.status = p.status;
    r.content_type = std::string(kProblemContentType);
    r.body = p.ToJson();
    AppendResponse(r, false, false, &c->out);
    c->close_after_write = true;
    c->in.clear();
  };

  // Parses and serves every complete request in c->in. Returns false if c was closed.
  auto process = [&](Conn* c) -> bool {
    while (!c->close_after_write && !c->awaiting && !c->in.empty()) {
      if (c->request_started_ms == 0) c->request_started_ms = NowMs();
      size_t consumed = 0;
      Problem problem;
      auto r = c->parser.Parse(c->in, &c->req, &consumed, &problem);
      if (r == RequestParser::Result::kError) {
        reply_error(c, problem);
        break;
      }
      if (head_handler_ && !c->head_checked && c->parser.HeaderDone()) {
        c->head_checked = true;
        HttpResponse early;
        if (!head_handler_(&c->req, &early)) {
          counters_.heads_answered_early.fetch_add(1);
          bool drain = !c->parser.Chunked() && !c->parser.ExpectsContinue() &&
                       c->parser.BodyBytesMissing(c->in) <= kMaxDrainAfterEarlyAnswer;
          bool keep = drain && c->req.keep_alive && !draining_.load(std::memory_order_relaxed);
          AppendResponse(early, keep, c->req.method == "HEAD", &c->out);
          if (!keep) {
            c->close_after_write = true;
            c->in.clear();
            c->linger_budget = kMaxDrainAfterEarlyAnswer;
            break;
          }
          c->drop_request = true;
        }
      }
      if (r == RequestParser::Result::kNeedMore) {
        if (c->parser.WantsContinue()) {
          c->out.append("HTTP/1.1 100 Continue\r\n\r\n");
          c->parser.MarkContinueSent();
        }
        break;
      }
      if (c->drop_request) {
        c->in.erase(0, consumed);
        c->parser.Reset();
        c->req = HttpRequest();
        c->request_started_ms = 0;
        c->head_checked = false;
        c->drop_request = false;
        continue;
      }
      c->head_checked = false;
      if (async_handler_) {
        c->awaiting = true;
        c->awaiting_keep_alive = c->req.keep_alive;
        c->awaiting_head = c->req.method == "HEAD";
        HttpRequest req = std::move(c->req);
        c->in.erase(0, consumed);
        c->parser.Reset();
        c->req = HttpRequest();
        c->request_started_ms = 0;
        c->await_token = next_token++;
        awaiting[c->await_token] = c;
        async_handler_(std::move(req), HttpResponder(shared_, index, c->await_token));
        break;
      }
      HttpResponse resp;
      handler_(c->req, &resp);
      bool keep = c->req.keep_alive && !draining_.load(std::memory_order_relaxed);
      AppendResponse(resp, keep, c->req.method == "HEAD", &c->out);
      if (!keep) c->close_after_write = true;
      c->in.erase(0, consumed);
      c->parser.Reset();
      c->req = HttpRequest();
      c->request_started_ms = 0;
      if (c->out.size() > (1 << 20)) break;  // let the client read before serving more
    }
    return flush(c);
  };

  // Writes the answers of asynchronous handlers that arrived for this loop.
  std::vector<std::pair<uint64_t, HttpResponse>> arrived;
  auto deliver = [&] {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      arrived.swap(shared_->mailboxes[static_cast<size_t>(index)].done);
    }
    for (auto& [token, resp] : arrived) {
      auto it = awaiting.find(token);
      if (it == awaiting.end()) continue;  // the client went away, or a second answer
      Conn* c = it->second;
      awaiting.erase(it);
      c->awaiting = false;
      c->last_active_ms = NowMs();
      bool keep =
          c->awaiting_keep_alive && !c->peer_closed && !draining_.load(std::memory_order_relaxed);
      AppendResponse(resp, keep, c->awaiting_head, &c->out);
      if (!keep) c->close_after_write = true;
      if (c->peer_closed) {
        int fd = c->fd;
        flush(c);
        auto still = conns.find(fd);
        if (still != conns.end() && still->second.get() == c && c->out_off >= c->out.size()) {
          close_conn(c);
        }
        continue;
      }
      if (c->paused) {
        c->paused = false;
        epoll_event e{};
        e.events = EPOLLIN | EPOLLRDHUP;
        e.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
        c->want_write = false;
      }
      process(c);  // pipelined requests that waited behind this one
    }
    arrived.clear();
  };

  epoll_event events[128];
  while (true) {
    if (draining_.load() && listening) {
      epoll_ctl(ep, EPOLL_CTL_DEL, listen_fd_, nullptr);
      listening = false;
      drain_deadline = NowMs() + options_.drain_timeout_ms;
      // Idle connections close now; those with a request in progress finish it first. A request
      // that arrived while this loop was busy is still in the kernel's buffer: it counts as in
      // progress, and is answered (with "Connection: close") instead of being cut off.
      std::vector<Conn*> idle;
      for (auto& [fd, c] : conns) {
        char next;
        if (!c->lingering && !c->awaiting && !c->parser.InProgress(c->in) &&
            c->out_off >= c->out.size() && recv(fd, &next, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
          idle.push_back(c.get());
        }
      }
      for (Conn* c : idle) close_conn(c);
    }
    if (!listening && (conns.empty() || NowMs() >= drain_deadline)) break;

    if (accept_paused_until != 0 && (!listening || NowMs() >= accept_paused_until)) {
      accept_paused_until = 0;
      if (listening) epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd_, &ev);
    }
    int n = epoll_wait(ep, events, 128, accept_paused_until != 0 ? kAcceptBackoffMs : 250);
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == nullptr) {  // accept as many as are queued
        while (listening && accept_paused_until == 0) {
          int cfd = -1;
          AcceptResult got = AcceptOrShed(listen_fd_, SOCK_NONBLOCK | SOCK_CLOEXEC, &cfd);
          if (got == AcceptResult::kShed) continue;
          if (got == AcceptResult::kOutOfDescriptors) {
            // The listener would stay readable and wake this loop at once: stop watching it
            // for a while, keep serving the connections already open.
            epoll_ctl(ep, EPOLL_CTL_DEL, listen_fd_, nullptr);
            accept_paused_until = NowMs() + kAcceptBackoffMs;
          }
          if (got != AcceptResult::kAccepted) break;
          if (connections_.load() >= options_.max_connections) {
            close(cfd);
            continue;
          }
          int one = 1;
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto c = std::make_unique<Conn>(options_.limits);
          c->fd = cfd;
          c->last_active_ms = NowMs();
          epoll_event e{};
          e.events = EPOLLIN | EPOLLRDHUP;
          e.data.ptr = c.get();
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &e);
          connections_.fetch_add(1);
          conns.emplace(cfd, std::move(c));
        }
        continue;
      }
      if (tag == &wake_fd) {
        uint64_t v;
        ssize_t ignored = read(wake_fd, &v, sizeof v);
        (void)ignored;
        deliver();
        continue;
      }
      Conn* c = static_cast<Conn*>(tag);
      if (events[i].events & EPOLLOUT) {
        if (!flush(c)) continue;
      }
      if (c->lingering && (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        char sink[65536];
        ssize_t r;
        bool over_budget = false;
        while ((r = recv(c->fd, sink, sizeof sink, 0)) > 0) {
          if (static_cast<size_t>(r) >= c->linger_budget) {
            over_budget = true;  // a body we chose not to read: close rather than drain it
            break;
          }
          c->linger_budget -= static_cast<size_t>(r);
        }
        if (over_budget || r == 0 ||
            (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          close_conn(c);
        }
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        bool closed = false;
        bool peer_done = false;
        char buf[65536];
        while (true) {
          ssize_t r = recv(c->fd, buf, sizeof buf, 0);
          if (r > 0) {
            c->in.append(buf, static_cast<size_t>(r));
            // Judge a request head before reading on: a refused request's body stays unread.
            // Level-triggered epoll brings us back for the rest.
            if (head_handler_ && !c->head_checked && !c->awaiting) break;
            if (c->in.size() >
                options_.limits.max_body_bytes + options_.limits.max_header_bytes + 65536) {
              break;  // parse what we have; the parser reports the limit
            }
            continue;
          }
          if (r == 0) {
            peer_done = true;
            break;
          }
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          close_conn(c);
          closed = true;
          break;
        }
        if (closed) continue;
        c->last_active_ms = NowMs();
        if (!process(c)) continue;
        bool full = c->awaiting && c->in.size() > options_.limits.max_body_bytes +
                                                      options_.limits.max_header_bytes;
        if (c->awaiting && (peer_done || full)) {
          // Answer first; stop watching the socket, whose EOF (or unread bytes) would otherwise
          // wake us forever. Reading resumes with the answer.
          c->peer_closed = peer_done;
          c->paused = !peer_done;
          (peer_done ? counters_.held_peer_closed : counters_.held_reads_paused).fetch_add(1);
          epoll_event e{};
          e.events = 0;
          e.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
          c->want_write = false;
        } else if (peer_done) {
          // The client will send nothing more: finish writing what we have, then close.
          if (c->out_off >= c->out.size() || c->lingering) {
            close_conn(c);
          } else {
            c->close_after_write = true;
          }
        }
      }
    }

    int64_t now = NowMs();
    if (now - last_sweep >= 1000 || !listening) {
      last_sweep = now;
      std::vector<Conn*> expired;
      std::vector<Conn*> slow;
      for (auto& [fd, c] : conns) {
        if (c->lingering) {
          if (now >= c->linger_deadline_ms) expired.push_back(c.get());
          continue;
        }
        if (c->awaiting) continue;  // the handler owns the timing of its answer
        bool in_progress = c->parser.InProgress(c->in);
        if (in_progress && c->request_started_ms &&
            now - c->request_started_ms > options_.read_timeout_ms) {
          slow.push_back(c.get());
        } else if (!in_progress && c->out_off >= c->out.size() &&
                   now - c->last_active_ms > options_.idle_timeout_ms) {
          expired.push_back(c.get());
        }
      }
      for (Conn* c : expired) close_conn(c);
      for (Conn* c : slow) {
        reply_error(c, MakeProblem("request_timeout", "request was not received within " +
                                                          std::to_string(options_.read_timeout_ms) +
                                                          " ms"));
        flush(c);
      }
    }
  }
  for (auto& [fd, c] : conns) {
    close(fd);
    connections_.fetch_sub(1);
  }
  close(ep);
}

}  // namespace modelfn

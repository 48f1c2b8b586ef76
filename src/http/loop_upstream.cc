#include "http/loop_upstream.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "http/poller.h"

namespace modelfn {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Serialize(const UpstreamCall& call) {
  std::string out;
  out.reserve(256 + call.body.size());
  out.append(call.method).append(" ").append(call.target).append(" HTTP/1.1\r\n");
  out.append("Host: 127.0.0.1:").append(std::to_string(call.port)).append("\r\n");
  for (const auto& [k, v] : call.headers) out.append(k).append(": ").append(v).append("\r\n");
  if (!call.body.empty() || call.method == "POST" || call.method == "PUT") {
    out.append("Content-Length: ").append(std::to_string(call.body.size())).append("\r\n");
  }
  out.append("\r\n").append(call.body);
  return out;
}

}  // namespace

// One connection to a peer, and the exchange it carries (when not idle).
struct UpstreamConn {
  enum State { kConnecting, kWriting, kReading, kIdle };
  int fd = -1;
  int port = 0;
  State state = kConnecting;
  bool reused = false;
  std::string out;
  size_t out_off = 0;
  http_parser parser;
  HttpReply reply;
  std::string field, value;  // the header being read (callbacks may split it)
  bool in_value = false;
  bool complete = false;
  bool head = false;  // a HEAD request: the answer has no body
  uint64_t received = 0;
  uint64_t max_bytes = 0;
  int stall_ms = 0;
  int64_t last_progress_ms = 0;
  uint32_t interest = 0;  // the events its epoll entry asks for now
  UpstreamDone done;

  ~UpstreamConn() {
    if (fd >= 0) close(fd);
  }
  void ResetParser() {
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = this;
    reply = HttpReply{};
    field.clear();
    value.clear();
    in_value = false;
    complete = false;
    received = 0;
  }
  void EndHeader() {
    if (!field.empty()) reply.headers.emplace_back(Lower(std::move(field)), std::move(value));
    field.clear();
    value.clear();
    in_value = false;
  }
};

namespace {

int OnHeaderField(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<UpstreamConn*>(p->data);
  if (c->in_value) c->EndHeader();
  c->field.append(at, n);
  return 0;
}
int OnHeaderValue(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<UpstreamConn*>(p->data);
  c->in_value = true;
  c->value.append(at, n);
  return 0;
}
int OnHeadersComplete(http_parser* p) {
  auto* c = static_cast<UpstreamConn*>(p->data);
  c->EndHeader();
  c->reply.status = p->status_code;
  return c->head ? 1 : 0;  // 1: no body follows
}
int OnBody(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<UpstreamConn*>(p->data);
  c->reply.body.append(at, n);
  c->reply.body_bytes += n;
  return 0;
}
int OnMessageComplete(http_parser* p) {
  auto* c = static_cast<UpstreamConn*>(p->data);
  c->complete = true;
  http_parser_pause(p, 1);  // nothing after the answer is ours to parse
  return 0;
}

const http_parser_settings& Settings() {
  static const http_parser_settings s = [] {
    http_parser_settings x{};
    http_parser_settings_init(&x);
    x.on_header_field = OnHeaderField;
    x.on_header_value = OnHeaderValue;
    x.on_headers_complete = OnHeadersComplete;
    x.on_body = OnBody;
    x.on_message_complete = OnMessageComplete;
    return x;
  }();
  return s;
}

struct Completion {
  UpstreamDone done;
  StatusOr<HttpReply> reply;
  HttpFailure failure;
};

}  // namespace

class LoopUpstream::Loop final : public LoopHook {
 public:
  explicit Loop(LoopUpstreamOptions options) : options_(options) {
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    poller_.Add(wake_, EPOLLIN, &wake_);
  }
  ~Loop() override {
    FailAll();
    if (wake_ >= 0) close(wake_);
  }

  int fd() const override { return poller_.fd(); }

  void LoopStarted() override {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = false;
  }
  void LoopExited() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    FailAll();
  }

  // From another thread: queued for the loop. False when the loop has stopped.
  bool Post(UpstreamCall call, UpstreamDone done) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return false;
      mailbox_.push_back({std::move(call), std::move(done)});
    }
    Wake();
    return true;
  }

  // On the loop's thread.
  void Start(UpstreamCall call, UpstreamDone done) {
    int64_t now = MonotonicMs();
    std::unique_ptr<UpstreamConn> c = TakeIdle(call.port);
    if (c == nullptr) {
      c = std::make_unique<UpstreamConn>();
      c->port = call.port;
      c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c->fd < 0) {
        int e = errno;
        bool exhausted = e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
        Defer(std::move(done),
              Status(exhausted ? StatusCode::kResourceExhausted : StatusCode::kUnavailable,
                     std::string("socket: ") + strerror(e)),
              exhausted ? HttpFailure::kNone : HttpFailure::kConnect);
        return;
      }
      int one = 1;
      setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(call.port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(c->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
        Defer(std::move(done), ConnectError(call.port, errno), HttpFailure::kConnect);
        return;
      }
      c->state = UpstreamConn::kConnecting;
    } else {
      c->reused = true;
      c->state = UpstreamConn::kWriting;
    }
    c->head = call.method == "HEAD";
    c->ResetParser();
    c->out = Serialize(call);
    c->out_off = 0;
    c->max_bytes = call.max_response_bytes;
    c->stall_ms = call.stall_timeout_ms;
    c->last_progress_ms = now;
    c->done = std::move(done);
    UpstreamConn* raw = c.get();
    // A reused connection keeps its EPOLLIN entry: the request is written at once below, and
    // EPOLLOUT is asked for only if the socket's buffer is full (Write).
    bool watched = raw->reused || Watch(raw, EPOLLOUT | EPOLLRDHUP);
    if (!watched) {
      Defer(std::move(raw->done), ResourceExhaustedError("epoll: " + std::string(strerror(errno))),
            HttpFailure::kNone);
      return;  // c closes the socket
    }
    active_.emplace(raw, std::move(c));
    if (raw->state == UpstreamConn::kWriting) Write(raw);
  }

  void OnReady() override {
    epoll_event events[64];
    int n = poller_.Wait(events, 64, 0);
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &wake_) {
        woken = true;
        continue;
      }
      auto* c = static_cast<UpstreamConn*>(tag);
      if (idle_set_.count(c) != 0) {
        DropIdle(c);  // the peer closed it, or sent what nobody asked for
        continue;
      }
      if (active_.count(c) == 0) continue;  // finished earlier in this batch
      OnEvent(c, events[i].events);
    }
    // New exchanges only after the batch: a connection made now may reuse the address of one
    // closed in it, which a later event of the batch still names.
    if (woken) {
      uint64_t v;
      ssize_t ignored = read(wake_, &v, sizeof v);
      (void)ignored;
      std::vector<std::pair<UpstreamCall, UpstreamDone>> calls;
      {
        std::lock_guard<std::mutex> lock(mu_);
        calls.swap(mailbox_);
      }
      for (auto& [call, done] : calls) Start(std::move(call), std::move(done));
    }
    RunCompletions();
  }

  void Sweep(int64_t now) override {
    std::vector<UpstreamConn*> stalled;
    for (auto& [raw, c] : active_) {
      if (now - c->last_progress_ms > c->stall_ms) stalled.push_back(raw);
    }
    for (UpstreamConn* c : stalled) {
      Fail(c,
           Status(StatusCode::kDeadlineExceeded, "the peer on port " + std::to_string(c->port) +
                                                     " sent nothing for " +
                                                     std::to_string(c->stall_ms) + " ms"),
           HttpFailure::kExchange);
    }
    std::vector<UpstreamConn*> old;
    for (auto& [port, list] : idle_) {
      for (auto& c : list) {
        if (now - c->last_progress_ms > options_.idle_timeout_ms) old.push_back(c.get());
      }
    }
    for (UpstreamConn* c : old) DropIdle(c);
    RunCompletions();
  }

  size_t Open() const { return open_.load(std::memory_order_relaxed); }

 private:
  static Status ConnectError(int port, int e) {
    return UnavailableError("cannot connect to 127.0.0.1:" + std::to_string(port) + ": " +
                            strerror(e));
  }

  void Wake() {
    uint64_t one = 1;
    ssize_t ignored = write(wake_, &one, sizeof one);
    (void)ignored;
  }

  void Defer(UpstreamDone done, Status status, HttpFailure failure) {
    completions_.push_back({std::move(done), StatusOr<HttpReply>(std::move(status)), failure});
    Wake();  // run after the caller returned: on the next turn of this loop
  }

  void RunCompletions() {
    while (!completions_.empty()) {
      std::vector<Completion> now;
      now.swap(completions_);
      for (auto& c : now) c.done(std::move(c.reply), c.failure);
    }
    open_.store(active_.size() + idle_set_.size(), std::memory_order_relaxed);
  }

  std::unique_ptr<UpstreamConn> TakeIdle(int port) {
    auto it = idle_.find(port);
    if (it == idle_.end() || it->second.empty()) return nullptr;
    std::unique_ptr<UpstreamConn> c = std::move(it->second.back());
    it->second.pop_back();
    idle_set_.erase(c.get());
    return c;
  }

  void DropIdle(UpstreamConn* c) {
    auto& list = idle_[c->port];
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (it->get() != c) continue;
      poller_.Remove(c->fd);
      idle_set_.erase(c);
      list.erase(it);
      return;
    }
  }

  void OnEvent(UpstreamConn* c, uint32_t ev) {
    if (c->state == UpstreamConn::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        Fail(c, ConnectError(c->port, err), HttpFailure::kConnect);
        return;
      }
      if ((ev & EPOLLOUT) == 0) {
        if (ev & (EPOLLERR | EPOLLHUP)) {
          Fail(c, ConnectError(c->port, ECONNREFUSED), HttpFailure::kConnect);
        }
        return;
      }
      c->state = UpstreamConn::kWriting;
    }
    if (c->state == UpstreamConn::kWriting) {
      Write(c);
      return;
    }
    Read(c);
  }

  void Write(UpstreamConn* c) {
    while (c->out_off < c->out.size()) {
      ssize_t n = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c->out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        // EPOLLOUT brings us back (and not EPOLLIN, which would call Write again meanwhile).
        if (!Watch(c, EPOLLOUT | EPOLLRDHUP)) {
          Fail(c, ResourceExhaustedError("epoll: " + std::string(strerror(errno))),
               HttpFailure::kExchange);
        }
        return;
      }
      Fail(c,
           UnavailableError("the connection to 127.0.0.1:" + std::to_string(c->port) +
                            " broke while sending: " + strerror(errno)),
           HttpFailure::kExchange);
      return;
    }
    std::string().swap(c->out);
    c->state = UpstreamConn::kReading;
    c->last_progress_ms = MonotonicMs();
    if (!Watch(c, EPOLLIN | EPOLLRDHUP)) {
      Fail(c, ResourceExhaustedError("epoll: " + std::string(strerror(errno))),
           HttpFailure::kExchange);
    }
  }

  // Points c's epoll entry at `events` (adds it the first time); no system call when it already
  // asks for them. False (errno set) when epoll refused.
  bool Watch(UpstreamConn* c, uint32_t events) {
    if (c->interest == events) return true;
    bool ok = c->interest == 0 ? poller_.Add(c->fd, events, c) : poller_.Modify(c->fd, events, c);
    if (ok) c->interest = events;
    return ok;
  }

  void Read(UpstreamConn* c) {
    char buf[65536];
    while (true) {
      ssize_t n = recv(c->fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n < 0) {
        Fail(c,
             UnavailableError("the connection to 127.0.0.1:" + std::to_string(c->port) +
                              " broke: " + strerror(errno)),
             HttpFailure::kExchange);
        return;
      }
      if (n == 0) {
        // The peer closed: a close-delimited body ends here; anything else was cut short.
        http_parser_execute(&c->parser, &Settings(), nullptr, 0);
        if (c->complete) {
          Finish(c, /*closed=*/true);
        } else {
          Fail(c,
               UnavailableError("the connection to 127.0.0.1:" + std::to_string(c->port) +
                                " closed before the answer ended"),
               HttpFailure::kExchange);
        }
        return;
      }
      c->last_progress_ms = MonotonicMs();
      c->received += static_cast<uint64_t>(n);
      if (c->max_bytes != 0 && c->received > c->max_bytes) {
        Fail(c,
             Status(StatusCode::kResourceExhausted,
                    "the response from 127.0.0.1:" + std::to_string(c->port) + " is too large",
                    "response_too_large"),
             HttpFailure::kExchange);
        return;
      }
      http_parser_execute(&c->parser, &Settings(), buf, static_cast<size_t>(n));
      if (c->complete) {
        Finish(c);
        return;
      }
      if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
        Fail(c,
             UnavailableError("a malformed answer from 127.0.0.1:" + std::to_string(c->port) +
                              ": " + http_errno_description(HTTP_PARSER_ERRNO(&c->parser))),
             HttpFailure::kExchange);
        return;
      }
    }
  }

  void Finish(UpstreamConn* c, bool closed = false) {
    auto it = active_.find(c);
    std::unique_ptr<UpstreamConn> own = std::move(it->second);
    active_.erase(it);
    bool keep = !closed && http_should_keep_alive(&c->parser) != 0 && !c->parser.upgrade;
    completions_.push_back({std::move(c->done), std::move(c->reply), HttpFailure::kNone});
    if (!keep) {
      poller_.Remove(c->fd);
      return;  // own closes it
    }
    auto& list = idle_[c->port];
    if (list.size() >= options_.max_idle_per_port) {
      poller_.Remove(c->fd);
      return;
    }
    c->state = UpstreamConn::kIdle;
    c->last_progress_ms = MonotonicMs();
    if (!Watch(c, EPOLLIN | EPOLLRDHUP)) {
      poller_.Remove(c->fd);
      return;  // own closes it
    }
    idle_set_.insert(c);
    list.push_back(std::move(own));
  }

  void Fail(UpstreamConn* c, Status status, HttpFailure failure) {
    auto it = active_.find(c);
    std::unique_ptr<UpstreamConn> own = std::move(it->second);
    active_.erase(it);
    poller_.Remove(c->fd);
    completions_.push_back({std::move(c->done), StatusOr<HttpReply>(std::move(status)), failure});
  }

  // The loop stopped (or this object goes): every exchange still pending fails.
  void FailAll() {
    std::vector<std::pair<UpstreamCall, UpstreamDone>> calls;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls.swap(mailbox_);
    }
    for (auto& [call, done] : calls) {
      completions_.push_back({std::move(done),
                              StatusOr<HttpReply>(UnavailableError("the gateway is stopping")),
                              HttpFailure::kConnect});
    }
    std::vector<UpstreamConn*> left;
    for (auto& [raw, c] : active_) left.push_back(raw);
    for (UpstreamConn* c : left) {
      Fail(c, UnavailableError("the gateway is stopping"), HttpFailure::kExchange);
    }
    for (auto& [port, list] : idle_) {
      for (auto& c : list) poller_.Remove(c->fd);
    }
    idle_.clear();
    idle_set_.clear();
    RunCompletions();
  }

  LoopUpstreamOptions options_;
  Poller poller_;
  int wake_ = -1;
  std::mutex mu_;
  bool stopped_ = false;                                        // guarded by mu_
  std::vector<std::pair<UpstreamCall, UpstreamDone>> mailbox_;  // guarded by mu_
  // The rest: the loop's thread only.
  std::unordered_map<UpstreamConn*, std::unique_ptr<UpstreamConn>> active_;
  std::unordered_map<int, std::vector<std::unique_ptr<UpstreamConn>>> idle_;
  std::unordered_set<UpstreamConn*> idle_set_;
  std::vector<Completion> completions_;
  std::atomic<size_t> open_{0};
};

LoopUpstream::LoopUpstream(HttpServer* server, LoopUpstreamOptions options) : server_(server) {
  for (int i = 0; i < server->loops(); ++i) loops_.push_back(std::make_unique<Loop>(options));
}

LoopUpstream::~LoopUpstream() = default;

StatusOr<std::unique_ptr<LoopUpstream>> LoopUpstream::Create(HttpServer* server,
                                                             LoopUpstreamOptions options) {
  std::unique_ptr<LoopUpstream> u(new LoopUpstream(server, options));
  std::vector<LoopHook*> hooks;
  for (auto& l : u->loops_) hooks.push_back(l.get());
  RETURN_IF_ERROR(server->AddLoopHooks(std::move(hooks)));
  return u;
}

void LoopUpstream::Exchange(UpstreamCall call, UpstreamDone done) {
  int here = server_->CurrentLoop();
  if (here >= 0) {
    loops_[static_cast<size_t>(here)]->Start(std::move(call), std::move(done));
    return;
  }
  size_t i = next_.fetch_add(1, std::memory_order_relaxed) % loops_.size();
  auto shared = std::make_shared<UpstreamDone>(std::move(done));
  if (loops_[i]->Post(std::move(call), [shared](StatusOr<HttpReply> r, HttpFailure f) {
        (*shared)(std::move(r), f);
      })) {
    return;
  }
  // The loops have stopped: fail it, but not on the caller's stack (it may hold locks).
  std::thread([shared] {
    (*shared)(StatusOr<HttpReply>(UnavailableError("the gateway is stopping")),
              HttpFailure::kConnect);
  }).detach();
}

size_t LoopUpstream::OpenConnections() const {
  size_t n = 0;
  for (const auto& l : loops_) n += l->Open();
  return n;
}

}  // namespace modelfn

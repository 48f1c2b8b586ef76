#include "http/server_loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "common/log.h"
#include "http/accept.h"
#include "http/http_server.h"

namespace modelfn {
namespace {

constexpr uint32_t kListenerEvents = EPOLLIN | EPOLLEXCLUSIVE;
constexpr int kLingerMs = 2000;

}  // namespace

ServerLoop::ServerLoop(HttpServer* server, int index)
    : server_(server),
      index_(index),
      wake_fd_(server->shared_->wake_fd(index)),
      attached_(server->LoopStarted(index)) {
  WatchListeners(true);
  poller_.Add(wake_fd_, EPOLLIN, &wake_fd_);
  if (!server->hooks_.empty()) {
    hook_ = server->hooks_[static_cast<size_t>(index)];
    poller_.Add(hook_->fd(), EPOLLIN, hook_);
    hook_->LoopStarted();
  }
  last_sweep_ = MonotonicMs();
}

ServerLoop::~ServerLoop() {
  if (hook_ != nullptr) hook_->LoopExited();
  server_->connections_.fetch_sub(conns_.size());
  server_->loop_clients_[index_].fetch_sub(static_cast<int>(client_conns_),
                                           std::memory_order_relaxed);
  conns_.clear();
  server_->LoopExited(index_);
}

bool ServerLoop::IsListener(const void* tag) const {
  for (const auto& l : server_->listeners_) {
    if (tag == l.get()) return true;
  }
  for (const auto& l : attached_) {
    if (tag == l.get()) return true;
  }
  return false;
}

void ServerLoop::WatchClientListeners(bool on) {
  for (const auto& l : server_->listeners_) {
    if (on) {
      poller_.Add(l->fd, kListenerEvents, l.get());
    } else {
      poller_.Remove(l->fd);
    }
  }
}

void ServerLoop::WatchListeners(bool on) {
  if (listening_) WatchClientListeners(on);
  for (const auto& l : attached_) {
    if (on) {
      poller_.Add(l->fd, kListenerEvents, l.get());
    } else {
      poller_.Remove(l->fd);
    }
  }
}

void ServerLoop::ApplyCommands() {
  for (const HttpServer::LoopCommand& cmd : server_->TakeCommands(index_)) {
    if (cmd.adopt_fd >= 0) {  // counted in connections_ and loop_clients_ by the loop that accepted
      if (listening_) {
        Adopt(cmd.adopt_fd, *cmd.adopt_listener);
      } else {  // the drain began: as if it had arrived a moment later
        server_->DropHandedOff(index_, cmd.adopt_fd);
      }
      continue;
    }
    if (cmd.add) {
      attached_.push_back(cmd.add);
      if (accept_paused_until_ == 0) poller_.Add(cmd.add->fd, kListenerEvents, cmd.add.get());
      continue;
    }
    for (auto it = attached_.begin(); it != attached_.end(); ++it) {
      if ((*it)->id != cmd.remove) continue;
      std::shared_ptr<HttpListener> l = *it;  // alive until its connections are gone
      attached_.erase(it);
      DropAttached(l.get());
      break;
    }
    server_->AckRemoval(cmd);
  }
}

void ServerLoop::DropAttached(const HttpListener* l) {
  if (accept_paused_until_ == 0) poller_.Remove(l->fd);
  std::vector<Connection*> gone;
  for (auto& [fd, c] : conns_) {
    if (c->listener == l) gone.push_back(c.get());
  }
  for (Connection* c : gone) Close(c);
}

bool ServerLoop::Draining() const { return server_->draining_.load(std::memory_order_relaxed); }

bool ServerLoop::DrainingFor(const Connection* c) const {
  return !c->listener->attached && Draining();
}

void ServerLoop::Watch(Connection* c, bool write) {
  poller_.Modify(c->fd(), EPOLLIN | EPOLLRDHUP | (write ? EPOLLOUT : 0u), c);
  c->want_write = write;
}

void ServerLoop::Close(Connection* c) {
  poller_.Remove(c->fd());
  server_->connections_.fetch_sub(1);
  if (!c->listener->attached) {
    --client_conns_;
    server_->loop_clients_[index_].fetch_sub(1, std::memory_order_relaxed);
  }
  if (c->awaiting) awaiting_.erase(c->await_token);
  if (c->gone) c->gone->store(true, std::memory_order_relaxed);
  conns_.erase(c->fd());  // closes the socket
}

bool ServerLoop::Flush(Connection* c) {
  while (c->out_off < c->out.size()) {
    size_t put = 0;
    IoResult r = c->Write(c->out.data() + c->out_off, c->out.size() - c->out_off, &put);
    if (r == IoResult::kOk) {
      c->out_off += put;
      continue;
    }
    if (r == IoResult::kWouldBlock) {
      if (!c->want_write) Watch(c, true);
      return true;
    }
    Close(c);
    return false;
  }
  c->out.clear();
  c->out_off = 0;
  if (c->want_write) Watch(c, false);
  if (c->close_after_write && !c->lingering && !c->awaiting) {
    c->ShutdownWrite();
    // Over TLS the client may still be sending a body we refused, unaware: drain up to 1 MiB of
    // it so that the refusal and close_notify are read, not overtaken by a reset.
    if (c->tls()) c->linger_budget = kTlsLingerBytes;
    c->lingering = true;
    c->linger_deadline_ms = MonotonicMs() + kLingerMs;
    c->in.clear();
  }
  return true;
}

void ServerLoop::ReplyError(Connection* c, const Problem& p) {
  HttpResponse r;
  r.status = p.status;
  r.content_type = std::string(kProblemContentType);
  r.body = p.ToJson();
  if (server_->error_hook_ && !c->listener->attached) server_->error_hook_(c->req, &r);
  AppendResponse(r, false, false, &c->out);
  c->close_after_write = true;
  c->in.clear();
}

bool ServerLoop::Process(Connection* c) {
  const HttpListener& listener = *c->listener;
  static const HeadHandler kNoHeadHandler;
  const HeadHandler& head_handler = listener.attached ? kNoHeadHandler : server_->head_handler_;
  const AsyncHttpHandler& async_handler =
      listener.attached ? listener.handler : server_->async_handler_;
  while (!c->close_after_write && !c->awaiting && !c->in.empty()) {
    if (c->request_started_ms == 0) c->request_started_ms = MonotonicMs();
    size_t consumed = 0;
    Problem problem;
    auto r = c->parser.Parse(c->in, &c->req, &consumed, &problem);
    if (r == RequestParser::Result::kError) {
      ReplyError(c, problem);
      break;
    }
    if (head_handler && !c->head_checked && c->parser.HeaderDone()) {
      c->head_checked = true;
      HttpResponse early;
      if (!head_handler(&c->req, &early)) {
        server_->counters_.heads_answered_early.fetch_add(1);
        bool drain = !c->parser.Chunked() && !c->parser.ExpectsContinue() &&
                     c->parser.BodyBytesMissing(c->in) <= kMaxDrainAfterEarlyAnswer;
        bool keep = drain && c->req.keep_alive && !DrainingFor(c);
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
      c->ResetRequest();
      c->head_checked = false;
      c->drop_request = false;
      continue;
    }
    c->head_checked = false;
    if (async_handler) {
      c->awaiting = true;
      c->awaiting_keep_alive = c->req.keep_alive;
      c->awaiting_head = c->req.method == "HEAD";
      HttpRequest req = std::move(c->req);
      c->in.erase(0, consumed);
      c->ResetRequest();
      c->await_token = next_token_++;
      awaiting_[c->await_token] = c;
      c->gone = std::make_shared<std::atomic<bool>>(false);
      async_handler(std::move(req),
                    HttpResponder(server_->shared_, index_, c->await_token, c->gone));
      break;
    }
    HttpResponse resp;
    server_->handler_(c->req, &resp);
    bool keep = c->req.keep_alive && !DrainingFor(c);
    AppendResponse(resp, keep, c->req.method == "HEAD", &c->out);
    if (!keep) c->close_after_write = true;
    c->in.erase(0, consumed);
    c->ResetRequest();
    if (c->out.size() > (1 << 20)) break;  // let the client read before serving more
  }
  return Flush(c);
}

void ServerLoop::Deliver() {
  server_->shared_->Take(index_, &arrived_);
  for (auto& [token, resp] : arrived_) {
    auto it = awaiting_.find(token);
    if (it == awaiting_.end()) continue;  // the client went away, or a second answer
    Connection* c = it->second;
    awaiting_.erase(it);
    c->awaiting = false;
    c->gone.reset();
    c->last_active_ms = MonotonicMs();
    bool keep = c->awaiting_keep_alive && !c->peer_closed && !DrainingFor(c);
    AppendResponse(resp, keep, c->awaiting_head, &c->out);
    if (!keep) c->close_after_write = true;
    if (c->peer_closed) {
      int fd = c->fd();
      Flush(c);
      auto still = conns_.find(fd);
      if (still != conns_.end() && still->second.get() == c && c->WriteDone()) Close(c);
      continue;
    }
    if (c->paused) {
      c->paused = false;
      Watch(c, false);
    }
    Process(c);  // pipelined requests that waited behind this one
  }
  arrived_.clear();
}

void ServerLoop::AcceptAll(const void* tag) {
  const auto& listener = *static_cast<const HttpListener*>(tag);
  int listen_fd = listener.fd;
  while ((listening_ || listener.attached) && accept_paused_until_ == 0) {
    int cfd = -1;
    AcceptResult got = AcceptOrShed(listen_fd, SOCK_NONBLOCK | SOCK_CLOEXEC, &cfd);
    if (got == AcceptResult::kShed) continue;
    if (got == AcceptResult::kOutOfDescriptors) {
      // The listener would stay readable and wake this loop at once: stop watching it for a
      // while, keep serving the connections already open.
      WatchListeners(false);
      accept_paused_until_ = MonotonicMs() + kAcceptBackoffMs;
    }
    if (got != AcceptResult::kAccepted) break;
    if (server_->connections_.load() >= server_->options_.max_connections) {
      close(cfd);
      continue;
    }
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    server_->connections_.fetch_add(1);
    if (!listener.attached) {
      int target = server_->LeastLoadedLoop(index_);
      if (target != index_ && server_->HandOff(target, cfd, &listener)) continue;
      server_->loop_clients_[index_].fetch_add(1, std::memory_order_relaxed);
    }
    Adopt(cfd, listener);
  }
}

void ServerLoop::Adopt(int cfd, const HttpListener& listener) {
  auto c = std::make_unique<Connection>(cfd, listener.limits, listener.tls);
  c->listener = &listener;
  if (!listener.attached) ++client_conns_;
  c->last_active_ms = MonotonicMs();
  if (c->tls())
    c->handshake_deadline_ms = c->last_active_ms + server_->options_.tls_handshake_timeout_ms;
  poller_.Add(cfd, EPOLLIN | EPOLLRDHUP, c.get());
  conns_.emplace(cfd, std::move(c));
}

void ServerLoop::OnLingerReadable(Connection* c) {
  char sink[65536];
  while (true) {
    size_t got = 0;
    IoResult r = c->ReadRaw(sink, sizeof sink, &got);
    if (r == IoResult::kWouldBlock) return;
    if (r != IoResult::kOk || got >= c->linger_budget) {
      Close(c);  // closed, broken, or a body we chose not to read: close rather than drain it
      return;
    }
    c->linger_budget -= got;
  }
}

void ServerLoop::OnReadable(Connection* c) {
  const ParserLimits& limits = c->listener->limits;
  bool peer_done = false;
  char buf[65536];
  while (true) {
    size_t got = 0;
    IoResult r = c->Read(buf, sizeof buf, &got);
    if (r == IoResult::kOk) {
      c->in.append(buf, got);
      // Judge a request head before reading on: a refused request's body stays unread.
      // Level-triggered epoll brings us back for the rest.
      if (server_->head_handler_ && !c->listener->attached && !c->head_checked && !c->awaiting)
        break;
      if (c->in.size() > limits.max_body_bytes + limits.max_header_bytes + 65536) {
        break;  // parse what we have; the parser reports the limit
      }
      // A short read of a plain socket took what was there: epoll (level-triggered) reports what
      // comes later, so the read that would only say EAGAIN is saved. TLS reads on: the session
      // may hold decrypted bytes the socket no longer shows.
      if (got < sizeof buf && !c->tls()) break;
      continue;
    }
    if (r == IoResult::kEof) {
      peer_done = true;
      break;
    }
    if (r == IoResult::kWouldBlock) break;
    if (r == IoResult::kWantWrite) {  // TLS: the read needs to send first (rare)
      if (!c->want_write) Watch(c, true);
      break;
    }
    Close(c);
    return;
  }
  c->last_active_ms = MonotonicMs();
  if (!Process(c)) return;
  bool full = c->awaiting && c->in.size() > limits.max_body_bytes + limits.max_header_bytes;
  if (c->awaiting && (peer_done || full)) {
    // Answer first; stop watching the socket, whose EOF (or unread bytes) would otherwise wake
    // us forever. Reading resumes with the answer.
    c->peer_closed = peer_done;
    if (peer_done && c->gone) c->gone->store(true, std::memory_order_relaxed);
    c->paused = !peer_done;
    (peer_done ? server_->counters_.held_peer_closed : server_->counters_.held_reads_paused)
        .fetch_add(1);
    poller_.Modify(c->fd(), 0, c);
    c->want_write = false;
  } else if (peer_done) {
    // The client will send nothing more: finish writing what we have, then close.
    if (c->WriteDone() || c->lingering) {
      Close(c);
    } else {
      c->close_after_write = true;
    }
  }
}

void ServerLoop::OnHandshake(Connection* c) {
  switch (c->Handshake()) {
    case IoResult::kOk:
      Watch(c, false);
      c->last_active_ms = MonotonicMs();
      OnReadable(c);  // a request may have come with the handshake's last flight
      return;
    case IoResult::kWouldBlock:
      if (c->want_write) Watch(c, false);
      return;
    case IoResult::kWantWrite:
      if (!c->want_write) Watch(c, true);
      return;
    default:
      Close(c);  // a failed handshake: nothing of it reaches the parser
      return;
  }
}

void ServerLoop::BeginDrain() {
  if (accept_paused_until_ == 0) WatchClientListeners(false);
  listening_ = false;
  drain_deadline_ = MonotonicMs() + server_->options_.drain_timeout_ms;
  // Idle connections close now; those with a request in progress finish it first. A request
  // that arrived while this loop was busy is still in the kernel's buffer: it counts as in
  // progress, and is answered (with "Connection: close") instead of being cut off.
  std::vector<Connection*> idle;
  for (auto& [fd, c] : conns_) {
    if (c->listener->attached) continue;  // served until detached
    if (c->handshaking()) {
      idle.push_back(c.get());  // a stalled handshake must not delay the drain
      continue;
    }
    if (!c->lingering && !c->awaiting && !c->parser.InProgress(c->in) && c->WriteDone() &&
        !c->HasUnreadBytes()) {
      idle.push_back(c.get());
    }
  }
  for (Connection* c : idle) Close(c);
}

void ServerLoop::Sweep(int64_t now) {
  std::vector<Connection*> expired;
  std::vector<Connection*> slow;
  for (auto& [fd, c] : conns_) {
    if (c->handshaking()) {
      if (now >= c->handshake_deadline_ms) expired.push_back(c.get());
      continue;
    }
    if (c->lingering) {
      if (now >= c->linger_deadline_ms) expired.push_back(c.get());
      continue;
    }
    if (c->awaiting) continue;  // the handler owns the timing of its answer
    const HttpListener& l = *c->listener;
    bool in_progress = c->parser.InProgress(c->in);
    if (in_progress && c->request_started_ms && now - c->request_started_ms > l.read_timeout_ms) {
      slow.push_back(c.get());
    } else if (!in_progress && c->WriteDone() && now - c->last_active_ms > l.idle_timeout_ms) {
      expired.push_back(c.get());
    }
  }
  for (Connection* c : expired) Close(c);
  for (Connection* c : slow) {
    ReplyError(c, MakeProblem("request_timeout", "request was not received within " +
                                                     std::to_string(c->listener->read_timeout_ms) +
                                                     " ms"));
    Flush(c);
  }
}

void ServerLoop::Run() {
  epoll_event events[128];
  server_->shared_->EnterLoop(index_);
  struct Leave {
    HttpResponder::Shared* shared;
    ~Leave() { shared->LeaveLoop(); }
  } leave{server_->shared_.get()};
  LogBatch log_batch;
  while (true) {
    if (server_->draining_.load() && listening_) BeginDrain();
    if (!listening_) {
      if (!clients_done_ && client_conns_ > 0 && MonotonicMs() >= drain_deadline_) {
        std::vector<Connection*> left;  // the drain timeout passed: cut the clients still here
        for (auto& [fd, c] : conns_) {
          if (!c->listener->attached) left.push_back(c.get());
        }
        for (Connection* c : left) {
          // A request still held gets a typed answer, not a silent close (its handler's later
          // answer finds no connection and is dropped).
          if (c->awaiting && !c->peer_closed && !c->handshaking()) {
            for (auto it = awaiting_.begin(); it != awaiting_.end(); ++it) {
              if (it->second == c) {
                awaiting_.erase(it);
                break;
              }
            }
            c->awaiting = false;
            ReplyError(c,
                       MakeProblem("shutting_down",
                                   "the server is shutting down and this request was not "
                                   "answered within its drain deadline of " +
                                       std::to_string(server_->options_.drain_timeout_ms) + " ms"));
            // One attempt (the answer is small); the connection closes either way.
            if (!Flush(c)) continue;  // Flush closed it
          }
          Close(c);
        }
      }
      if (!clients_done_ && client_conns_ == 0) {
        clients_done_ = true;
        server_->LoopClientsDone(index_);
      }
      // Attached listeners (lambda instances' Runtime API) are served until detached.
      if (clients_done_ && (attached_.empty() || server_->stopped_.load())) break;
    }

    if (accept_paused_until_ != 0 && MonotonicMs() >= accept_paused_until_) {
      accept_paused_until_ = 0;
      WatchListeners(true);
    }
    // Answers this thread posted to its own loop (an upstream completion run by the hook, a
    // handler that answered at once) did not touch the wakeup descriptor: take them now.
    while (HttpResponder::Shared::TakeOwnPosts()) Deliver();
    log_batch.Flush();  // the turn's log lines, in one write
    int n = poller_.Wait(events, 128, accept_paused_until_ != 0 ? kAcceptBackoffMs : 250);
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (IsListener(tag)) {  // accept as many as are queued
        AcceptAll(tag);
        continue;
      }
      if (hook_ != nullptr && tag == hook_) {
        hook_->OnReady();
        continue;
      }
      if (tag == &wake_fd_) {
        HttpResponder::Shared::ClearWake(wake_fd_);
        Deliver();
        woken = true;
        continue;
      }
      auto* c = static_cast<Connection*>(tag);
      uint32_t ev = events[i].events;
      if (c->handshaking()) {
        OnHandshake(c);
        continue;
      }
      if (ev & EPOLLOUT) {
        if (!Flush(c)) continue;
      }
      if (c->lingering && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        OnLingerReadable(c);
        continue;
      }
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) OnReadable(c);
    }
    // After the batch: a detach closes connections and frees listeners that later events of the
    // same batch may name.
    if (woken) ApplyCommands();

    int64_t now = MonotonicMs();
    if (now - last_sweep_ >= 1000 || (!listening_ && !clients_done_)) {
      last_sweep_ = now;
      Sweep(now);
      if (hook_ != nullptr) hook_->Sweep(now);
    }
  }
}

}  // namespace modelfn

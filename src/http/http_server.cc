#include "http/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "http/accept.h"
#include "http/server_loop.h"

namespace modelfn {
namespace {

StatusOr<std::pair<int, int>> Listen(const std::string& host, int port_number) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(port_number);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_str.c_str(), &hints, &res);
  if (rc != 0) return UnavailableError("cannot resolve " + host + ": " + gai_strerror(rc));
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
    return UnavailableError("cannot listen on " + host + ":" + port_str + ": " + err);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return std::make_pair(fd, port);
}

// The loop this thread runs, if any: Detach must not wait for the loop it is called on.
thread_local const HttpServer* current_server = nullptr;
thread_local int current_loop = -1;

}  // namespace

HttpListener::~HttpListener() {
  if (fd >= 0) close(fd);
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options,
                                                         HttpHandler handler) {
  return Make(std::move(options), std::move(handler), nullptr);
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::CreateAsync(HttpServerOptions options,
                                                              AsyncHttpHandler handler) {
  return Make(std::move(options), nullptr, std::move(handler));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Make(HttpServerOptions options,
                                                       HttpHandler handler,
                                                       AsyncHttpHandler async_handler) {
  if (options.workers < 1) options.workers = 1;
  TlsServer* tls = options.tls.get();
  bool local = tls != nullptr && options.local_plain_listener;
  std::string host = options.host;
  int port = options.port;
  std::unique_ptr<HttpServer> server(
      new HttpServer(std::move(options), std::move(handler), std::move(async_handler)));
  auto client_listener = [&server](std::pair<int, int> fd_port, TlsServer* with_tls) {
    auto l = std::make_shared<HttpListener>();
    l->fd = fd_port.first;
    l->port = fd_port.second;
    l->tls = with_tls;
    l->limits = server->options_.limits;
    l->idle_timeout_ms = server->options_.idle_timeout_ms;
    l->read_timeout_ms = server->options_.read_timeout_ms;
    server->listeners_.push_back(std::move(l));
  };
  ASSIGN_OR_RETURN(auto fd_port, Listen(host, port));
  client_listener(fd_port, tls);
  if (local) {
    ASSIGN_OR_RETURN(auto local_fd_port, Listen("127.0.0.1", 0));
    client_listener(local_fd_port, nullptr);
  }
  return server;
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler,
                       AsyncHttpHandler async_handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      async_handler_(std::move(async_handler)),
      shared_(std::make_shared<HttpResponder::Shared>(options_.workers)),
      commands_(static_cast<size_t>(options_.workers)),
      loop_live_(static_cast<size_t>(options_.workers), false),
      loop_clients_done_(static_cast<size_t>(options_.workers), false),
      loop_clients_(new std::atomic<int>[static_cast<size_t>(options_.workers)]) {
  for (int i = 0; i < options_.workers; ++i) loop_clients_[i].store(0);
  ReserveDescriptorForAccept();
}

HttpServer::~HttpServer() {
  shared_->Close();
  for (const auto& mailbox : commands_) {  // connections handed to a loop that never ran
    for (const LoopCommand& cmd : mailbox) {
      if (cmd.adopt_fd >= 0) close(cmd.adopt_fd);
    }
  }
}

StatusOr<HttpServer::Attached> HttpServer::Attach(AttachOptions options, AsyncHttpHandler handler) {
  ASSIGN_OR_RETURN(auto fd_port, Listen(options.host, options.port));
  auto l = std::make_shared<HttpListener>();
  l->fd = fd_port.first;
  l->port = fd_port.second;
  l->attached = true;
  l->limits = options.limits;
  l->idle_timeout_ms = options.idle_timeout_ms;
  l->read_timeout_ms = options.read_timeout_ms;
  l->handler = std::move(handler);
  std::vector<int> wake;
  {
    std::lock_guard<std::mutex> lock(attach_mu_);
    l->id = next_attach_id_++;
    attached_.push_back(l);
    for (size_t i = 0; i < loop_live_.size(); ++i) {
      if (!loop_live_[i]) continue;  // it takes attached_ when it starts
      commands_[i].push_back(LoopCommand{l, 0, nullptr});
      wake.push_back(static_cast<int>(i));
    }
  }
  for (int i : wake) shared_->Wake(i);
  return Attached{l->id, l->port};
}

void HttpServer::Detach(uint64_t id, bool wait) {
  auto pending = std::make_shared<int>(0);
  std::vector<int> wake;
  std::shared_ptr<HttpListener> dropped;
  std::unique_lock<std::mutex> lock(attach_mu_);
  for (auto it = attached_.begin(); it != attached_.end(); ++it) {
    if ((*it)->id == id) {
      dropped = *it;
      attached_.erase(it);
      break;
    }
  }
  if (!dropped) return;
  for (size_t i = 0; i < loop_live_.size(); ++i) {
    if (!loop_live_[i]) continue;
    commands_[i].push_back(LoopCommand{nullptr, id, pending});
    ++*pending;
    wake.push_back(static_cast<int>(i));
  }
  lock.unlock();
  for (int i : wake) shared_->Wake(i);
  if (!wait || current_server == this) return;  // on a loop of ours it could wait for itself
  lock.lock();
  attach_cv_.wait(lock, [&] { return *pending == 0; });
}

std::vector<std::shared_ptr<HttpListener>> HttpServer::LoopStarted(int index) {
  current_server = this;
  current_loop = index;
  std::lock_guard<std::mutex> lock(attach_mu_);
  size_t i = static_cast<size_t>(index);
  loop_live_[i] = true;
  // attached_ is what the loop serves now; only connections handed over before it ran remain.
  std::erase_if(commands_[i], [](const LoopCommand& cmd) { return cmd.adopt_fd < 0; });
  return attached_;
}

std::vector<HttpServer::LoopCommand> HttpServer::TakeCommands(int index) {
  std::lock_guard<std::mutex> lock(attach_mu_);
  std::vector<LoopCommand> out;
  out.swap(commands_[static_cast<size_t>(index)]);
  return out;
}

int HttpServer::LeastLoadedLoop(int self) const {
  int best = self;
  int least = loop_clients_[self].load(std::memory_order_relaxed);
  for (int i = 0; i < options_.workers; ++i) {
    int n = loop_clients_[i].load(std::memory_order_relaxed);
    if (n < least) {
      best = i;
      least = n;
    }
  }
  return best;
}

bool HttpServer::HandOff(int target, int fd, const HttpListener* listener) {
  {
    std::lock_guard<std::mutex> lock(attach_mu_);
    size_t i = static_cast<size_t>(target);
    if (loop_clients_done_[i]) return false;  // exited, or drained (a loop yet to start takes it)
    LoopCommand cmd;
    cmd.adopt_fd = fd;
    cmd.adopt_listener = listener;
    commands_[i].push_back(std::move(cmd));
    loop_clients_[target].fetch_add(1, std::memory_order_relaxed);
  }
  shared_->Wake(target);
  return true;
}

void HttpServer::DropHandedOff(int index, int fd) {
  close(fd);
  connections_.fetch_sub(1);
  loop_clients_[index].fetch_sub(1, std::memory_order_relaxed);
}

void HttpServer::AckRemoval(const LoopCommand& cmd) {
  if (!cmd.pending) return;
  std::lock_guard<std::mutex> lock(attach_mu_);
  if (--*cmd.pending == 0) attach_cv_.notify_all();
}

void HttpServer::LoopClientsDone(int index) {
  std::lock_guard<std::mutex> lock(attach_mu_);
  loop_clients_done_[static_cast<size_t>(index)] = true;
}

void HttpServer::LoopExited(int index) {
  current_server = nullptr;
  current_loop = -1;
  std::lock_guard<std::mutex> lock(attach_mu_);
  size_t i = static_cast<size_t>(index);
  loop_live_[i] = false;
  loop_clients_done_[i] = true;
  for (const LoopCommand& cmd : commands_[i]) {
    if (cmd.pending && --*cmd.pending == 0) attach_cv_.notify_all();
    // Handed over as this loop was leaving: nobody will serve it.
    if (cmd.adopt_fd >= 0) DropHandedOff(index, cmd.adopt_fd);
  }
  commands_[i].clear();
}

bool HttpServer::ClientsDrained() const {
  if (!draining_.load()) return false;
  std::lock_guard<std::mutex> lock(attach_mu_);
  if (!running_) return true;
  for (bool done : loop_clients_done_) {
    if (!done) return false;
  }
  return true;
}

void HttpServer::Stop() {
  stopped_.store(true);
  Shutdown();
}

void HttpServer::Shutdown() {
  // Run() may return, and its owner destroy this server, as soon as the loops see draining_: after
  // that store only `shared` (which outlives the server) is touched.
  auto shared = shared_;
  // Stop listening at once, not only watching: a connection made during the drain is refused
  // instead of waiting in the kernel's queue to be reset at exit, even while every loop is busy in
  // a handler. The descriptor stays open (the loops' epoll sets hold it) until destruction.
  if (!listener_shut_.exchange(true)) {
    for (const auto& l : listeners_) shutdown(l->fd, SHUT_RDWR);
  }
  draining_.store(true);
  shared->WakeAll();
}

Status HttpServer::AddLoopHooks(std::vector<LoopHook*> hooks) {
  if (static_cast<int>(hooks.size()) != options_.workers) {
    return InvalidArgumentError("one loop hook per event loop: " + std::to_string(hooks.size()) +
                                " for " + std::to_string(options_.workers));
  }
  hooks_ = std::move(hooks);
  return Status::Ok();
}

int HttpServer::CurrentLoop() const { return current_server == this ? current_loop : -1; }

void HttpServer::Run() {
  {
    std::lock_guard<std::mutex> lock(attach_mu_);
    running_ = true;
    loop_clients_done_.assign(loop_clients_done_.size(), false);
  }
  std::vector<std::thread> threads;
  // The calling thread runs loop 0 and the other loops' threads inherit its policy; it gets its
  // own back when Run returns.
  const int caller_policy = sched_getscheduler(0);
  sched_param caller_param{};
  const sched_param batch_param{};  // SCHED_BATCH takes priority 0
  const bool yield = options_.loops_yield_to_work && caller_policy >= 0 &&
                     sched_getparam(0, &caller_param) == 0 &&
                     sched_setscheduler(0, SCHED_BATCH, &batch_param) == 0;
  for (int i = 1; i < options_.workers; ++i)
    threads.emplace_back([this, i] { ServerLoop(this, i).Run(); });
  ServerLoop(this, 0).Run();
  for (auto& t : threads) t.join();
  if (yield) (void)sched_setscheduler(0, caller_policy, &caller_param);
  std::lock_guard<std::mutex> lock(attach_mu_);
  running_ = false;
}

}  // namespace modelfn

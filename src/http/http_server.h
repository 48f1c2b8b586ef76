// A small HTTP/1.1 server for function instances and the gateway: keep-alive, pipelining,
// Expect: 100-continue, chunked request bodies, size limits, idle and read timeouts, graceful
// drain, and optionally TLS (HttpServerOptions::tls) on the same event loops.
// The parts: response_writer.h (response heads), responder.h (answers of asynchronous handlers,
// across threads), server_loop.h (one event loop), connection.h (one connection's state and its
// TLS session), poller.h, tls_session.h (the TLS seam; OpenSSL in openssl_tls.h).
//
// Threading: `workers` event-loop threads share the listening sockets (EPOLLEXCLUSIVE). The loop
// that accepts a client connection keeps it, or hands it to a loop holding fewer client
// connections (the kernel wakes one waiter, which takes the whole backlog: without the hand-off a
// burst of connects lands on one loop and the others idle). Each loop owns its connections (TLS
// handshake included) and runs the handler inline for them. The
// handler is synchronous and must be thread-safe. For inference on 1-2 vCPU instances this avoids
// any cross-thread hand-off; a long handler delays only the connections of its own loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
#include "http/loop_hook.h"
#include "http/request_parser.h"
#include "http/responder.h"
#include "http/response_writer.h"
#include "http/tls_session.h"

namespace modelfn {

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse*)>;

// Runs once a request's head (request line and fields) is complete, before its body is read: the
// place to authenticate without reading or parsing what an unauthenticated client sends.
// Return true to go on: the body is read and the handler gets the same request object (what the
// hook stored in request->context reaches it). Return false to answer at once with *early; the
// handler never sees the request. A Content-Length body of at most kMaxDrainAfterEarlyAnswer
// bytes still to come is read and dropped so that the connection stays usable; a larger or chunked
// body, or one the client waits to send (Expect: 100-continue, which is then never granted),
// is not read: the answer carries "Connection: close" and the connection closes.
// Runs on the connection's event loop: must not block; must be thread-safe.
using HeadHandler = std::function<bool(HttpRequest* head, HttpResponse* early)>;
inline constexpr size_t kMaxDrainAfterEarlyAnswer = 64 * 1024;

// Runs on an error answer the server makes itself, before any handler saw the request: a request
// that does not parse, a body over the limit, a request not received in time. `head` holds what
// was parsed of the request (perhaps nothing); the hook adds the fields every answer of the
// service carries (a request id, CORS). Runs on the connection's event loop: must not block; must
// be thread-safe. Not run for attached listeners' connections.
using ErrorHook = std::function<void(const HttpRequest& head, HttpResponse* error)>;

// Takes the request and answers later through `respond`; must not block. Requests after it on the
// same connection (pipelining) wait for its response, so answers stay in order.
using AsyncHttpHandler = std::function<void(HttpRequest request, HttpResponder respond)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  int port = 8080;  // 0 picks a free port; see HttpServer::port()
  int workers = 1;
  ParserLimits limits;
  int idle_timeout_ms = 75'000;   // keep-alive connection with no request in progress
  int read_timeout_ms = 30'000;   // a request whose bytes stop arriving -> 408
  int drain_timeout_ms = 10'000;  // after Shutdown(), in-flight requests get this long
  size_t max_connections = 10'000;
  // HTTPS on host:port instead of HTTP (a TLS implementation: MakeOpenSslTlsServer in
  // openssl_tls.h): each connection does a non-blocking TLS handshake on its event loop, and a
  // client that fails it (plaintext, garbage, or with mutual TLS no certificate the CA signed)
  // is closed before any byte of a request is parsed. A handshake not
  // done within tls_handshake_timeout_ms is closed; a stalled one holds up no other connection
  // and no drain (connections still in the handshake close when the drain begins). After its last
  // answer a TLS connection sends close_notify, then lingers like a plain one, dropping up to
  // kTlsLingerBytes (raw, undecrypted) of what the client still sends.
  std::shared_ptr<TlsServer> tls;
  int tls_handshake_timeout_ms = 10'000;
  // With tls: also serve plain HTTP on 127.0.0.1 at a free port (local_port()), on the same loops,
  // for tools on this machine (`modelfn status`).
  bool local_plain_listener = false;
  // The loops run as SCHED_BATCH threads (Linux; ignored where refused): a loop that a new
  // request wakes does not preempt another thread of the process in the middle of its work; it
  // runs when that thread blocks, on an idle CPU, or at the scheduler's next tick, and then reads
  // every request that arrived meanwhile. For a server whose model runs on threads of its own
  // (dynamic batching): there, waking the loop for each arrival cut every Run into pieces, two
  // context switches per request. It delays a loop only when every CPU it may use is busy.
  bool loops_yield_to_work = false;
};
inline constexpr size_t kTlsLingerBytes = 1 << 20;

// A listener added to a server with HttpServer::Attach: its own address, handler, limits and
// timeouts, served on the server's event loops beside the client listeners.
struct AttachOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port
  ParserLimits limits;
  int idle_timeout_ms = 75'000;
  int read_timeout_ms = 30'000;
};

// A listening socket of an HttpServer, with what its connections follow. The loops' pollers tag
// it by its address. Closes its socket when the last holder drops it.
struct HttpListener {
  HttpListener() = default;
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;
  ~HttpListener();
  int fd = -1;
  int port = 0;
  TlsServer* tls = nullptr;  // options.tls, or null: plain
  bool attached = false;     // added by Attach: its own handler; not part of the client drain
  uint64_t id = 0;           // Attach's id
  ParserLimits limits;
  int idle_timeout_ms = 0;
  int read_timeout_ms = 0;
  AsyncHttpHandler handler;  // attached only
};

// Events of the request-reading path, for tests and diagnostics. Monotonic; read from any thread.
struct HttpServerCounters {
  std::atomic<uint64_t> heads_answered_early{0};  // a HeadHandler answered before the body
  std::atomic<uint64_t> held_peer_closed{0};   // the client half-closed while its request was held
  std::atomic<uint64_t> held_reads_paused{0};  // reading paused behind a held request, buffer full
};

class HttpServer {
 public:
  // Binds and listens (so port() is known at once); does not serve until Run().
  // Errors: Unavailable when the address cannot be bound.
  static StatusOr<std::unique_ptr<HttpServer>> Create(HttpServerOptions options,
                                                      HttpHandler handler);
  // The same with an asynchronous handler (a gateway that holds requests while instances start).
  static StatusOr<std::unique_ptr<HttpServer>> CreateAsync(HttpServerOptions options,
                                                           AsyncHttpHandler handler);
  ~HttpServer();

  int port() const { return listeners_[0]->port; }
  // The plain loopback port of options.local_plain_listener; port() when there is none.
  int local_port() const { return listeners_.back()->port; }

  // Adds a listener (bound at once) served by `handler` on this server's event loops, whether
  // they run already or not yet; no thread is added. Its connections follow `options`' limits
  // and timeouts, not the server's, and take no part in the client drain: after Shutdown() the
  // loops keep serving attached listeners until each is detached (or Stop()). Thread-safe.
  // Returns its id (for Detach) and port. Errors: Unavailable when the address cannot be bound.
  struct Attached {
    uint64_t id = 0;
    int port = 0;
  };
  StatusOr<Attached> Attach(AttachOptions options, AsyncHttpHandler handler);
  // Removes an attached listener: every running loop stops watching it and closes its
  // connections (held requests are dropped: a later answer is ignored). From any thread but the
  // server's loops, returns once every loop did so and the handler will not be called again;
  // on a loop thread of this server it does not wait (the loops drop it on their next turn).
  // With wait false it never waits: the loops drop the listener on their next turn (the handler
  // may still run until then), for callers that hold a lock a loop may wait for. Unknown ids are
  // ignored. Thread-safe.
  void Detach(uint64_t id, bool wait = true);

  // True once Shutdown() ran and every loop has finished its client connections (or the drain
  // timeout passed); true at once after Shutdown() if the loops do not run. Thread-safe.
  bool ClientsDrained() const;
  // Shutdown(), and the loops return even while listeners stay attached. Thread-safe.
  void Stop();

  const HttpServerCounters& counters() const { return counters_; }

  // Installs the hook run on each request head (see HeadHandler). Call before Run().
  void SetHeadHandler(HeadHandler handler) { head_handler_ = std::move(handler); }
  // Installs the hook run on the server's own error answers (see ErrorHook). Call before Run().
  void SetErrorHook(ErrorHook hook) { error_hook_ = std::move(hook); }

  // The number of event loops (options.workers, at least 1).
  int loops() const { return options_.workers; }
  // Installs hooks[i] on loop i (loop_hook.h): watched and swept there from when the loop starts
  // to when it exits. One per loop; call before Run(). The hooks must outlive Run().
  // InvalidArgument when the count differs from loops().
  Status AddLoopHooks(std::vector<LoopHook*> hooks);
  // The index of the loop of this server the calling thread runs, or -1 when it runs none.
  int CurrentLoop() const;

  // Serves until Shutdown(); then stops listening on the client listeners (new connections are
  // refused, not queued), lets requests already in progress finish (their responses carry
  // "Connection: close"), closes idle connections, and returns when all are done or the drain
  // timeout passes, and no listener stays attached (or Stop() was called).
  void Run();

  // Starts the drain. Thread-safe; may be called from any thread, any number of times.
  void Shutdown();

 private:
  // A change of the attached listeners for one running loop (its mailbox: attach_mu_).
  struct LoopCommand {
    std::shared_ptr<HttpListener> add;  // or, when null:
    uint64_t remove = 0;
    std::shared_ptr<int> pending;  // Detach waits until it is 0 (guarded by attach_mu_)
    // Or, when >= 0: a client connection another loop accepted, for this loop to serve.
    int adopt_fd = -1;
    const HttpListener* adopt_listener = nullptr;
  };
  // The loop that should serve a client connection loop `self` just accepted: `self`, unless
  // another loop holds fewer client connections (counting those handed to it on the way).
  int LeastLoadedLoop(int self) const;
  // Queues client connection `fd` (of `listener`) for loop `target` and counts it there. False
  // when that loop no longer takes clients (the caller keeps the connection).
  bool HandOff(int target, int fd, const HttpListener* listener);
  // Closes handed-over connection `fd` that loop `index` will not serve, and uncounts it.
  void DropHandedOff(int index, int fd);
  // Loop `index` starts: marks it live and returns the attached listeners it serves.
  std::vector<std::shared_ptr<HttpListener>> LoopStarted(int index);
  // Loop `index` takes its commands; acknowledges removals (under attach_mu_).
  std::vector<LoopCommand> TakeCommands(int index);
  void AckRemoval(const LoopCommand& cmd);
  // Loop `index` has finished its client connections; with `exiting`, it serves nothing more.
  void LoopClientsDone(int index);
  void LoopExited(int index);
  static StatusOr<std::unique_ptr<HttpServer>> Make(HttpServerOptions options, HttpHandler handler,
                                                    AsyncHttpHandler async_handler);
  HttpServer(HttpServerOptions options, HttpHandler handler, AsyncHttpHandler async_handler);
  friend class ServerLoop;  // one per worker thread (server_loop.h)

  HttpServerOptions options_;
  HttpHandler handler_;
  AsyncHttpHandler async_handler_;
  HeadHandler head_handler_;
  ErrorHook error_hook_;
  std::vector<LoopHook*> hooks_;  // per loop, or empty
  std::shared_ptr<HttpResponder::Shared> shared_;
  // [0] host:port; then the local plain one, if asked for
  std::vector<std::shared_ptr<HttpListener>> listeners_;
  std::atomic<bool> stopped_{false};
  mutable std::mutex attach_mu_;
  std::condition_variable attach_cv_;
  uint64_t next_attach_id_ = 1;                          // guarded by attach_mu_
  std::vector<std::shared_ptr<HttpListener>> attached_;  // guarded by attach_mu_
  std::vector<std::vector<LoopCommand>> commands_;       // per loop; guarded by attach_mu_
  std::vector<bool> loop_live_;                          // guarded by attach_mu_
  std::vector<bool> loop_clients_done_;                  // guarded by attach_mu_
  bool running_ = false;                                 // guarded by attach_mu_
  std::atomic<bool> draining_{false};
  std::atomic<bool> listener_shut_{false};  // shutdown(2) of the listeners, once
  std::atomic<size_t> connections_{0};
  // Per loop: client connections it serves or that were handed to it and not yet taken.
  std::unique_ptr<std::atomic<int>[]> loop_clients_;
  HttpServerCounters counters_;
};

}  // namespace modelfn

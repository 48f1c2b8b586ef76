// A small HTTP/1.1 server for function instances and the gateway: keep-alive, pipelining,
// Expect: 100-continue, chunked request bodies, size limits, idle and read timeouts, graceful
// drain, and optionally TLS (HttpServerOptions::tls) on the same event loops.
// The parts: response_writer.h (response heads), responder.h (answers of asynchronous handlers,
// across threads), server_loop.h (one event loop), connection.h (one connection's state and its
// TLS session), poller.h, tls_session.h (the TLS seam; OpenSSL in openssl_tls.h).
//
// Threading: `workers` event-loop threads share the listening sockets (EPOLLEXCLUSIVE); each owns
// the connections it accepts (TLS handshake included) and runs the handler inline for them. The
// handler is synchronous and must be thread-safe. For inference on 1-2 vCPU instances this avoids
// any cross-thread hand-off; a long handler delays only the connections of its own loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
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
};
inline constexpr size_t kTlsLingerBytes = 1 << 20;

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

  int port() const { return listeners_[0].port; }
  // The plain loopback port of options.local_plain_listener; port() when there is none.
  int local_port() const { return listeners_.back().port; }

  const HttpServerCounters& counters() const { return counters_; }

  // Installs the hook run on each request head (see HeadHandler). Call before Run().
  void SetHeadHandler(HeadHandler handler) { head_handler_ = std::move(handler); }

  // Serves until Shutdown(); then stops listening (new connections are refused, not queued), lets
  // requests already in progress finish
  // (their responses carry "Connection: close"), closes idle connections and returns when all are
  // done or the drain timeout passes.
  void Run();

  // Starts the drain. Thread-safe; may be called from any thread, any number of times.
  void Shutdown();

 private:
  // A listening socket; its address is the tag the loops' pollers report it with.
  struct Listener {
    int fd = -1;
    int port = 0;
    TlsServer* tls = nullptr;  // options.tls, or null: plain
  };
  static StatusOr<std::unique_ptr<HttpServer>> Make(HttpServerOptions options, HttpHandler handler,
                                                    AsyncHttpHandler async_handler);
  HttpServer(HttpServerOptions options, HttpHandler handler, AsyncHttpHandler async_handler);
  friend class ServerLoop;  // one per worker thread (server_loop.h)

  HttpServerOptions options_;
  HttpHandler handler_;
  AsyncHttpHandler async_handler_;
  HeadHandler head_handler_;
  std::shared_ptr<HttpResponder::Shared> shared_;
  std::vector<Listener> listeners_;  // [0] host:port; then the local plain one, if asked for
  std::atomic<bool> draining_{false};
  std::atomic<bool> listener_shut_{false};  // shutdown(2) of the listeners, once
  std::atomic<size_t> connections_{0};
  HttpServerCounters counters_;
};

}  // namespace modelfn

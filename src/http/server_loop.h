// One event loop of an HttpServer: accepts from the shared listener (or takes the client
// connections another loop accepted and handed over, to even the load), reads, parses and answers
// the connections it accepted, writes the answers asynchronous handlers post to its mailbox, and
// keeps the deadlines (read timeout -> 408, idle keep-alive, linger, drain).
//
// Threading: Run() runs on one thread, which alone touches this loop's connections. Other threads
// reach it only through the server's HttpResponder::Shared (mailbox + eventfd), the server's
// draining flag and the server's attach mailbox (HttpServer::Attach / Detach, applied when the
// wakeup descriptor fires).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/connection.h"
#include "http/loop_hook.h"
#include "http/poller.h"
#include "http/problem.h"
#include "http/response_writer.h"

namespace modelfn {

class HttpServer;

class ServerLoop {
 public:
  // Loop number `index` (0 .. workers-1) of `server`, which outlives it.
  ServerLoop(HttpServer* server, int index);
  ~ServerLoop();  // closes the connections still open

  // Serves until the server drains: after Shutdown(), idle connections close at once, those with
  // a request in progress finish it (answered with "Connection: close"); returns when none is
  // left or the drain timeout passed.
  void Run();

 private:
  // Listening sockets: tags are HttpListener addresses (the server's, and attached_).
  bool IsListener(const void* tag) const;
  void WatchListeners(bool on);
  void WatchClientListeners(bool on);
  // Applies the Attach / Detach commands the server queued for this loop.
  void ApplyCommands();
  // Closes every connection of the attached listener `l` and stops watching it.
  void DropAttached(const HttpListener* l);
  // Accepts what the listener holds; client connections go to the least loaded loop.
  void AcceptAll(const void* listener);
  // Serves accepted connection `cfd` on this loop (already counted in the server's totals).
  void Adopt(int cfd, const HttpListener& listener);
  // TLS: takes the handshake on; once done, the connection reads like a plain one.
  void OnHandshake(Connection* c);
  void OnReadable(Connection* c);
  void OnLingerReadable(Connection* c);
  // Writes what `out` holds. Returns false when the connection was closed.
  bool Flush(Connection* c);
  // Parses and serves every complete request in c->in. Returns false if c was closed.
  bool Process(Connection* c);
  void ReplyError(Connection* c, const Problem& p);
  // Writes the answers of asynchronous handlers that arrived for this loop.
  void Deliver();
  // The drain begins: stop accepting, close idle connections.
  void BeginDrain();
  // Once a second (and on every turn while draining): linger, read and idle deadlines.
  void Sweep(int64_t now);
  // Watches c for reads, and for writes too when `write`.
  void Watch(Connection* c, bool write);
  void Close(Connection* c);
  bool Draining() const;
  // Draining, and c came through a client listener (attached ones are not drained).
  bool DrainingFor(const Connection* c) const;

  HttpServer* server_;
  int index_;
  int wake_fd_;
  LoopHook* hook_ = nullptr;  // the server's hook for this loop, if any
  Poller poller_;
  std::unordered_map<int, std::unique_ptr<Connection>> conns_;
  std::vector<std::shared_ptr<HttpListener>> attached_;  // this loop's copy of the attached ones
  size_t client_conns_ = 0;                              // conns_ of client listeners
  bool clients_done_ = false;                            // the drain of client connections is over
  std::unordered_map<uint64_t, Connection*> awaiting_;   // connections holding a request, by token
  std::vector<std::pair<uint64_t, HttpResponse>> arrived_;
  uint64_t next_token_ = 1;
  bool listening_ = true;
  int64_t accept_paused_until_ = 0;  // out of descriptors: the listener is out of the set till then
  int64_t drain_deadline_ = 0;
  int64_t last_sweep_ = 0;
};

}  // namespace modelfn

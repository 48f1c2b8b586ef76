// Upstream (upstream.h) on an HttpServer's event loops: the gateway's connections to http-mode
// instances live on the same loops as its clients, with no thread per call.
//
// Each loop has its own set of connections (keep-alive, reused per port; an idle one the peer
// closes is dropped before it could be reused), its own epoll set watched by the loop (loop_hook.h)
// and a mailbox for calls from other threads. A call made on one of the server's loop threads
// runs on that loop with no hand-off; one from another thread goes to the loops in turn.
// Responses are parsed by the maintained http-parser library (Content-Length, chunked and
// close-delimited bodies). Failures are typed as upstream.h says: a refused connect is kConnect; a
// broken, stalled (call.stall_timeout_ms, checked by the loop's sweep), malformed or too large
// answer is kExchange. Callbacks run on the loop's thread, after Exchange returned.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "http/http_server.h"
#include "http/upstream.h"

namespace modelfn {

struct LoopUpstreamOptions {
  size_t max_idle_per_port = 64;  // keep-alive connections kept per loop and port
  int idle_timeout_ms = 30'000;   // an idle connection is closed after this
};

class LoopUpstream final : public Upstream {
 public:
  // Installs its hooks on `server` (HttpServer::AddLoopHooks): call before server->Run(). The
  // server's loops must not run after this object is destroyed.
  static StatusOr<std::unique_ptr<LoopUpstream>> Create(HttpServer* server,
                                                        LoopUpstreamOptions options = {});
  // Fails what is still pending (Unavailable, kExchange; kConnect for calls never started).
  ~LoopUpstream() override;

  // Before the loops run, calls wait in the mailbox; after they stopped, a call fails at once
  // (Unavailable, kConnect), its callback on a thread of its own.
  void Exchange(UpstreamCall call, UpstreamDone done) override;

  // Connections open now, over every loop (active and idle): for tests.
  size_t OpenConnections() const;

  class Loop;

 private:
  LoopUpstream(HttpServer* server, LoopUpstreamOptions options);

  HttpServer* server_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<uint32_t> next_{0};
};

}  // namespace modelfn

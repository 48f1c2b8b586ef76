// `modelfn up`: the gateway and the instance pools of every function in modelfn.yaml, on one
// machine. The gateway authenticates (API keys with usage plans, JWT), applies CORS and limits,
// picks the function (path, ?model=, "model" in the body, V2 path) and the version (canary
// weights), and hands the request to that version's pool, which holds it while an instance
// starts. Everything the gateway answers itself is RFC 9457 problem+json with a stable code
// ({"error", "code"} under /v2, as the Open Inference Protocol says).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "http/http_server.h"
#include "manifest/manifest.h"
#include "platform/config.h"
#include "platform/jwt.h"
#include "platform/keys.h"
#include "platform/metrics.h"
#include "platform/rate_limit.h"
#include "platform/tls_front.h"
#include "pool/pool.h"
#include "store/object_store.h"
#include "store/registry.h"

namespace modelfn {

struct PlatformOptions {
  std::string fn_binary;  // modelfn-fn
  const Clock* clock = nullptr;
  int tick_ms = 20;            // pool timers
  int pointer_poll_ms = 1000;  // how often current.json is re-read
  bool access_log = true;
  std::string memory_limit_override;  // MODELFN_MEMORY_LIMIT: rlimit | none | ""
};

class Platform {
 public:
  // Opens the store, resolves each function's version(s) and reads their manifests, opens the
  // keys database and the JWKS, binds the listener. Errors name what is wrong.
  static StatusOr<std::unique_ptr<Platform>> Create(PlatformConfig config, PlatformOptions options);
  ~Platform();

  int port() const { return tls_ ? tls_->port() : server_->port(); }
  std::string url() const;
  // Pre-warms min instances, then serves until Shutdown(); returns after a graceful stop.
  void Run();
  void Shutdown();  // thread-safe, idempotent

  // The JSON of GET /v1/status (also what `modelfn status` prints).
  std::string StatusJson() const;

 private:
  struct Variant {
    std::string version;  // "" until resolved
    int weight = 1;
    std::unique_ptr<InstancePool> pool;
    Manifest manifest;
  };
  struct Function {
    FunctionConfig config;
    bool follows_pointer = false;
    std::vector<Variant> variants;
    int total_weight = 0;
  };
  struct Target {
    Function* fn = nullptr;
    std::string path;     // as the function sees it
    std::string version;  // "" = any (canary decides)
    std::string route;    // metrics label
  };
  struct Principal {
    std::string id;  // "key:<id>", "jwt:<sub>", or "" when auth is off
    std::string plan;
  };

  Platform(PlatformConfig config, PlatformOptions options);
  void Handle(HttpRequest req, HttpResponder respond);
  // The HttpServer's HeadHandler: authenticates from the request head, before the body is read,
  // and stores the Principal in head->context. False with *early (401/403, CORS, X-Request-Id)
  // when the credentials are missing or wrong. Runs on the server's event loops.
  bool CheckHead(HttpRequest* head, HttpResponse* early);
  // Whether `path` needs credentials when auth is on: everything but health routes, the dashboard
  // page (it holds no data) and gateway.public_routes.
  bool NeedsAuth(const std::string& path) const;
  // The Principal CheckHead stored, or Authenticate() when there is none.
  bool Authorized(const HttpRequest& req, bool v2, Principal* who, HttpResponse* refusal);
  bool Authenticate(const HttpRequest& req, bool v2, Principal* who, HttpResponse* refusal);
  bool ApplyPlan(const Principal& who, bool v2,
                 std::vector<std::pair<std::string, std::string>>* headers, HttpResponse* refusal);
  StatusOr<Target> Route(const HttpRequest& req);
  Variant* PickVariant(Function* fn, const std::string& version, const std::string& request_id);
  HttpResponse ErrorResponse(const std::string& code, const std::string& detail, bool v2) const;
  // Access-Control-Allow-Origin and friends when `origin` is allowed ("" when none was sent).
  void AddCors(const std::string& origin, HttpResponse* resp) const;
  // After the listener stopped: the TLS terminator, the timers and every pool (idempotent).
  void StopBehindTheListener();
  bool OriginAllowed(const std::string& origin) const;
  std::string OpenApiJson() const;
  std::string MetricsText() const;
  std::string HealthJson() const;
  std::string ModelsJson() const;
  void ManagerLoop();
  void PointerLoop();
  Status WriteStateFile() const;

  PlatformConfig config_;
  PlatformOptions options_;
  const Clock* clock_;
  EventLog log_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<ModelRegistry> registry_;
  MemoryLimiter memory_;
  std::unique_ptr<WorkerThreads> workers_;
  PoolEnv pool_env_;
  std::vector<std::unique_ptr<Function>> functions_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<TlsFront> tls_;  // gateway.tls: the public listener, relaying to server_
  std::thread tls_thread_;
  GatewayMetrics metrics_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<JwksVerifier> jwks_;
  JwtPolicy jwt_policy_;
  RateLimiter rate_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};  // Run() was called
  std::atomic<bool> drained_{false};  // the listener's drain is over: the pool timers stop
  std::thread manager_;
  std::thread pointer_watch_;
  int64_t started_ns_ = 0;
  // Opt-in response cache (response_cache: true), bounded.
  mutable std::mutex cache_mu_;
  std::unordered_map<std::string, ForwardReply> cache_;
  std::deque<std::string> cache_order_;
};

}  // namespace modelfn

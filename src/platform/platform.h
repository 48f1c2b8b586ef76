// `modelfn up`: the gateway and the instance pools of every function in modelfn.yaml, on one
// machine. This is the composition root: it turns the configuration into the store, the keys
// database, the JWKS, one instance pool per function version, the gateway's pipeline of stages
// (src/gateway/pipeline.h: authentication, plans, CORS, routing, canary choice, caching), the
// listener (HTTPS on its own event loops with gateway.tls), the pool timers and the loop that
// follows promotions in the store.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "gateway/backend.h"
#include "gateway/cache_stage.h"
#include "gateway/exchange.h"
#include "gateway/jwt.h"
#include "gateway/keys.h"
#include "gateway/metrics.h"
#include "gateway/pipeline.h"
#include "gateway/rate_limit.h"
#include "gateway/route_table.h"
#include "gateway/traffic_recorder.h"
#include "http/http_server.h"
#include "http/loop_upstream.h"
#include "manifest/manifest.h"
#include "observe/tracer.h"
#include "platform/config.h"
#include "platform/platform_async.h"
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
  std::string cpu_limit_override;     // MODELFN_CPU_LIMIT: cgroup | emulate | none | ""
};

class Platform {
 public:
  // Opens the store, resolves each function's version(s) and reads their manifests, opens the
  // keys database and the JWKS, builds the pipeline, binds the listener. Errors name what is wrong.
  static StatusOr<std::unique_ptr<Platform>> Create(PlatformConfig config, PlatformOptions options);
  ~Platform();

  int port() const { return server_->port(); }
  std::string url() const;
  // Pre-warms min instances, then serves until Shutdown(); returns after a graceful stop.
  void Run();
  void Shutdown();  // thread-safe, idempotent

  // The JSON of GET /v1/status (also what `modelfn status` prints).
  std::string StatusJson() const;

  // Applies a new modelfn.yaml to requests that arrive from now on (requests in flight finish
  // under the settings they started with): CORS origins, public routes, usage plans, and each
  // function's traffic weights, sticky_traffic and response_cache. A configuration that changes
  // anything else (functions, versions, instance settings, listener, auth, store) is refused
  // (FailedPrecondition naming the fields: they need a restart) and the running one kept; so is
  // an invalid one (`next` holds its error). Logs the outcome. Thread-safe.
  Status Reload(StatusOr<PlatformConfig> next);

 private:
  struct Variant {
    std::string version;  // "" until resolved
    std::unique_ptr<InstancePool> pool;
    std::unique_ptr<gateway::Backend> backend;  // the pipeline's view of `pool`
    Manifest manifest;
  };
  struct Function {
    FunctionConfig config;
    bool follows_pointer = false;
    std::vector<Variant> variants;
  };

  Platform(PlatformConfig config, PlatformOptions options);
  Status OpenAuth();
  // The stages for `c` over functions_ (complete by then); also publishes c's function routes.
  gateway::StageList BuildStages(const PlatformConfig& c);
  std::vector<gateway::LocalRoute> LocalRoutes(const PlatformConfig& c);
  // The function routes in effect (the traffic weights /v1/status and /v1/models report).
  std::shared_ptr<const std::vector<gateway::FunctionRoute>> CurrentRoutes() const;
  // After the listener stopped: the timers and every pool (idempotent).
  void StopBehindTheListener();
  // The bodies of the local routes (platform_status.cc). Thread-safe.
  std::string OpenApiJson() const;
  // Prometheus text (0.0.4); `openmetrics`: with the latency buckets' exemplars, for
  // gateway::ToOpenMetrics.
  std::string MetricsText(bool openmetrics = false) const;
  std::string HealthJson() const;
  std::string ModelsJson() const;
  // GET /v1/plan/{function}: a plan of the function for the traffic it has had (or ?traffic=),
  // made on a worker thread; HTML, or JSON when asked (Accept: application/json).
  void PlanRoute(const std::string& function, const HttpRequest& request,
                 std::function<void(HttpResponse)> done);
  void ManagerLoop();
  // The pools close (instances stop; in-flight lambda requests still reach the Runtime API on
  // the loops), once.
  void ClosePools();
  void PointerLoop();
  Status WriteStateFile() const;

  PlatformConfig config_;
  PlatformOptions options_;
  const Clock* clock_;
  EventLog log_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<ModelRegistry> registry_;
  MemoryLimiter memory_;
  CpuLimiter cpu_;  // outlives the pools: it resumes what its emulation stopped
  std::unique_ptr<WorkerThreads> workers_;
  // The gateway's loops serve the lambda instances' Runtime API (null server: instances serve
  // their own); outlives the pools.
  class LoopRuntimeApi final : public RuntimeApiHost {
   public:
    StatusOr<HttpServer::Attached> Attach(AttachOptions options, AsyncHttpHandler handler) override;
    void Detach(uint64_t id) override;
    std::atomic<HttpServer*> server{nullptr};
  };
  LoopRuntimeApi runtime_api_;
  // Carries requests to http-mode instances on the gateway's loops (upstream_, once the server
  // exists); outlives the pools.
  class GatewayUpstream final : public Upstream {
   public:
    void Exchange(UpstreamCall call, UpstreamDone done) override;
    std::atomic<Upstream*> real{nullptr};
  };
  GatewayUpstream upstream_ref_;
  std::once_flag pools_closed_;
  PoolEnv pool_env_;
  // Asynchronous invocations; outlives the pools (their last answers reach it).
  // The gateway's spans (MODELFN_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_*; off without one). The
  // instances read the same environment and export their own. Declared before what records into
  // it (the async queue's triggers, the pipeline), so it outlives them.
  std::unique_ptr<observe::Tracer> tracer_;
  std::unique_ptr<PlatformAsync> async_;
  std::vector<std::unique_ptr<Function>> functions_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<LoopUpstream> upstream_;  // on server_'s loops; destroyed before it
  GatewayMetrics metrics_;
  // Arrivals per function, for GET /v1/plan/{function} (platform_plan.cc); one plan at a time.
  std::unique_ptr<gateway::TrafficRecorder> traffic_;
  std::atomic<bool> planning_{false};
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<JwksVerifier> jwks_;
  RateLimiter rate_;              // shared by every configuration's rate-limit stage
  gateway::ResponseCache cache_;  // and response cache
  std::unique_ptr<gateway::Pipeline> pipeline_;
  std::mutex reload_mu_;  // one Reload at a time
  mutable std::mutex routes_mu_;
  std::shared_ptr<const std::vector<gateway::FunctionRoute>> routes_;  // guarded by routes_mu_
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};  // Run() was called
  std::atomic<bool> drained_{false};  // the listener's drain is over: the pool timers stop
  std::thread manager_;
  std::thread pointer_watch_;
  int64_t started_ns_ = 0;
  int state_lock_fd_ = -1;  // flock on <state_dir>/up.lock while this platform lives
};

}  // namespace modelfn

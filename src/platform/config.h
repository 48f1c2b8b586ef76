// modelfn.yaml: the functions `modelfn up` serves and the gateway in front of them. Loaded once at
// start; every value is checked here so that a typo fails the start with the field's path instead
// of misbehaving later.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace modelfn {

enum class InstanceMode { kLambda, kHttp };
// Which cloud's code path an instance runs (modelfn-fn's face, src/faces/face_choice.h), chosen by
// the environment the platform gives it: kLambda (the Runtime API; lambda mode), kHttp (HTTP on a
// port), kCloudEvents (K_SERVICE: Cloud Run / Knative, HTTP plus CloudEvents), kAzure
// (FUNCTIONS_CUSTOMHANDLER_PORT: the request forwarded as the Azure Functions host does, under
// /api). The last three are http mode.
enum class InstanceFace { kLambda, kHttp, kCloudEvents, kAzure };
// "lambda", "http", "cloudevents", "azure".
const char* InstanceFaceName(InstanceFace face);
// How instances start: forked from a template process of the function version (fork: where it can,
// else exec), or exec'd each time (exec). kDefault: the platform-wide `start:` setting.
enum class StartMode { kDefault, kFork, kExec };

struct TrafficSplit {
  std::string version;  // pinned model version
  int weight = 0;       // share of requests, relative to the other entries
};

// `async:`: asynchronous invocations of a function (POST /v1/async/{function}, docs/events.md).
struct AsyncConfig {
  int max_retries = 2;       // sends after the first, for retryable failures (Lambda's default)
  double max_age_s = 21600;  // an invocation not done by then fails (Lambda's 6 hours)
  double retry_base_s = 1;   // first retry after 0.5-1x this, doubling up to retry_cap_s
  double retry_cap_s = 300;
  std::string on_success, on_failure;  // destinations: a folder or store URI prefix, "" none
  double idempotency_window_s = 3600;  // a repeated Idempotency-Key within it: the same invocation
  int max_in_flight = 0;               // sends at once; 0: max_instances x concurrency
};

// `sqs:`: an SQS queue that feeds the function (lambda mode), docs/events.md.
struct SqsConfig {
  std::string queue_url;  // "" none
  int batch_size = 10;
  double batching_window_s = 0;
  int visibility_timeout_s = 30;
};

struct FunctionConfig {
  std::string name;     // the key under functions:; routes use it
  std::string model;    // model name in the store
  std::string version;  // pinned version; empty: follow the store's current.json pointer
  InstanceMode mode = InstanceMode::kLambda;
  // `face:`; without it, the mode's own (lambda or http). A face implies its mode.
  InstanceFace face = InstanceFace::kLambda;
  int concurrency = 1;  // requests at once per instance (always 1 in lambda mode)
  int min_instances = 0;
  int max_instances = 8;  // when not configured: the host's CPUs (see ParsePlatformConfig)
  double idle_ttl_s = 60;
  double timeout_s = 30;
  int memory_mb = 512;
  // `cpus:`: CPUs' worth of time each instance may use, enforced (pool/cpu_limit.h), in
  // [0.05, 64]; 0 (absent): no limit.
  double cpus = 0;
  int max_queue = 64;                 // requests held while every instance is busy; more get 429
  double queue_timeout_s = 10;        // a held request not dispatched by then gets 503
  std::vector<TrafficSplit> traffic;  // canary: empty means one pool
  bool sticky_traffic = false;        // split by the X-Request-Id hash instead of at random
  bool response_cache = false;        // identical requests answered from memory (deterministic)
  std::map<std::string, std::string> env;
  // lambda mode: a custom runtime to run instead of modelfn-fn (argv; the first word is looked up
  // on PATH), e.g. a bootstrap from a package or another language's runtime client.
  std::vector<std::string> command;
  // fork or exec (functions with a `command:` always exec); kDefault is resolved by
  // ParsePlatformConfig to the top-level `start:` (default fork).
  StartMode start = StartMode::kDefault;
  std::string threads;  // `threads:` as written ("" when absent); instances get it in env
  // Lambda mode's `batching:`: requests waiting for an instance (from zero, or above capacity)
  // are sent to it merged, up to this many per invocation (pool/held_batch.h). 0: one by one.
  int held_batch = 0;
  AsyncConfig async;
  SqsConfig sqs;
};

struct JwtConfig {
  std::string jwks;  // file path or http:// URL
  std::string issuer;
  std::vector<std::string> audience;
  double leeway_s = 30;
};

// The platform's own GET routes that gateway.public_routes may open. /dashboard (the page itself)
// holds no data and is always served; what it shows comes from /v1/status and /metrics.
inline constexpr const char* kPublishableRoutes[] = {"/openapi.json", "/v1/models", "/v2",
                                                     "/v1/status", "/metrics"};

// One of `triggers:`: new objects under a store prefix delivered to a function (docs/events.md).
struct TriggerSpec {
  std::string function;
  // The event shape: "s3" (S3 events, lambda mode), "gs" (CloudEvents, face cloudevents), "az"
  // (Azure blob invocations, face azure).
  std::string shape;
  std::string bucket;  // SCHEME://BUCKET/..., or the name a folder source's events give its parent
  std::string source_id;   // "s3://BUCKET", ..., "file:///PARENT": names the source in keys
  std::string local_root;  // a folder source: the parent folder (the bucket); empty otherwise
  std::string prefix;      // the key prefix watched, ending in '/' unless empty
  std::string suffix;      // only keys ending so
  double poll_s = 1;
};

struct GatewayConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  bool api_keys = false;
  bool jwt_enabled = false;
  JwtConfig jwt;
  std::string tls_cert;                   // gateway.tls: serve HTTPS with this certificate chain...
  std::string tls_key;                    // ...and key
  std::string tls_client_ca;              // mutual TLS: clients need a certificate this CA signed
  std::vector<std::string> cors_origins;  // "*" allows any
  size_t max_body_bytes = 6 * 1024 * 1024;
  // Listening on a non-loopback address with no auth needs this, spelled out.
  bool allow_unauthenticated = false;
  int workers = 0;  // 0: one per CPU
  // After SIGTERM, requests in flight get this long to finish; those still unanswered then are
  // answered 503 "shutting_down" and their connections close.
  double drain_timeout_s = 10;
  // With auth on, the platform's own routes need credentials like the functions (health routes
  // excepted); those listed here are served to anyone. Each is one of kPublishableRoutes.
  std::vector<std::string> public_routes;

  bool HasAuth() const { return api_keys || jwt_enabled || !tls_client_ca.empty(); }
};

struct PlanConfig {
  std::string name;
  double rate_per_s = 0;  // 0: unlimited
  double burst = 0;
  int64_t daily_quota = 0;  // 0: none
  int64_t monthly_quota = 0;
};

struct PlatformConfig {
  std::string base_dir;   // the config file's folder: relative paths start here
  std::string store;      // store URI (file:///abs/path, s3://...)
  std::string state_dir;  // keys database, instance logs, status file
  std::vector<FunctionConfig> functions;
  GatewayConfig gateway;
  std::vector<PlanConfig> plans;

  const FunctionConfig* Find(std::string_view name) const;
  const PlanConfig* FindPlan(std::string_view name) const;
  std::vector<TriggerSpec> triggers;
  // Ended asynchronous invocations are deleted from the queue this long after they ended.
  double async_retention_s = 7 * 86400;
};

// Errors: InvalidArgument naming the field ("functions.digits.max_instances: ...").
// `host_cpus` sizes the defaults that follow the host (max_instances); 0: the CPUs this process
// may use (the CPU quota, common/cpu_quota.h).
StatusOr<PlatformConfig> ParsePlatformConfig(const Json& doc, const std::string& base_dir,
                                             int host_cpus = 0);
// Reads YAML (or JSON) from `path`. Errors: NotFound, InvalidArgument.
StatusOr<PlatformConfig> LoadPlatformConfig(const std::string& path);

// True for "localhost" and for addresses in 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z); a name
// that merely starts with "127." is not.
bool IsLoopbackHost(const std::string& host);

}  // namespace modelfn

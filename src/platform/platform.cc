#include "platform/platform.h"

#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/cpu_quota.h"
#include "common/files.h"
#include "common/json.h"
#include "gateway/auth_stage.h"
#include "gateway/cache_stage.h"
#include "gateway/cors_stage.h"
#include "gateway/dashboard.h"
#include "gateway/forward_stage.h"
#include "gateway/local_route_stage.h"
#include "gateway/observe_stage.h"
#include "gateway/plan_stage.h"
#include "gateway/request_id_stage.h"
#include "gateway/route_stage.h"
#include "gateway/version_stage.h"
#include "http/http_client.h"
#include "http/loop_upstream.h"
#include "http/openssl_tls.h"
#include "pool/orphans.h"
#include "store/open_store.h"
#include "store/store_uri.h"

namespace modelfn {
namespace {

constexpr int64_t kMs = 1'000'000;

// The pipeline's Backend over one instance pool: both speak pool/forward_types.h.
class PoolBackend final : public gateway::Backend {
 public:
  explicit PoolBackend(InstancePool* pool) : pool_(pool) {}
  std::string version() const override { return pool_->version(); }
  void Submit(ForwardRequest request, ReplyFn done) override {
    pool_->Submit(std::move(request), std::move(done));
  }

 private:
  InstancePool* pool_;
};

}  // namespace

Platform::Platform(PlatformConfig config, PlatformOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      clock_(options_.clock),
      log_(STDOUT_FILENO, options_.clock) {}

StatusOr<HttpServer::Attached> Platform::LoopRuntimeApi::Attach(AttachOptions options,
                                                                AsyncHttpHandler handler) {
  HttpServer* s = server.load();
  if (s == nullptr) return UnavailableError("no gateway to attach the Runtime API to");
  return s->Attach(std::move(options), std::move(handler));
}

void Platform::LoopRuntimeApi::Detach(uint64_t id) {
  if (HttpServer* s = server.load()) s->Detach(id, /*wait=*/false);
}

void Platform::GatewayUpstream::Exchange(UpstreamCall call, UpstreamDone done) {
  if (Upstream* u = real.load()) {
    u->Exchange(std::move(call), std::move(done));
    return;
  }
  // No gateway (yet, or any more): not on the caller's stack, which may hold the pool's lock.
  std::thread([done = std::move(done)] {
    done(StatusOr<HttpReply>(UnavailableError("the gateway is not running")),
         HttpFailure::kConnect);
  }).detach();
}

Platform::~Platform() {
  Shutdown();
  StopBehindTheListener();
  runtime_api_.server.store(nullptr);
  upstream_ref_.real.store(nullptr);
  if (workers_) workers_->Stop();
  memory_.RemoveRoot();
  cpu_.RemoveRoot();
  if (state_lock_fd_ >= 0) close(state_lock_fd_);
}

StatusOr<std::unique_ptr<Platform>> Platform::Create(PlatformConfig config,
                                                     PlatformOptions options) {
  if (options.clock == nullptr) options.clock = &RealClock::Get();
  std::unique_ptr<Platform> p(new Platform(std::move(config), std::move(options)));
  const PlatformConfig& c = p->config_;
  p->started_ns_ = p->clock_->MonotonicNanos();
  for (const std::string& dir : {c.state_dir, c.state_dir + "/logs"}) {
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return UnavailableError("cannot create " + dir + ": " + strerror(errno));
    }
  }
  // One platform per state folder: two would share its queue, keys and instances' records.
  const std::string lock_path = c.state_dir + "/up.lock";
  p->state_lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (p->state_lock_fd_ < 0) {
    return UnavailableError("cannot open " + lock_path + ": " + strerror(errno));
  }
  if (flock(p->state_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status(StatusCode::kFailedPrecondition,
                  "another modelfn up serves the state folder " + c.state_dir +
                      ": stop it first, or give this one another state_dir",
                  "state_dir_in_use");
  }
  struct stat st;
  if (stat(p->options_.fn_binary.c_str(), &st) != 0 || !(st.st_mode & S_IXUSR)) {
    return NotFoundError("function binary not found: " + p->options_.fn_binary +
                         " (set MODELFN_FN_BINARY)");
  }
  ASSIGN_OR_RETURN(StoreUri uri, ParseStoreUri(c.store));
  ASSIGN_OR_RETURN(p->store_, OpenStore(uri, p->clock_));
  p->registry_ = std::make_unique<ModelRegistry>(p->store_.get(), p->clock_);

  p->memory_ = MemoryLimiter::Detect("modelfn-up-" + std::to_string(getpid()),
                                     p->options_.memory_limit_override);
  const std::string& cpu_override = p->options_.cpu_limit_override;
  if (!cpu_override.empty() && cpu_override != "cgroup" && cpu_override != "emulate" &&
      cpu_override != "none") {
    return InvalidArgumentError("MODELFN_CPU_LIMIT is cgroup, emulate or none, not \"" +
                                cpu_override + "\"");
  }
  // The memory limiter's group name: under cgroup v2 an instance's two limits are one folder.
  p->cpu_ = CpuLimiter::Detect("modelfn-up-" + std::to_string(getpid()), cpu_override);
  if (cpu_override == "cgroup" && p->cpu_.kind() == CpuLimitKind::kNone) {
    return Status(StatusCode::kFailedPrecondition,
                  "MODELFN_CPU_LIMIT=cgroup, but no CPU cgroup can be made here (unset it to "
                  "emulate the limits)");
  }
  // Blocking work only (process starts, readiness waits of http-mode instances, template starts
  // and stops, memory-group moves): requests to instances travel on the gateway's loops. A
  // template start holds its thread for the template's init, so each function version may hold
  // one beside the rest; a readiness wait holds one for an instance's init, and the host's init
  // slots (one per CPU) bound how many instances start at once.
  size_t variants = 0;
  for (const auto& f : c.functions) variants += std::max<size_t>(1, f.traffic.size());
  size_t cpus = static_cast<size_t>(std::max(1, ReadCpuQuota().EffectiveCpus()));
  p->workers_ =
      std::make_unique<WorkerThreads>(std::min<size_t>(std::max<size_t>(4, cpus) + variants, 64));
  PoolEnv& env = p->pool_env_;
  env.fn_binary = p->options_.fn_binary;
  env.store_uri = c.store;
  env.log_dir = c.state_dir + "/logs";
  env.instance_dir = c.state_dir + "/instances";
  if (mkdir(env.instance_dir.c_str(), 0755) != 0 && errno != EEXIST) env.instance_dir.clear();
  if (int n = KillLeftoverInstances(env.instance_dir); n > 0) {
    p->log_.Message("warn",
                    "killed " + std::to_string(n) +
                        " process group(s) left by an earlier platform on this state folder");
  }
  env.base_env = PassThroughEnv();
  if (!env.base_env.count("MODELFN_CACHE_DIR"))
    env.base_env["MODELFN_CACHE_DIR"] = c.state_dir + "/cache";
  env.clock = p->clock_;
  env.memory = &p->memory_;
  env.cpu = &p->cpu_;
  env.workers = p->workers_.get();
  env.templates = true;
  env.runtime_api = &p->runtime_api_;
  env.upstream = &p->upstream_ref_;
  Platform* self = p.get();
  env.log = [self](const std::string& level, const std::string& message) {
    self->log_.Message(level, message);
  };

  for (const FunctionConfig& fc : c.functions) {
    if (fc.cpus > 0 && p->cpu_.kind() == CpuLimitKind::kNone) {
      p->log_.Message("warn", "function " + fc.name +
                                  ": cpus is not enforced (MODELFN_CPU_LIMIT=none), its "
                                  "instances use what CPU they find");
    }
    auto fn = std::make_unique<Function>();
    fn->config = fc;
    std::vector<std::pair<std::string, int>> versions;
    if (!fc.traffic.empty()) {
      for (const auto& t : fc.traffic) versions.emplace_back(t.version, t.weight);
    } else if (!fc.version.empty()) {
      versions.emplace_back(fc.version, 1);
    } else {
      fn->follows_pointer = true;
      auto ptr = p->registry_->ReadPointer(fc.model);
      if (!ptr.ok()) {
        // Say the next step with the commands that take it: a version pushed but never
        // promoted needs only the promote; no version needs the push first.
        auto pushed = p->registry_->Versions(fc.model);
        std::string next;
        if (pushed.ok() && !pushed->empty()) {
          next =
              "versions pushed: " + pushed->back() +
              (pushed->size() > 1 ? " and " + std::to_string(pushed->size() - 1) + " more" : "") +
              "; make one current with `modelfn promote " + fc.model + " " + pushed->back() +
              " --store " + c.store + "`, or pin it: model: " + fc.model + "@" + pushed->back();
        } else {
          next = "push one with `modelfn push MODEL_DIR --name " + fc.model +
                 " --version 1.0.0 --store " + c.store + "`, then `modelfn promote " + fc.model +
                 " 1.0.0 --store " + c.store + "` (or pin it: model: " + fc.model + "@1.0.0)";
        }
        return Status(ptr.status().code(), "function " + fc.name + ": model " + fc.model +
                                               " has no current version in " + c.store + " (" +
                                               ptr.status().message() + "); " + next);
      }
      versions.emplace_back(ptr->current.version, 1);
    }
    for (const auto& [ver, weight] : versions) {
      auto resolved = p->registry_->Resolve(fc.model, ver);
      if (!resolved.ok()) {
        return Status(resolved.status().code(),
                      "function " + fc.name + ": " + resolved.status().message());
      }
      auto manifest = ParseManifest(resolved->manifest_bytes);
      if (!manifest.ok()) {
        return Status(manifest.status().code(),
                      "function " + fc.name + ": " + manifest.status().message());
      }
      Variant v;
      v.version = ver;
      v.manifest = std::move(manifest).value();
      v.pool = std::make_unique<InstancePool>(fc, ver, env);
      v.backend = std::make_unique<PoolBackend>(v.pool.get());
      fn->variants.push_back(std::move(v));
    }
    p->functions_.push_back(std::move(fn));
  }

  ASSIGN_OR_RETURN(
      p->async_, PlatformAsync::Open(c.state_dir, p->clock_,
                                     [self](const std::string& level, const std::string& message) {
                                       self->log_.Message(level, message);
                                     }));
  for (const auto& fn : p->functions_) {
    std::vector<std::pair<gateway::Backend*, int>> backends;
    for (size_t i = 0; i < fn->variants.size(); ++i) {
      int weight = fn->config.traffic.empty() ? 1 : fn->config.traffic[i].weight;
      backends.emplace_back(fn->variants[i].backend.get(), weight);
    }
    p->async_->AddFunction(fn->config, std::move(backends));
  }
  p->async_->set_retention_s(c.async_retention_s);
  {
    observe::TracerConfig tc = observe::TracerConfig::FromEnv(ProcessEnv(), "modelfn-gateway");
    std::unique_ptr<HttpClient> http;
    if (!tc.endpoint.empty())
      http = tc.endpoint.rfind("https://", 0) == 0 ? MakeCurlHttpClient() : MakePlainHttpClient();
    p->tracer_ = std::make_unique<observe::Tracer>(std::move(tc), std::move(http), p->clock_);
  }
  p->async_->set_tracer(p->tracer_.get());
  for (const TriggerSpec& t : c.triggers) {
    ASSIGN_OR_RETURN(StoreUri bucket_uri,
                     ParseStoreUri(t.local_root.empty() ? t.source_id : t.local_root));
    ASSIGN_OR_RETURN(auto bucket, OpenStore(bucket_uri, p->clock_));
    p->async_->AddTrigger(t, std::move(bucket));
  }
  RETURN_IF_ERROR(p->OpenAuth());
  p->pipeline_ = std::make_unique<gateway::Pipeline>(p->BuildStages(p->config_), p->clock_);

  HttpServerOptions o;
  o.host = c.gateway.host;
  o.port = c.gateway.port;
  if (!c.gateway.tls_cert.empty()) {
    // TLS on the gateway's own loops; `modelfn status` on this machine keeps a plain loopback
    // listener (local_url in the state file).
    ASSIGN_OR_RETURN(o.tls, MakeOpenSslTlsServer(TlsConfig{c.gateway.tls_cert, c.gateway.tls_key,
                                                           c.gateway.tls_client_ca}));
    o.local_plain_listener = true;
  }
  o.workers = c.gateway.workers > 0 ? c.gateway.workers : ReadCpuQuota().EffectiveCpus();
  o.drain_timeout_ms = static_cast<int>(c.gateway.drain_timeout_s * 1000);
  o.limits.max_body_bytes = c.gateway.max_body_bytes;
  o.limits.require_host = true;
  gateway::Pipeline* pipeline = p->pipeline_.get();
  ASSIGN_OR_RETURN(p->server_,
                   HttpServer::CreateAsync(o, [pipeline](HttpRequest req, HttpResponder respond) {
                     auto gone = respond.gone_flag();
                     pipeline->Handle(std::move(req), std::move(respond), std::move(gone));
                   }));
  p->server_->SetHeadHandler([pipeline](HttpRequest* head, HttpResponse* early) {
    return pipeline->CheckHead(head, early);
  });
  p->server_->SetErrorHook([pipeline](const HttpRequest& head, HttpResponse* error) {
    pipeline->DecorateError(head, error);
  });
  p->runtime_api_.server.store(p->server_.get());
  ASSIGN_OR_RETURN(p->upstream_, LoopUpstream::Create(p->server_.get()));
  p->upstream_ref_.real.store(p->upstream_.get());
  return p;
}

std::string Platform::url() const {
  std::string host = config_.gateway.host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return (config_.gateway.tls_cert.empty() ? "http://" : "https://") + host + ":" +
         std::to_string(port());
}

Status Platform::WriteStateFile() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("pid").Int(getpid());
  w.Key("url").String(url());
  // What `modelfn status` on this machine uses: the gateway itself, plain HTTP on loopback (its
  // own loopback listener when gateway.tls is on).
  w.Key("local_url").String("http://127.0.0.1:" + std::to_string(server_->local_port()));
  w.Key("started_at").String(FormatRfc3339(clock_->WallNanos()));
  w.EndObject();
  return WriteFileAtomic(config_.state_dir + "/up.json", out);
}

void Platform::Run() {
  for (auto& f : functions_) {
    for (auto& v : f->variants) v.pool->Start();
  }
  running_.store(true);
  async_->Start();
  manager_ = std::thread([this] { ManagerLoop(); });
  pointer_watch_ = std::thread([this] { PointerLoop(); });
  Status s = WriteStateFile();
  if (!s.ok()) log_.Message("warn", "cannot write the state file: " + s.message());
  {
    EventLog::Line line = log_.Begin("up");
    JsonWriter& w = line.w();
    w.Key("url").String(url());
    w.Key("store").String(config_.store);
    w.Key("memory_limit").String(MemoryLimitName(memory_.kind()));
    w.Key("cpu_limit").String(cpu_.KindName());
    w.Key("functions").BeginArray();
    for (const auto& f : functions_) {
      w.BeginObject().Key("name").String(f->config.name);
      if (f->config.cpus > 0) w.Key("cpus").Double(f->config.cpus);
      w.Key("mode").String(f->config.mode == InstanceMode::kLambda ? "lambda" : "http");
      w.Key("face").String(InstanceFaceName(f->config.face));
      w.Key("versions").BeginArray();
      for (const auto& v : f->variants) w.String(v.version);
      w.EndArray().EndObject();
    }
    w.EndArray();
    log_.Emit(line);
  }
  server_->Run();
  StopBehindTheListener();
  unlink((config_.state_dir + "/up.json").c_str());
}

void Platform::Shutdown() {
  bool first = !stopping_.exchange(true);
  // No new asynchronous sends; those in flight end (or are kept for the next start).
  if (async_) async_->Stop();
  if (server_) server_->Shutdown();
  if (first && running_.load())
    log_.Message("info", "draining: new connections are refused, requests in flight finish");
}

void Platform::StopBehindTheListener() {
  stopping_.store(true);
  if (async_) async_->Stop();
  drained_.store(true);
  if (manager_.joinable()) manager_.join();
  if (pointer_watch_.joinable()) pointer_watch_.join();
  ClosePools();
}

void Platform::ClosePools() {
  std::call_once(pools_closed_, [this] {
    for (auto& f : functions_) {
      for (auto& v : f->variants) v.pool->Shutdown();
    }
  });
}
void Platform::ManagerLoop() {
  // Runs through the drain: requests still in flight need their timeouts and crash detection.
  while (!drained_.load()) {
    // Shutdown order: the client drain first; then the pools close while the loops still serve
    // the Runtime API of lambda instances; then the loops stop (server_->Run() returns).
    if (stopping_.load() && server_->ClientsDrained()) {
      ClosePools();
      server_->Stop();
      return;
    }
    for (auto& f : functions_) {
      for (auto& v : f->variants) v.pool->Tick();
    }
    // A subreaper inherits what instances and templates leave behind.
    ReapOrphans();
    usleep(static_cast<useconds_t>(options_.tick_ms) * 1000);
  }
}

void Platform::PointerLoop() {
  int64_t next = clock_->MonotonicNanos();
  while (!stopping_.load()) {
    if (clock_->MonotonicNanos() >= next) {
      next = clock_->MonotonicNanos() + int64_t{options_.pointer_poll_ms} * kMs;
      for (auto& f : functions_) {
        if (!f->follows_pointer) continue;
        auto ptr = registry_->ReadPointer(f->config.model);
        if (!ptr.ok()) continue;  // the store is briefly unreachable: keep serving what runs
        Variant& v = f->variants[0];
        if (ptr->current.version == v.pool->version()) continue;
        auto resolved = registry_->Resolve(f->config.model, ptr->current.version);
        if (!resolved.ok()) continue;
        auto manifest = ParseManifest(resolved->manifest_bytes);
        if (!manifest.ok()) continue;
        EventLog::Line line = log_.Begin("promote_seen");
        line.w().Key("function").String(f->config.name);
        line.w().Key("from").String(v.pool->version());
        line.w().Key("to").String(ptr->current.version);
        log_.Emit(line);
        v.pool->SetVersion(ptr->current.version);
      }
    }
    usleep(50'000);
  }
}

Status Platform::OpenAuth() {
  const PlatformConfig& c = config_;
  if (c.gateway.api_keys) {
    ASSIGN_OR_RETURN(keys_, KeyStore::Open(c.state_dir + "/keys.db"));
  }
  if (c.gateway.jwt_enabled) {
    std::string text;
    const std::string& src = c.gateway.jwt.jwks;
    if (src.rfind("http://", 0) == 0 || src.rfind("https://", 0) == 0) {
      auto http = src.rfind("http://", 0) == 0 ? MakePlainHttpClient() : MakeCurlHttpClient();
      HttpCall call;
      call.url = src;
      call.max_response_bytes = 1 << 20;  // a JWKS is a few keys
      ASSIGN_OR_RETURN(HttpReply reply, http->Send(call));
      if (reply.status != 200) {
        return UnavailableError("JWKS " + src + " answered HTTP " + std::to_string(reply.status));
      }
      text = std::move(reply.body);
    } else {
      ASSIGN_OR_RETURN(text, ReadFile(src));
    }
    auto v = JwksVerifier::FromJwks(text);
    if (!v.ok()) return InvalidArgumentError(src + ": " + v.status().message());
    jwks_ = std::move(v).value();
  }
  return Status::Ok();
}

std::vector<gateway::LocalRoute> Platform::LocalRoutes(const PlatformConfig& c) {
  auto is_public = [&c](const std::string& path) {
    for (const std::string& r : c.gateway.public_routes) {
      if (r == path) return true;
    }
    return false;
  };
  auto route = [&](std::string path, std::string content_type, std::function<std::string()> body,
                   bool always_public) {
    bool open = always_public || is_public(path);
    return gateway::LocalRoute{std::move(path), std::move(content_type), std::move(body), !open,
                               nullptr};
  };
  const std::string json = "application/json";
  std::vector<gateway::LocalRoute> routes;
  routes.push_back(route(
      "/v1/health", json, [this] { return HealthJson(); }, true));
  routes.push_back(route(
      "/v2/health/live", json, [] { return std::string("{}"); }, true));
  routes.push_back(route(
      "/v2/health/ready", json, [] { return std::string("{}"); }, true));
  // The page holds no data: what it shows comes from /v1/status and /metrics.
  routes.push_back(route(
      "/dashboard", "text/html; charset=utf-8", [] { return std::string(kDashboardHtml); }, true));
  routes.push_back(route(
      "/v2", json,
      [] {
        return std::string(
            R"({"name":"modelfn","version":"1","extensions":["binary_tensor_data"]})");
      },
      false));
  routes.push_back(route(
      "/v1/models", json, [this] { return ModelsJson(); }, false));
  routes.push_back(route(
      "/openapi.json", json, [this] { return OpenApiJson(); }, false));
  gateway::LocalRoute metrics = route(
      "/metrics", "text/plain; version=0.0.4", [this] { return MetricsText(); }, false);
  // OpenMetrics when the scraper asks for it (Prometheus does): the format with exemplars, the
  // trace ids of requests in the latency buckets.
  metrics.negotiated = [this](const HttpRequest& req, std::string* type) {
    if (!WantsOpenMetrics(req.Header("accept"))) return MetricsText();
    *type = kOpenMetricsType;
    return ToOpenMetrics(MetricsText(true));
  };
  routes.push_back(std::move(metrics));
  routes.push_back(route(
      "/v1/status", json, [this] { return StatusJson(); }, false));
  for (const FunctionConfig& fc : c.functions) {
    gateway::LocalRoute plan = route(
        "/v1/plan/" + fc.name, "text/html; charset=utf-8", [] { return std::string(); }, false);
    plan.deferred = [this, name = fc.name](const HttpRequest& req,
                                           std::function<void(HttpResponse)> done) {
      PlanRoute(name, req, std::move(done));
    };
    routes.push_back(std::move(plan));
  }
  return routes;
}

gateway::StageList Platform::BuildStages(const PlatformConfig& c) {
  namespace gw = gateway;
  auto routes = std::make_shared<std::vector<gw::FunctionRoute>>();
  for (const auto& f : functions_) {
    // Same functions and versions, in the same order, as `c` (Reload checks it).
    const FunctionConfig* fc = c.Find(f->config.name);
    gw::FunctionRoute r;
    r.name = fc->name;
    r.model = fc->model;
    r.sticky_traffic = fc->sticky_traffic;
    r.lambda_mode = fc->mode == InstanceMode::kLambda;
    r.response_cache = fc->response_cache;
    for (size_t i = 0; i < f->variants.size(); ++i) {
      int weight = fc->traffic.empty() ? 1 : fc->traffic[i].weight;
      r.variants.push_back({f->variants[i].backend.get(), weight});
      r.total_weight += weight;
    }
    routes->push_back(std::move(r));
  }
  auto table = std::make_shared<const gw::RouteTable>(LocalRoutes(c));
  gw::AuthOptions auth;
  auth.keys = keys_.get();
  auth.jwks = jwks_.get();
  auth.jwt_policy.issuer = c.gateway.jwt.issuer;
  auth.jwt_policy.audience = c.gateway.jwt.audience;
  auth.jwt_policy.leeway_s = static_cast<int64_t>(c.gateway.jwt.leeway_s);

  if (!traffic_) {  // once, at start: the functions never change
    std::vector<std::string> names;
    for (const auto& f : functions_) names.push_back(f->config.name);
    traffic_ = std::make_unique<gw::TrafficRecorder>(names, 200'000);
  }
  gw::StageList stages;
  stages.push_back(std::make_unique<gw::ObserveStage>(
      &metrics_, options_.access_log ? &log_ : nullptr, clock_, tracer_.get(), traffic_.get()));
  stages.push_back(std::make_unique<gw::RequestIdStage>());
  stages.push_back(std::make_unique<gw::CorsStage>(c.gateway.cors_origins));
  stages.push_back(std::make_unique<gw::RouteStage>(table, routes));
  stages.push_back(std::make_unique<gw::AuthStage>(auth, table, &metrics_, clock_, &log_));
  stages.push_back(std::make_unique<gw::LocalRouteStage>());
  stages.push_back(std::make_unique<gw::AsyncStage>(async_.get(), gw::AsyncStage::Role::kReads));
  stages.push_back(std::make_unique<gw::PlanStage>(c.plans, keys_.get()));
  stages.push_back(std::make_unique<gw::RateLimitStage>(&rate_, &metrics_, clock_));
  stages.push_back(std::make_unique<gw::QuotaStage>(keys_.get(), &metrics_, clock_));
  stages.push_back(
      std::make_unique<gw::AsyncStage>(async_.get(), gw::AsyncStage::Role::kSubmissions));
  stages.push_back(std::make_unique<gw::VersionStage>());
  stages.push_back(std::make_unique<gw::CacheStage>(&cache_, &metrics_));
  stages.push_back(std::make_unique<gw::ForwardStage>(clock_));
  std::lock_guard<std::mutex> lock(routes_mu_);
  routes_ = std::move(routes);
  return stages;
}

std::shared_ptr<const std::vector<gateway::FunctionRoute>> Platform::CurrentRoutes() const {
  std::lock_guard<std::mutex> lock(routes_mu_);
  return routes_;
}

}  // namespace modelfn

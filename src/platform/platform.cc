#include "platform/platform.h"

#include <signal.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <any>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

#include "common/cpu_quota.h"
#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"
#include "http/http_client.h"
#include "http/problem.h"
#include "platform/dashboard.h"
#include "platform/openapi.h"
#include "store/open_store.h"
#include "store/store_uri.h"
#include "tensor/tensor.h"

namespace modelfn {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr size_t kCacheEntries = 1024;

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[40];
  snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
           static_cast<unsigned long long>(rng()));
  return buf;
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string QueryParam(const std::string& query, std::string_view name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string::npos) end = query.size();
    std::string_view kv(query.data() + pos, end - pos);
    size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name)
      return eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
    pos = end + 1;
  }
  return "";
}

// "2026-11-28" and "2026-11" for quotas, and seconds until the next UTC day and month.
void QuotaPeriods(int64_t wall_ns, std::string* day, std::string* month, int64_t* to_day_end,
                  int64_t* to_month_end) {
  time_t t = static_cast<time_t>(wall_ns / 1'000'000'000);
  tm u;
  gmtime_r(&t, &u);
  char buf[16];
  strftime(buf, sizeof buf, "%Y-%m-%d", &u);
  *day = buf;
  strftime(buf, sizeof buf, "%Y-%m", &u);
  *month = buf;
  *to_day_end = 86400 - (u.tm_hour * 3600 + u.tm_min * 60 + u.tm_sec);
  tm next = u;
  next.tm_mday = 1;
  next.tm_hour = next.tm_min = next.tm_sec = 0;
  next.tm_mon += 1;
  *to_month_end = static_cast<int64_t>(timegm(&next) - t);
}

}  // namespace

Platform::Platform(PlatformConfig config, PlatformOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      clock_(options_.clock),
      log_(STDOUT_FILENO, options_.clock) {}

Platform::~Platform() {
  Shutdown();
  StopBehindTheListener();
  if (workers_) workers_->Stop();
  memory_.RemoveRoot();
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
  size_t max_threads = 16;
  for (const auto& f : c.functions) {
    if (f.mode == InstanceMode::kHttp) {
      max_threads += static_cast<size_t>(f.max_instances) * static_cast<size_t>(f.concurrency) *
                     std::max<size_t>(1, f.traffic.size());
    }
  }
  p->workers_ = std::make_unique<WorkerThreads>(std::min<size_t>(max_threads, 4096));
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
  env.workers = p->workers_.get();

  for (const FunctionConfig& fc : c.functions) {
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
        return Status(ptr.status().code(),
                      "function " + fc.name + ": model " + fc.model +
                          " has no current version in " + c.store + " (" + ptr.status().message() +
                          "); push and promote one, or pin model: " + fc.model + "@VERSION");
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
      v.weight = weight;
      v.manifest = std::move(manifest).value();
      v.pool = std::make_unique<InstancePool>(fc, ver, env);
      fn->total_weight += weight;
      fn->variants.push_back(std::move(v));
    }
    p->functions_.push_back(std::move(fn));
  }

  if (c.gateway.api_keys) {
    ASSIGN_OR_RETURN(p->keys_, KeyStore::Open(c.state_dir + "/keys.db"));
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
    p->jwks_ = std::move(v).value();
    p->jwt_policy_.issuer = c.gateway.jwt.issuer;
    p->jwt_policy_.audience = c.gateway.jwt.audience;
    p->jwt_policy_.leeway_s = static_cast<int64_t>(c.gateway.jwt.leeway_s);
  }

  HttpServerOptions o;
  bool tls = !c.gateway.tls_cert.empty();
  o.host = tls ? "127.0.0.1" : c.gateway.host;  // with TLS, only the terminator reaches it
  o.port = tls ? 0 : c.gateway.port;
  o.workers = c.gateway.workers > 0 ? c.gateway.workers : ReadCpuQuota().EffectiveCpus();
  o.limits.max_body_bytes = c.gateway.max_body_bytes;
  o.limits.require_host = true;
  Platform* self = p.get();
  ASSIGN_OR_RETURN(p->server_,
                   HttpServer::CreateAsync(o, [self](HttpRequest req, HttpResponder respond) {
                     self->Handle(std::move(req), std::move(respond));
                   }));
  p->server_->SetHeadHandler(
      [self](HttpRequest* head, HttpResponse* early) { return self->CheckHead(head, early); });
  if (tls) {
    ASSIGN_OR_RETURN(p->tls_, TlsFront::Create(TlsConfig{c.gateway.tls_cert, c.gateway.tls_key,
                                                         c.gateway.tls_client_ca},
                                               c.gateway.host, c.gateway.port, p->server_->port()));
  }
  return p;
}

std::string Platform::url() const {
  std::string host = config_.gateway.host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return (tls_ ? "https://" : "http://") + host + ":" + std::to_string(port());
}

Status Platform::WriteStateFile() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("pid").Int(getpid());
  w.Key("url").String(url());
  // What `modelfn status` on this machine uses: the gateway itself, plain HTTP on loopback (behind
  // the TLS terminator when gateway.tls is on).
  w.Key("local_url").String("http://127.0.0.1:" + std::to_string(server_->port()));
  w.Key("started_at").String(FormatRfc3339(clock_->WallNanos()));
  w.EndObject();
  return WriteFileAtomic(config_.state_dir + "/up.json", out);
}

void Platform::Run() {
  for (auto& f : functions_) {
    for (auto& v : f->variants) v.pool->Start();
  }
  running_.store(true);
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
    w.Key("functions").BeginArray();
    for (const auto& f : functions_) {
      w.BeginObject().Key("name").String(f->config.name);
      w.Key("mode").String(f->config.mode == InstanceMode::kLambda ? "lambda" : "http");
      w.Key("versions").BeginArray();
      for (const auto& v : f->variants) w.String(v.version);
      w.EndArray().EndObject();
    }
    w.EndArray();
    log_.Emit(line);
  }
  if (tls_) tls_thread_ = std::thread([this] { tls_->Run(); });
  server_->Run();
  StopBehindTheListener();
  unlink((config_.state_dir + "/up.json").c_str());
}

void Platform::Shutdown() {
  bool first = !stopping_.exchange(true);
  if (tls_) tls_->StopAccepting();
  if (server_) server_->Shutdown();
  if (first && running_.load())
    log_.Message("info", "draining: new connections are refused, requests in flight finish");
}

void Platform::StopBehindTheListener() {
  stopping_.store(true);
  drained_.store(true);
  if (tls_) tls_->Shutdown();
  if (tls_thread_.joinable()) tls_thread_.join();
  if (manager_.joinable()) manager_.join();
  if (pointer_watch_.joinable()) pointer_watch_.join();
  for (auto& f : functions_) {
    for (auto& v : f->variants) v.pool->Shutdown();
  }
}
void Platform::ManagerLoop() {
  // Runs through the drain: requests still in flight need their timeouts and crash detection.
  while (!drained_.load()) {
    for (auto& f : functions_) {
      for (auto& v : f->variants) v.pool->Tick();
    }
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

HttpResponse Platform::ErrorResponse(const std::string& code, const std::string& detail,
                                     bool v2) const {
  Problem p = MakeProblem(code, detail);
  HttpResponse r;
  r.status = p.status;
  if (v2) {
    std::string body;
    JsonWriter w(&body);
    w.BeginObject().Key("error").String(detail).Key("code").String(p.code).EndObject();
    r.body = std::move(body);
  } else {
    r.content_type = std::string(kProblemContentType);
    r.body = p.ToJson();
  }
  return r;
}

bool Platform::OriginAllowed(const std::string& origin) const {
  for (const auto& o : config_.gateway.cors_origins) {
    if (o == "*" || o == origin) return true;
  }
  return false;
}

void Platform::AddCors(const std::string& origin, HttpResponse* resp) const {
  if (origin.empty() || !OriginAllowed(origin)) return;
  resp->headers.emplace_back("Access-Control-Allow-Origin", origin);
  resp->headers.emplace_back("Vary", "Origin");
  resp->headers.emplace_back("Access-Control-Expose-Headers",
                             "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, "
                             "RateLimit-Reset, X-Modelfn-Version, X-Modelfn-Cold-Start");
}

bool Platform::NeedsAuth(const std::string& path) const {
  if (path == "/v1/health" || path == "/v2/health/live" || path == "/v2/health/ready" ||
      path == "/dashboard") {
    return false;
  }
  for (const std::string& r : config_.gateway.public_routes) {
    if (r == path) return false;
  }
  return true;
}

bool Platform::CheckHead(HttpRequest* head, HttpResponse* early) {
  if (!keys_ && !config_.gateway.jwt_enabled) return true;
  bool v2 = head->path.rfind("/v2", 0) == 0;
  auto refuse = [&] {
    const std::string* id = head->Header("x-request-id");
    early->headers.emplace_back("X-Request-Id", id && IsSafeRequestId(*id) ? *id : NewRequestId());
    const std::string* origin = head->Header("origin");
    AddCors(origin ? *origin : std::string(), early);
    return false;
  };
  // A preflight carries no credentials by design; Handle answers it without serving anything.
  if (head->method == "OPTIONS" || !NeedsAuth(head->path)) {
    // Public routes take no body. Reading one would let an unauthenticated client make the
    // gateway buffer up to the body limit on every connection; a small one is still read.
    const std::string* length = head->Header("content-length");
    if (head->Header("transfer-encoding") != nullptr ||
        (length != nullptr &&
         std::strtoull(length->c_str(), nullptr, 10) > kMaxDrainAfterEarlyAnswer)) {
      *early = ErrorResponse("payload_too_large", "this route takes no request body", v2);
      return refuse();
    }
    return true;
  }
  Principal who;
  if (!Authenticate(*head, v2, &who, early)) return refuse();
  head->context = std::move(who);
  return true;
}

bool Platform::Authorized(const HttpRequest& req, bool v2, Principal* who, HttpResponse* refusal) {
  if (const auto* p = std::any_cast<Principal>(&req.context)) {
    *who = *p;
    return true;
  }
  return Authenticate(req, v2, who, refusal);
}

bool Platform::Authenticate(const HttpRequest& req, bool v2, Principal* who,
                            HttpResponse* refusal) {
  const GatewayConfig& g = config_.gateway;
  if (keys_) {
    const std::string* key = req.Header("x-api-key");
    if (key == nullptr) {
      metrics_.CountAuthFailure("missing_key");
      *refusal = ErrorResponse("unauthorized", "an API key is required (header X-Api-Key)", v2);
      return false;
    }
    auto k = keys_->Authenticate(*key);
    if (!k.ok() && k.status().code() == StatusCode::kUnavailable) {
      // Fail closed: without the database, revocations cannot be honoured. Say why, not per
      // request: at most one log line every 10 s.
      static std::atomic<int64_t> last_logged_ns{0};
      int64_t now = clock_->MonotonicNanos(), last = last_logged_ns.load();
      if ((last == 0 || now - last >= 10'000 * kMs) &&
          last_logged_ns.compare_exchange_strong(last, now)) {
        log_.Message("error", "refusing keyed requests: " + k.status().message());
      }
      metrics_.CountAuthFailure("auth_unavailable");
      *refusal = ErrorResponse("auth_unavailable",
                               "API keys cannot be checked right now; see the gateway's log", v2);
      return false;
    }
    if (!k.ok()) {
      bool revoked = k.status().code() == StatusCode::kFailedPrecondition;
      metrics_.CountAuthFailure(revoked ? "revoked_key" : "bad_key");
      *refusal = revoked ? ErrorResponse("forbidden", "this API key was revoked", v2)
                         : ErrorResponse("unauthorized", "invalid API key", v2);
      return false;
    }
    who->id = "key:" + k->id;
    who->plan = k->plan;
  }
  if (g.jwt_enabled) {
    const std::string* auth = req.Header("authorization");
    if (auth == nullptr || auth->size() < 7 || strncasecmp(auth->c_str(), "Bearer ", 7) != 0) {
      metrics_.CountAuthFailure("missing_token");
      *refusal = ErrorResponse("unauthorized", "a bearer token is required", v2);
      refusal->headers.emplace_back("WWW-Authenticate", "Bearer");
      return false;
    }
    auto claims = jwks_->Verify(std::string_view(*auth).substr(7), jwt_policy_,
                                clock_->WallNanos() / 1'000'000'000);
    if (!claims.ok()) {
      metrics_.CountAuthFailure("bad_token");
      *refusal = ErrorResponse("unauthorized", "invalid token: " + claims.status().message(), v2);
      // A fixed challenge: the reason is in the (escaped) body, never copied into a header.
      refusal->headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      return false;
    }
    if (who->id.empty()) {
      const Json* sub = claims->Find("sub");
      who->id = "jwt:" + (sub && sub->is_string() ? sub->AsString() : std::string("?"));
    }
  }
  return true;
}

bool Platform::ApplyPlan(const Principal& who, bool v2,
                         std::vector<std::pair<std::string, std::string>>* headers,
                         HttpResponse* refusal) {
  if (who.plan.empty() || !keys_) return true;
  const PlanConfig* plan = config_.FindPlan(who.plan);
  if (plan == nullptr) {
    *refusal = ErrorResponse(
        "forbidden", "the key's usage plan '" + who.plan + "' is not in this configuration", v2);
    return false;
  }
  if (plan->rate_per_s > 0) {
    RateDecision d = rate_.Take(who.id, plan->rate_per_s, plan->burst, clock_->MonotonicNanos());
    headers->emplace_back("RateLimit-Limit", std::to_string(d.limit));
    headers->emplace_back("RateLimit-Remaining", std::to_string(d.remaining));
    headers->emplace_back("RateLimit-Reset",
                          std::to_string(static_cast<int64_t>(std::ceil(d.reset_s))));
    headers->emplace_back(
        "RateLimit-Policy",
        std::to_string(d.limit) + ";w=" +
            std::to_string(static_cast<int64_t>(std::ceil(plan->burst / plan->rate_per_s))));
    if (!d.allowed) {
      metrics_.CountRateLimited("rate");
      *refusal = ErrorResponse("rate_limited",
                               "usage plan '" + plan->name + "' allows " +
                                   Json::Double(plan->rate_per_s).Dump() + " requests/s",
                               v2);
      refusal->headers = *headers;
      refusal->headers.emplace_back(
          "Retry-After",
          std::to_string(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(d.retry_after_s)))));
      return false;
    }
  }
  if (plan->daily_quota > 0 || plan->monthly_quota > 0) {
    std::string day, month;
    int64_t to_day, to_month;
    QuotaPeriods(clock_->WallNanos(), &day, &month, &to_day, &to_month);
    std::string id = who.id.substr(4);
    struct Q {
      int64_t limit;
      std::string period;
      int64_t retry;
      const char* what;
    };
    for (const Q& q : {Q{plan->daily_quota, day, to_day, "daily"},
                       Q{plan->monthly_quota, month, to_month, "monthly"}}) {
      if (q.limit <= 0) continue;
      auto used = keys_->AddUsage(id, q.period, 1);
      if (!used.ok()) continue;  // never refuse because counting failed
      if (*used > q.limit) {
        (void)keys_->AddUsage(id, q.period, -1);  // a refused request is not usage
        metrics_.CountRateLimited("quota");
        *refusal = ErrorResponse("quota_exceeded",
                                 std::string("the ") + q.what + " quota of " +
                                     std::to_string(q.limit) + " requests is used up",
                                 v2);
        refusal->headers.emplace_back("Retry-After", std::to_string(q.retry));
        return false;
      }
    }
  }
  return true;
}

StatusOr<Platform::Target> Platform::Route(const HttpRequest& req) {
  auto find = [&](const std::string& name) -> Function* {
    for (auto& f : functions_) {
      if (f->config.name == name) return f.get();
    }
    return nullptr;
  };
  auto unknown = [&](const std::string& name) {
    std::string names;
    for (const auto& f : functions_) names += (names.empty() ? "" : ", ") + f->config.name;
    return Status(StatusCode::kNotFound,
                  "no function named '" + name + "' (functions: " + names + ")", "not_found");
  };
  std::vector<std::string> seg = SplitPath(req.path);
  Target t;
  // /v1/models/{name}/infer | /batch
  if (seg.size() == 4 && seg[0] == "v1" && seg[1] == "models" &&
      (seg[3] == "infer" || seg[3] == "batch")) {
    t.fn = find(seg[2]);
    if (t.fn == nullptr) return unknown(seg[2]);
    t.path = "/v1/" + seg[3];
    t.route = t.path;
    return t;
  }
  // /v1/infer, /v1/batch: ?model=, then "model" in the body, then the only function.
  if (seg.size() == 2 && seg[0] == "v1" && (seg[1] == "infer" || seg[1] == "batch")) {
    std::string name = QueryParam(req.query, "model");
    // With one function there is nothing to choose: the body is not parsed here (the instance
    // still refuses a "model" that is not its own).
    if (name.empty() && seg[1] == "infer" && functions_.size() > 1) {
      auto body = Json::Parse(req.body);
      if (body.ok() && body->is_object()) {
        if (const Json* m = body->Find("model"); m && m->is_string()) name = m->AsString();
      }
    }
    if (name.empty()) {
      if (functions_.size() != 1) {
        return Status(StatusCode::kInvalidArgument,
                      "several functions are served: choose one with /v1/models/{name}/" + seg[1] +
                          ", ?model=NAME or \"model\" in the body",
                      "invalid_request");
      }
      t.fn = functions_[0].get();
    } else {
      t.fn = find(name);
      if (t.fn == nullptr) return unknown(name);
    }
    t.path = req.path;
    t.route = req.path;
    return t;
  }
  // /v2/models/{name}[/versions/{v}][/infer|/ready]
  if (seg.size() >= 3 && seg[0] == "v2" && seg[1] == "models") {
    t.fn = find(seg[2]);
    if (t.fn == nullptr) return unknown(seg[2]);
    size_t rest = 3;
    if (seg.size() >= 5 && seg[3] == "versions") {
      t.version = seg[4];
      rest = 5;
    }
    std::string tail = seg.size() > rest ? seg[rest] : "";
    if (seg.size() > rest + 1 || (tail != "" && tail != "infer" && tail != "ready")) {
      return Status(StatusCode::kNotFound, "no route " + req.path, "not_found");
    }
    // The instance serves the model's own name; rewrite the function name to it.
    t.path = "/v2/models/" + t.fn->config.model +
             (t.version.empty() ? "" : "/versions/" + t.version) + (tail.empty() ? "" : "/" + tail);
    t.route = std::string("/v2/models/{m}") + (t.version.empty() ? "" : "/versions/{v}") +
              (tail.empty() ? "" : "/" + tail);
    return t;
  }
  return Status(StatusCode::kNotFound, "no route " + req.path, "not_found");
}

Platform::Variant* Platform::PickVariant(Function* fn, const std::string& version,
                                         const std::string& request_id) {
  if (!version.empty()) {
    for (auto& v : fn->variants) {
      if (v.pool->version() == version) return &v;
    }
    return nullptr;
  }
  if (fn->variants.size() == 1) return &fn->variants[0];
  uint64_t r;
  if (fn->config.sticky_traffic && !request_id.empty()) {
    r = Fnv1a(request_id);
  } else {
    thread_local std::mt19937_64 rng(std::random_device{}());
    r = rng();
  }
  int64_t point = static_cast<int64_t>(r % static_cast<uint64_t>(fn->total_weight));
  for (auto& v : fn->variants) {
    point -= v.weight;
    if (point < 0) return &v;
  }
  return &fn->variants.back();
}

void Platform::Handle(HttpRequest req, HttpResponder respond) {
  int64_t t0 = clock_->MonotonicNanos();
  std::string request_id;
  if (const std::string* id = req.Header("x-request-id"); id && IsSafeRequestId(*id)) {
    request_id = *id;
  } else {
    request_id = NewRequestId();
  }
  bool v2 = req.path.rfind("/v2", 0) == 0;
  auto finish = [this, &req, &respond, &request_id, t0](
                    HttpResponse resp, const std::string& function, const std::string& route) {
    resp.headers.emplace_back("X-Request-Id", request_id);
    const std::string* origin = req.Header("origin");
    AddCors(origin ? *origin : std::string(), &resp);
    if (!function.empty()) {
      metrics_.Record(function, "", route, resp.status,
                      static_cast<double>(clock_->MonotonicNanos() - t0) / 1e9);
    }
    respond(std::move(resp));
  };

  // CORS preflight.
  if (req.method == "OPTIONS") {
    const std::string* origin = req.Header("origin");
    const std::string* method = req.Header("access-control-request-method");
    HttpResponse r;
    if (origin == nullptr || method == nullptr) {
      r.status = 204;
      r.headers.emplace_back("Allow", "GET, POST, OPTIONS");
      return finish(std::move(r), "", "");
    }
    if (!OriginAllowed(*origin) || (*method != "GET" && *method != "POST")) {
      HttpResponse refused = ErrorResponse(
          "forbidden", "CORS: origin " + *origin + " may not " + *method + " here", false);
      refused.headers.emplace_back("X-Request-Id", request_id);
      return respond(std::move(refused));
    }
    r.status = 204;
    r.content_type = "text/plain";
    r.headers.emplace_back("Access-Control-Allow-Origin", *origin);
    r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    r.headers.emplace_back("Access-Control-Allow-Headers",
                           "Content-Type, Authorization, X-Api-Key, X-Request-Id, "
                           "Inference-Header-Content-Length");
    r.headers.emplace_back("Access-Control-Max-Age", "600");
    r.headers.emplace_back("Vary", "Origin");
    r.headers.emplace_back("X-Request-Id", request_id);
    return respond(std::move(r));
  }

  // The platform's own routes.
  bool get = req.method == "GET" || req.method == "HEAD";
  auto plain = [&](int status, std::string ct, std::string body) {
    HttpResponse r;
    r.status = status;
    r.content_type = std::move(ct);
    r.body = std::move(body);
    finish(std::move(r), "", "");
  };
  const std::string& p = req.path;
  bool own_route = p == "/metrics" || p == "/v1/status" || p == "/dashboard" || p == "/v1/health" ||
                   p == "/v2/health/live" || p == "/v2/health/ready" || p == "/openapi.json" ||
                   p == "/v2" || p == "/v1/models";
  if (own_route) {
    if (NeedsAuth(p)) {
      Principal who;
      HttpResponse refusal;
      if (!Authorized(req, false, &who, &refusal)) return finish(std::move(refusal), "", "");
    }
    if (!get) {
      return finish(
          ErrorResponse("method_not_allowed", req.method + " " + p + " is not served", v2), "", "");
    }
    if (p == "/v1/health") return plain(200, "application/json", HealthJson());
    if (p == "/v2/health/live" || p == "/v2/health/ready")
      return plain(200, "application/json", "{}");
    if (p == "/v2") {
      return plain(200, "application/json",
                   R"({"name":"modelfn","version":"1","extensions":["binary_tensor_data"]})");
    }
    if (p == "/v1/models") return plain(200, "application/json", ModelsJson());
    if (p == "/openapi.json") return plain(200, "application/json", OpenApiJson());
    if (p == "/metrics") return plain(200, "text/plain; version=0.0.4", MetricsText());
    if (p == "/v1/status") return plain(200, "application/json", StatusJson());
    return plain(200, "text/html; charset=utf-8", std::string(kDashboardHtml));
  }

  auto target = Route(req);
  if (!target.ok()) {
    return finish(
        ErrorResponse(target.status().reason().empty() ? "not_found" : target.status().reason(),
                      target.status().message(), v2),
        "", "");
  }
  Target t = std::move(target).value();
  bool v2_meta = v2 && !(t.path.size() >= 6 && t.path.compare(t.path.size() - 6, 6, "/infer") == 0);
  if (!v2_meta && req.method != "POST") {
    return finish(ErrorResponse("method_not_allowed", "use POST for " + req.path, v2),
                  t.fn->config.name, t.route);
  }
  if (v2_meta && !get) {
    return finish(ErrorResponse("method_not_allowed", "use GET for " + req.path, v2),
                  t.fn->config.name, t.route);
  }
  Principal who;
  HttpResponse refusal;
  if (!Authorized(req, v2, &who, &refusal)) {
    return finish(std::move(refusal), t.fn->config.name, t.route);
  }
  std::vector<std::pair<std::string, std::string>> plan_headers;
  if (!ApplyPlan(who, v2, &plan_headers, &refusal)) {
    return finish(std::move(refusal), t.fn->config.name, t.route);
  }
  Variant* variant = PickVariant(t.fn, t.version, request_id);
  if (variant == nullptr) {
    return finish(
        ErrorResponse("not_found",
                      "function " + t.fn->config.name + " does not serve version " + t.version, v2),
        t.fn->config.name, t.route);
  }
  std::string cache_key;
  if (t.fn->config.response_cache && !v2_meta) {
    // Everything the instance is given (the forwarded fields too: they change how the body is
    // read and what is answered). Only the body may hold a newline, and it comes last.
    auto field = [&req](std::string_view name) {
      const std::string* v = req.Header(name);
      return v ? *v : std::string();
    };
    cache_key = Sha256Hex(t.fn->config.name + "\n" + variant->pool->version() + "\n" + t.path +
                          "\n" + req.query + "\n" + field("content-type") + "\n" +
                          field("inference-header-content-length") + "\n" + field("accept") + "\n" +
                          req.body);
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(cache_key);
    if (it != cache_.end()) {
      metrics_.CountCacheHit(t.fn->config.name);
      HttpResponse r;
      r.status = it->second.status;
      r.content_type = it->second.content_type;
      r.body = it->second.body;
      r.headers = it->second.headers;
      r.headers.emplace_back("X-Modelfn-Cache", "hit");
      r.headers.emplace_back("X-Modelfn-Version", it->second.version);
      for (auto& h : plan_headers) r.headers.push_back(h);
      return finish(std::move(r), t.fn->config.name, t.route);
    }
  }

  ForwardRequest fr;
  fr.method = req.method == "HEAD" ? "GET" : req.method;
  fr.path = t.path;
  fr.query = req.query;
  fr.body = std::move(req.body);
  if (const std::string* ct = req.Header("content-type")) fr.content_type = *ct;
  fr.request_id = request_id;
  fr.arrived_ns = t0;
  for (const auto& [k, v] : req.headers) {
    if (k == "inference-header-content-length" || k == "user-agent" || k == "accept") {
      fr.headers.emplace_back(k, v);
    }
  }
  std::string fn_name = t.fn->config.name;
  std::string route = t.route;
  std::string origin;
  if (const std::string* o = req.Header("origin")) origin = *o;
  std::string method = req.method;
  std::string path = req.path;
  std::string principal = who.id;
  variant->pool->Submit(
      std::move(fr),
      [this, respond, request_id, fn_name, route, t0, origin, v2, method, path, principal,
       cache_key, plan_headers = std::move(plan_headers)](ForwardReply reply) {
        HttpResponse r;
        if (v2 && !reply.code.empty()) {
          // Platform errors under /v2 take the protocol's error shape.
          auto problem = Json::Parse(reply.body);
          const Json* detail = problem.ok() ? problem->Find("detail") : nullptr;
          HttpResponse e = ErrorResponse(
              reply.code, detail && detail->is_string() ? detail->AsString() : reply.code, true);
          r.body = std::move(e.body);
          r.content_type = e.content_type;
        } else {
          r.body = reply.body;
          r.content_type = reply.content_type.empty() ? "application/json" : reply.content_type;
        }
        r.status = reply.status;
        for (auto& [k, v] : reply.headers) {
          if (strcasecmp(k.c_str(), "x-request-id") != 0) r.headers.emplace_back(k, v);
        }
        for (const auto& h : plan_headers) r.headers.push_back(h);
        r.headers.emplace_back("X-Request-Id", request_id);
        if (!reply.version.empty()) r.headers.emplace_back("X-Modelfn-Version", reply.version);
        if (!reply.instance.empty()) {
          r.headers.emplace_back("X-Modelfn-Instance", reply.instance);
          r.headers.emplace_back("X-Modelfn-Cold-Start", reply.cold_start ? "true" : "false");
        }
        AddCors(origin, &r);
        double seconds = static_cast<double>(clock_->MonotonicNanos() - t0) / 1e9;
        metrics_.Record(fn_name, reply.version, route, r.status, seconds);
        if (!cache_key.empty() && reply.status == 200 && reply.code.empty()) {
          std::lock_guard<std::mutex> lock(cache_mu_);
          if (cache_.emplace(cache_key, reply).second) {
            cache_order_.push_back(cache_key);
            if (cache_order_.size() > kCacheEntries) {
              cache_.erase(cache_order_.front());
              cache_order_.pop_front();
            }
          }
        }
        if (options_.access_log) {
          EventLog::Line line = log_.Begin("access");
          JsonWriter& w = line.w();
          w.Key("request_id").String(request_id);
          w.Key("method").String(method);
          w.Key("path").String(path);
          w.Key("function").String(fn_name);
          w.Key("version").String(reply.version);
          w.Key("status").Int(r.status);
          if (!reply.code.empty()) w.Key("code").String(reply.code);
          w.Key("ms").Double(seconds * 1e3);
          w.Key("queue_ms").Double(reply.queue_ms);
          w.Key("instance").String(reply.instance);
          w.Key("cold_start").Bool(reply.cold_start);
          if (!principal.empty()) w.Key("principal").String(principal);
          log_.Emit(line);
        }
        respond(std::move(r));
      });
}

std::string Platform::HealthJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("status").String("ok").Key("functions").BeginArray();
  for (const auto& f : functions_) {
    w.BeginObject().Key("name").String(f->config.name).Key("versions").BeginArray();
    for (const auto& v : f->variants) w.String(v.pool->version());
    w.EndArray().EndObject();
  }
  w.EndArray();
  w.Key("uptime_s").Double(static_cast<double>(clock_->MonotonicNanos() - started_ns_) / 1e9);
  w.EndObject();
  return out;
}

std::string Platform::ModelsJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("models").BeginArray();
  for (const auto& f : functions_) {
    for (const auto& v : f->variants) {
      w.BeginObject();
      w.Key("name").String(f->config.name);
      w.Key("model").String(f->config.model);
      w.Key("version").String(v.pool->version());
      if (f->variants.size() > 1) w.Key("weight").Int(v.weight);
      w.EndObject();
    }
  }
  w.EndArray().EndObject();
  return out;
}

std::string Platform::StatusJson() const {
  auto summaries = metrics_.Summaries();
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("url").String(url());
  w.Key("uptime_s").Double(static_cast<double>(clock_->MonotonicNanos() - started_ns_) / 1e9);
  w.Key("memory_limit").String(MemoryLimitName(memory_.kind()));
  w.Key("functions").BeginArray();
  for (const auto& f : functions_) {
    w.BeginObject();
    w.Key("name").String(f->config.name);
    w.Key("mode").String(f->config.mode == InstanceMode::kLambda ? "lambda" : "http");
    w.Key("min_instances").Int(f->config.min_instances);
    w.Key("max_instances").Int(f->config.max_instances);
    const FunctionSummary& s = summaries[f->config.name];
    w.Key("requests").Uint(s.requests);
    w.Key("errors").Uint(s.errors);
    w.Key("client_errors").Uint(s.client_errors);
    w.Key("p50_ms").Double(s.p50_ms);
    w.Key("p95_ms").Double(s.p95_ms);
    w.Key("p99_ms").Double(s.p99_ms);
    uint64_t cold = 0, cold_req = 0;
    int inst = 0;
    w.Key("versions").BeginArray();
    for (const auto& v : f->variants) {
      PoolSnapshot snap = v.pool->Snapshot();
      cold += snap.counters.inits;
      cold_req += snap.counters.cold_requests;
      inst += static_cast<int>(snap.instances.size());
      w.BeginObject();
      w.Key("version").String(snap.version);
      if (f->variants.size() > 1) w.Key("weight").Int(v.weight);
      w.Key("queued").Uint(snap.queued);
      w.Key("instances").BeginObject();
      w.Key("starting").Int(snap.starting).Key("idle").Int(snap.idle);
      w.Key("busy").Int(snap.busy).Key("stopping").Int(snap.stopping);
      w.EndObject();
      const PoolCounters& c = snap.counters;
      w.Key("counters").BeginObject();
      w.Key("requests").Uint(c.requests).Key("cold_starts").Uint(c.inits);
      w.Key("prewarmed_starts").Uint(c.prewarmed_inits);
      w.Key("cold_start_requests").Uint(c.cold_requests);
      w.Key("throttled").Uint(c.throttled).Key("queue_timeouts").Uint(c.queue_timeouts);
      w.Key("timeouts").Uint(c.timeouts).Key("crashes").Uint(c.crashes);
      w.Key("out_of_memory").Uint(c.out_of_memory).Key("init_failures").Uint(c.init_failures);
      w.Key("function_errors").Uint(c.function_errors);
      w.EndObject();
      if (!snap.last_init_error.empty()) w.Key("last_init_error").String(snap.last_init_error);
      w.Key("instance_list").BeginArray();
      for (const auto& i : snap.instances) {
        w.BeginObject();
        w.Key("name").String(i.name).Key("pid").Int(i.pid).Key("state").String(i.state);
        w.Key("version").String(i.version).Key("active").Int(i.active);
        w.Key("served").Uint(i.served).Key("age_s").Double(i.age_s);
        w.Key("init_ms").Double(i.init_ms).Key("prewarmed").Bool(i.prewarmed);
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    w.Key("instances").Int(inst);
    w.Key("cold_starts").Uint(cold);
    w.Key("cold_start_requests").Uint(cold_req);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

std::string Platform::MetricsText() const {
  std::string out = metrics_.Render();
  struct Line {
    const char* name;
    const char* type;
    const char* help;
  };
  std::vector<std::pair<std::string, PoolSnapshot>> snaps;
  for (const auto& f : functions_) {
    for (const auto& v : f->variants) snaps.emplace_back(f->config.name, v.pool->Snapshot());
  }
  auto labels = [](const std::string& f, const PoolSnapshot& s) {
    return "function=\"" + PromLabel(f) + "\",version=\"" + PromLabel(s.version) + "\"";
  };
  auto counter = [&](const char* name, const char* help, uint64_t PoolCounters::*field) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [f, s] : snaps) {
      out +=
          std::string(name) + "{" + labels(f, s) + "} " + std::to_string(s.counters.*field) + "\n";
    }
  };
  counter("modelfn_cold_starts_total", "Instances started (each pays an init).",
          &PoolCounters::inits);
  counter("modelfn_cold_start_requests_total", "Requests that waited for an instance's init.",
          &PoolCounters::cold_requests);
  counter("modelfn_throttles_total", "Requests refused with 429: every instance busy, queue full.",
          &PoolCounters::throttled);
  counter("modelfn_queue_timeouts_total", "Requests answered 503 after waiting in the queue.",
          &PoolCounters::queue_timeouts);
  counter("modelfn_timeouts_total", "Requests answered 504; their instance was killed.",
          &PoolCounters::timeouts);
  counter("modelfn_instance_crashes_total", "Instances that exited unexpectedly.",
          &PoolCounters::crashes);
  counter("modelfn_out_of_memory_total", "Instances killed at their memory limit.",
          &PoolCounters::out_of_memory);
  counter("modelfn_init_failures_total", "Instances that failed to initialise.",
          &PoolCounters::init_failures);
  out += "# HELP modelfn_instances Instances by state.\n# TYPE modelfn_instances gauge\n";
  for (const auto& [f, s] : snaps) {
    std::pair<const char*, int> states[] = {
        {"starting", s.starting}, {"idle", s.idle}, {"busy", s.busy}, {"stopping", s.stopping}};
    for (const auto& [st, n] : states) {
      out += "modelfn_instances{" + labels(f, s) + ",state=\"" + st + "\"} " + std::to_string(n) +
             "\n";
    }
  }
  out += "# HELP modelfn_queue_depth Requests waiting for an instance.\n";
  out += "# TYPE modelfn_queue_depth gauge\n";
  for (const auto& [f, s] : snaps) {
    out += "modelfn_queue_depth{" + labels(f, s) + "} " + std::to_string(s.queued) + "\n";
  }
  return out;
}

std::string Platform::OpenApiJson() const {
  std::vector<OpenApiFunction> fns;
  for (const auto& f : functions_) fns.push_back({f->config.name, &f->variants[0].manifest});
  return BuildOpenApi(fns, url(), config_.gateway.api_keys, config_.gateway.jwt_enabled);
}

}  // namespace modelfn

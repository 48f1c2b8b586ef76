#include "platform/pool.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"
#include "http/http_client.h"
#include "http/problem.h"

namespace modelfn {

// The most an http-mode instance's answer may hold: the gateway keeps each answer in memory.
constexpr uint64_t kMaxInstanceResponseBytes = 256ull << 20;
namespace {

constexpr int64_t kMs = 1'000'000;

std::string NewLambdaRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t a = rng(), b = rng();
  char buf[40];
  snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
           static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
           static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

bool IsText(std::string_view content_type, std::string_view body) {
  if (body.empty()) return true;
  if (content_type.find("json") != std::string_view::npos || content_type.rfind("text/", 0) == 0) {
    return true;
  }
  return false;
}

// execve does not search PATH: resolve a bare command name the way a shell would.
std::string FindOnPath(const std::string& name, const std::map<std::string, std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  auto it = env.find("PATH");
  for (const std::string& dir : SplitPathList(it == env.end() ? "/usr/bin:/bin" : it->second)) {
    std::string cand = dir + "/" + name;
    if (access(cand.c_str(), X_OK) == 0) return cand;
  }
  return name;
}

const char* StateName(bool starting, bool stopping, int active) {
  if (stopping) return "stopping";
  if (starting) return "starting";
  return active > 0 ? "busy" : "idle";
}

}  // namespace

std::string BuildHttpApiEvent(const ForwardRequest& r, const std::string& request_id,
                              int64_t wall_ms) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("version").String("2.0");
  w.Key("routeKey").String("$default");
  w.Key("rawPath").String(r.path);
  w.Key("rawQueryString").String(r.query);
  w.Key("headers").BeginObject();
  // Payload 2.0 joins repeated fields with commas: a key written twice would make the event a
  // document with a duplicate key, which the runtime refuses.
  std::vector<std::pair<std::string, std::string>> merged;
  for (const auto& [k, v] : r.headers) {
    if ((k == "content-type" && !r.content_type.empty()) ||
        (k == "x-request-id" && !r.request_id.empty())) {
      continue;
    }
    auto same = std::find_if(merged.begin(), merged.end(),
                             [&k = k](const auto& field) { return field.first == k; });
    if (same == merged.end()) {
      merged.emplace_back(k, v);
    } else {
      same->second += "," + v;
    }
  }
  std::string user_agent;
  for (const auto& [k, v] : merged) {
    w.Key(k).String(v);
    if (k == "user-agent") user_agent = v;
  }
  if (!r.content_type.empty()) w.Key("content-type").String(r.content_type);
  if (!r.request_id.empty()) w.Key("x-request-id").String(r.request_id);
  w.EndObject();
  w.Key("requestContext").BeginObject();
  w.Key("accountId").String("000000000000");
  w.Key("apiId").String("modelfn-local");
  w.Key("domainName").String("localhost");
  w.Key("http").BeginObject();
  w.Key("method").String(r.method);
  w.Key("path").String(r.path);
  w.Key("protocol").String("HTTP/1.1");
  w.Key("sourceIp").String(r.source_ip.empty() ? "127.0.0.1" : r.source_ip);
  w.Key("userAgent").String(user_agent);
  w.EndObject();
  w.Key("requestId").String(r.request_id.empty() ? request_id : r.request_id);
  w.Key("routeKey").String("$default");
  w.Key("stage").String("$default");
  w.Key("timeEpoch").Int(wall_ms);
  w.EndObject();
  bool text = IsText(r.content_type, r.body);
  w.Key("body").String(text ? r.body : Base64Encode(r.body));
  w.Key("isBase64Encoded").Bool(!text);
  w.EndObject();
  return out;
}

ForwardReply ParseHttpApiResponse(std::string_view payload) {
  ForwardReply reply;
  auto doc = Json::Parse(payload);
  // HTTP API 2.0: a payload that is not {"statusCode": ...} is itself a 200 JSON body.
  const Json* status = doc.ok() && doc->is_object() ? doc->Find("statusCode") : nullptr;
  if (status == nullptr || !status->is_integral()) {
    reply.body = std::string(payload);
    return reply;
  }
  // As API Gateway does with a malformed proxy response: a status that cannot be a final answer
  // (1xx would make the client expect another response on the connection) is the function's
  // error.
  if (!status->fits_int64() || status->AsInt64() < 200 || status->AsInt64() > 599) {
    Problem p = MakeProblem("function_error",
                            "the function answered an invalid statusCode " + status->Dump());
    reply.status = p.status;
    reply.content_type = std::string(kProblemContentType);
    reply.body = p.ToJson();
    return reply;
  }
  reply.status = static_cast<int>(status->AsInt64());
  reply.content_type.clear();
  if (const Json* h = doc->Find("headers"); h != nullptr && h->is_object()) {
    for (const auto& [k, v] : h->AsObject()) {
      std::string lk = k;
      std::transform(lk.begin(), lk.end(), lk.begin(), ::tolower);
      std::string val = v.is_string() ? v.AsString() : v.Dump();
      if (lk == "content-type") {
        reply.content_type = val;
      } else if (lk != "content-length" && lk != "connection" && lk != "date" && lk != "server") {
        reply.headers.emplace_back(k, val);
      }
    }
  }
  if (reply.content_type.empty()) reply.content_type = "application/json";
  const Json* body = doc->Find("body");
  std::string text = body != nullptr && body->is_string() ? body->AsString() : "";
  const Json* b64 = doc->Find("isBase64Encoded");
  if (b64 != nullptr && b64->is_bool() && b64->AsBool()) {
    auto bin = Base64Decode(text);
    text = bin.ok() ? *bin : "";
  }
  reply.body = std::move(text);
  return reply;
}

InstancePool::InstancePool(FunctionConfig fn, std::string version, const PoolEnv& env)
    : fn_(std::move(fn)), env_(env), version_(std::move(version)) {
  params_.min_instances = fn_.min_instances;
  params_.max_instances = fn_.max_instances;
  params_.concurrency = fn_.mode == InstanceMode::kLambda ? 1 : fn_.concurrency;
  params_.idle_ttl_ns = static_cast<int64_t>(fn_.idle_ttl_s * 1e9);
}

InstancePool::~InstancePool() { Shutdown(); }

ForwardReply InstancePool::ProblemReply(const std::string& code, const std::string& detail) const {
  Problem p = MakeProblem(code, detail);
  ForwardReply r;
  r.status = p.status;
  r.content_type = std::string(kProblemContentType);
  r.body = p.ToJson();
  r.code = p.code;
  if (p.status == 429 || p.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

void InstancePool::Start() {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < fn_.min_instances; ++i) StartInstanceLocked(true, &d);
    RefillSpareLocked(&d);
  }
  d.Run();
}

bool InstancePool::UseSpares() const {
  return env_.memory->kind() == MemoryLimitKind::kCgroupV1 ||
         env_.memory->kind() == MemoryLimitKind::kCgroupV2;
}

void InstancePool::RefillSpareLocked(Deferred* d) {
  if (!UseSpares() || spare_ || spare_pending_ || shutdown_) return;
  spare_pending_ = true;
  std::string name = fn_.name + "-spare-" + std::to_string(next_spare_++);
  d->work.emplace_back([this, name] {
    env_.workers->Post([this, name] {
      auto group = env_.memory->CreateGroup(name, int64_t{fn_.memory_mb} << 20);
      StatusOr<Spare> spare = group.ok() ? ForkSpare(env_.log_dir + "/" + fn_.name + ".log", *group,
                                                     fn_.mode == InstanceMode::kHttp)
                                         : StatusOr<Spare>(group.status());
      std::lock_guard<std::mutex> lock(mu_);
      spare_pending_ = false;
      if (!spare.ok()) {
        if (group.ok()) env_.memory->RemoveGroup(*group);
        return;  // instances start without a spare (slower), nothing else changes
      }
      if (shutdown_ || spare_) {
        DiscardSpare(&*spare);
        env_.memory->RemoveGroup(spare->group_dir);
        return;
      }
      spare_ = std::make_unique<Spare>(std::move(spare).value());
    });
  });
}

std::string InstancePool::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

void InstancePool::SetVersion(const std::string& version) {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (version == version_ || shutdown_) return;
    version_ = version;
    ++generation_;
    ScaleLocked(&d);
  }
  d.Run();
}

std::vector<InstanceView> InstancePool::ViewsLocked() const {
  std::vector<InstanceView> v;
  v.reserve(instances_.size());
  for (const auto& [id, in] : instances_) {
    InstanceView x;
    x.id = id;
    // A lambda instance takes work only while its "next" call is parked; between a response and
    // its next "next" it counts as live but takes nothing.
    x.ready = in->state == State::kReady &&
              (fn_.mode == InstanceMode::kHttp || in->has_parked || in->active > 0);
    x.current = in->generation == generation_;
    x.stopping = in->state == State::kStopping;
    x.active = in->active;
    x.idle_since_ns = in->idle_since_ns;
    v.push_back(x);
  }
  return v;
}

void InstancePool::Submit(ForwardRequest request, ReplyFn done) {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t now = env_.clock->MonotonicNanos();
    if (request.arrived_ns == 0) request.arrived_ns = now;
    ++counters_.requests;
    if (shutdown_) {
      d.Reply(std::move(done), ProblemReply("shutting_down", "the platform is shutting down"));
    } else if (now < init_backoff_until_ns_) {
      d.Reply(std::move(done),
              ProblemReply("init_failed",
                           "function " + fn_.name + " failed to initialise: " + last_init_error_));
    } else {
      auto views = ViewsLocked();
      bool free_slot = PickInstance(params_, views).has_value();
      size_t starting_slots = 0;
      for (const auto& v : views) {
        if (!v.stopping && !v.ready && v.active == 0) starting_slots += params_.concurrency;
      }
      size_t can_start = static_cast<size_t>(std::max(
          0, params_.max_instances - static_cast<int>(std::count_if(
                                         views.begin(), views.end(),
                                         [](const InstanceView& x) { return !x.stopping; }))));
      size_t limit = static_cast<size_t>(fn_.max_queue) + starting_slots +
                     can_start * static_cast<size_t>(params_.concurrency);
      if (!free_slot && queue_.size() >= limit) {
        ++counters_.throttled;
        d.Reply(std::move(done),
                ProblemReply("throttled", "all " + std::to_string(fn_.max_instances) +
                                              " instances of " + fn_.name +
                                              " are busy and the queue is full"));
      } else {
        Waiting w;
        w.request = std::move(request);
        w.done = std::move(done);
        w.deadline_ns = now + static_cast<int64_t>(fn_.queue_timeout_s * 1e9);
        queue_.push_back(std::move(w));
        DispatchLocked(&d);
        ScaleLocked(&d);
      }
    }
  }
  d.Run();
}

void InstancePool::DispatchLocked(Deferred* d) {
  while (!queue_.empty()) {
    auto pick = PickInstance(params_, ViewsLocked());
    if (!pick) return;
    Waiting w = std::move(queue_.front());
    queue_.pop_front();
    StartRequestLocked(instances_.at(*pick).get(), std::move(w), d);
  }
}

void InstancePool::StartRequestLocked(Instance* in, Waiting w, Deferred* d) {
  int64_t now = env_.clock->MonotonicNanos();
  uint64_t rid = next_request_++;
  InFlight f;
  f.instance = in->id;
  f.deadline_ns = now + static_cast<int64_t>(fn_.timeout_s * 1e9);
  f.dispatched_ns = now;
  f.cold = w.request.arrived_ns < in->ready_ns;
  f.version = in->version;
  f.instance_name = in->name;
  f.done = std::move(w.done);
  if (f.cold) ++counters_.cold_requests;
  ++in->active;
  ++in->served;
  if (fn_.mode == InstanceMode::kLambda) {
    f.lambda_id = NewLambdaRequestId();
    int64_t wall_ms = env_.clock->WallNanos() / kMs;
    HttpResponse next;
    next.body = BuildHttpApiEvent(w.request, f.lambda_id, wall_ms);
    next.headers.emplace_back("Lambda-Runtime-Aws-Request-Id", f.lambda_id);
    next.headers.emplace_back("Lambda-Runtime-Deadline-Ms",
                              std::to_string(wall_ms + static_cast<int64_t>(fn_.timeout_s * 1000)));
    next.headers.emplace_back("Lambda-Runtime-Invoked-Function-Arn",
                              "arn:aws:lambda:local:000000000000:function:" + fn_.name);
    next.headers.emplace_back(
        "Lambda-Runtime-Trace-Id",
        "Root=1-" + std::to_string(wall_ms / 1000) + "-" + f.lambda_id.substr(0, 8) + ";Sampled=0");
    HttpResponder parked = std::move(in->parked);
    in->parked = HttpResponder();
    in->has_parked = false;
    lambda_ids_[f.lambda_id] = rid;
    d->work.emplace_back([parked, next = std::move(next)]() mutable { parked(std::move(next)); });
    f.request = std::move(w.request);
  } else {
    int timeout_ms = static_cast<int>(fn_.timeout_s * 1000);
    int port = in->port;
    ForwardRequest copy = w.request;
    f.request = std::move(w.request);
    d->work.emplace_back([this, rid, port, copy = std::move(copy), timeout_ms]() mutable {
      env_.workers->Post([this, rid, port, copy = std::move(copy), timeout_ms]() mutable {
        ForwardHttp(rid, port, std::move(copy), timeout_ms);
      });
    });
  }
  inflight_.emplace(rid, std::move(f));
}

void InstancePool::ForwardHttp(uint64_t rid, int port, ForwardRequest req, int timeout_ms) {
  thread_local std::unique_ptr<HttpClient> client = MakePlainHttpClient();
  HttpCall call;
  call.method = req.method;
  call.url = "http://127.0.0.1:" + std::to_string(port) + req.path +
             (req.query.empty() ? "" : "?" + req.query);
  if (!req.content_type.empty()) call.headers.emplace_back("Content-Type", req.content_type);
  if (!req.request_id.empty()) call.headers.emplace_back("X-Request-Id", req.request_id);
  for (const auto& [k, v] : req.headers) {
    if (k == "inference-header-content-length" || k == "accept") call.headers.emplace_back(k, v);
  }
  call.body = req.body;
  call.stall_timeout_s = timeout_ms / 1000 + 5;  // the pool's timer kills first
  call.max_response_bytes = kMaxInstanceResponseBytes;
  auto reply = client->Send(call);
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = inflight_.find(rid);
    if (it == inflight_.end()) return;  // already answered (timeout, shutdown)
    ForwardReply r;
    if (reply.ok()) {
      r.status = reply->status;
      r.content_type = reply->HeaderOr("content-type");
      for (const auto& [k, v] : reply->headers) {
        if (k != "content-type" && k != "content-length" && k != "connection" && k != "date" &&
            k != "server") {
          r.headers.emplace_back(k, v);
        }
      }
      r.body = std::move(reply->body);
      FinishLocked(rid, std::move(r), &d);
    } else if (reply.status().reason() == "response_too_large") {
      // The instance is fine; its answer is more than the gateway holds for one request.
      FinishLocked(rid,
                   ProblemReply("response_too_large",
                                "the instance answered more than " +
                                    std::to_string(kMaxInstanceResponseBytes >> 20) + " MiB"),
                   &d);
    } else if (reply.status().code() == StatusCode::kResourceExhausted) {
      // The gateway itself is out of descriptors: the instance is fine, keep it.
      FinishLocked(
          rid,
          ProblemReply("overloaded", "the gateway cannot open a connection to the instance: " +
                                         reply.status().message()),
          &d);
    } else {
      // The instance broke the connection: it crashed or was killed (OOM). Kill what is left.
      auto in = instances_.find(it->second.instance);
      bool oom = in != instances_.end() && env_.memory->OomKilled(in->second->group_dir);
      if (in != instances_.end()) KillLocked(in->second.get(), oom ? "out_of_memory" : "crashed");
      if (oom) {
        ++counters_.out_of_memory;
        r = ProblemReply("out_of_memory", "instance exceeded memory_mb=" +
                                              std::to_string(fn_.memory_mb) + " and was killed");
      } else {
        ++counters_.crashes;
        r = ProblemReply("instance_crashed",
                         "the instance serving this request failed: " + reply.status().message());
      }
      FinishLocked(rid, std::move(r), &d);
    }
    DispatchLocked(&d);
  }
  d.Run();
}

void InstancePool::FinishLocked(uint64_t rid, ForwardReply reply, Deferred* d) {
  auto it = inflight_.find(rid);
  if (it == inflight_.end()) return;
  InFlight f = std::move(it->second);
  inflight_.erase(it);
  if (!f.lambda_id.empty()) lambda_ids_.erase(f.lambda_id);
  int64_t now = env_.clock->MonotonicNanos();
  auto in = instances_.find(f.instance);
  if (in != instances_.end()) {
    in->second->active = std::max(0, in->second->active - 1);
    if (in->second->active == 0) in->second->idle_since_ns = now;
  }
  reply.instance = f.instance_name;
  reply.version = f.version;
  reply.cold_start = f.cold;
  reply.queue_ms = static_cast<double>(f.dispatched_ns - f.request.arrived_ns) / 1e6;
  d->Reply(std::move(f.done), std::move(reply));
}

void InstancePool::StartInstanceLocked(bool prewarmed, Deferred* d) {
  auto in = std::make_unique<Instance>();
  in->id = next_instance_++;
  in->version = version_;
  in->generation = generation_;
  in->name = fn_.name + "-" + version_ + "-" + std::to_string(in->id);
  in->prewarmed = prewarmed;
  in->started_ns = env_.clock->MonotonicNanos();
  in->idle_since_ns = in->started_ns;

  LaunchSpec spec;
  spec.binary = env_.fn_binary;
  if (!fn_.command.empty()) {
    spec.binary = FindOnPath(fn_.command[0], env_.base_env);
    spec.args.assign(fn_.command.begin() + 1, fn_.command.end());
  }
  spec.env = env_.base_env;
  for (const auto& [k, v] : fn_.env) spec.env[k] = v;
  spec.env["MODELFN_MODEL"] = env_.store_uri + "/" + fn_.model + "@" + version_;
  spec.log_path = env_.log_dir + "/" + fn_.name + ".log";
  int64_t limit = int64_t{fn_.memory_mb} << 20;
  if (env_.memory->kind() == MemoryLimitKind::kRlimit) spec.rlimit_as_bytes = limit;
  if (fn_.mode == InstanceMode::kLambda) {
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.workers = 1;
    o.drain_timeout_ms = 100;
    o.idle_timeout_ms = 24 * 3600 * 1000;
    o.limits.max_body_bytes = 8 << 20;
    uint64_t id = in->id;
    auto api = HttpServer::CreateAsync(o, [this, id](HttpRequest req, HttpResponder respond) {
      OnRuntimeApi(id, std::move(req), std::move(respond));
    });
    if (!api.ok()) {
      last_init_error_ = api.status().message();
      ++counters_.init_failures;
      env_.memory->RemoveGroup(in->group_dir);
      return;
    }
    in->api = std::move(api).value();
    HttpServer* srv = in->api.get();
    in->api_thread = std::thread([srv] { srv->Run(); });
    std::string endpoint = "127.0.0.1:" + std::to_string(srv->port());
    spec.env["AWS_LAMBDA_RUNTIME_API"] = endpoint;
    spec.env["AWS_LAMBDA_FUNCTION_NAME"] = fn_.name;
    spec.env["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST";
    spec.env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = std::to_string(fn_.memory_mb);
    spec.env["AWS_LAMBDA_LOG_STREAM_NAME"] = in->name;
    spec.env["AWS_LAMBDA_INITIALIZATION_TYPE"] =
        prewarmed ? "provisioned-concurrency" : "on-demand";
  } else {
    spec.env["PORT"] = "0";
    spec.env["MODELFN_HOST"] = "127.0.0.1";
    spec.ready_pipe = true;
  }
  StatusOr<Launched> launched = UnavailableError("not launched");
  if (spare_) {
    // The spare already sits in a cgroup with this function's limit: exec there.
    std::unique_ptr<Spare> spare = std::move(spare_);
    auto env = spec.env;
    Status s = ExecSpare(spare.get(), spec.binary, spec.args, env);
    if (s.ok()) {
      in->group_dir = spare->group_dir;
      launched = Launched{spare->pid, spare->ready_fd};
    } else {
      DiscardSpare(spare.get());
      env_.memory->RemoveGroup(spare->group_dir);
    }
  }
  if (!launched.ok()) {
    if (UseSpares()) {  // no spare ready: join a new group in the child (slower)
      auto group = env_.memory->CreateGroup(in->name, limit);
      if (group.ok()) {
        in->group_dir = *group;
        spec.group_dir = *group;
      }
    }
    launched = LaunchProcess(spec);
  }
  RefillSpareLocked(d);
  if (!launched.ok()) {
    env_.memory->RemoveGroup(in->group_dir);
    last_init_error_ = launched.status().message();
    ++counters_.init_failures;
    if (in->api) {
      HttpServer* srv = in->api.get();
      srv->Shutdown();
      std::shared_ptr<Instance> dead(in.release());
      d->work.emplace_back([dead] {
        if (dead->api_thread.joinable()) dead->api_thread.join();
      });
    }
    return;
  }
  in->pid = launched->pid;
  RecordInstance(env_.instance_dir, in->pid);
  ++counters_.inits;
  if (prewarmed) ++counters_.prewarmed_inits;
  if (launched->ready_fd >= 0) {
    uint64_t id = in->id;
    int fd = launched->ready_fd;
    in->ready_fd = fd;
    in->starter = std::thread([this, id, fd] { AwaitReady(id, fd); });
  }
  instances_.emplace(in->id, std::move(in));
}

void InstancePool::AwaitReady(uint64_t instance_id, int fd) {
  auto line = ReadReadyLine(fd, env_.init_timeout_ms);
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = instances_.find(instance_id);
    if (it == instances_.end()) return;
    Instance* in = it->second.get();
    if (in->state != State::kStarting) return;
    int port = line.ok() ? atoi(line->c_str()) : 0;
    if (port <= 0) {
      // Exited during init (the reaper records why) or too slow: not an instance to keep.
      if (!line.ok() && line.status().code() == StatusCode::kDeadlineExceeded) {
        last_init_error_ =
            "init did not finish within " + std::to_string(env_.init_timeout_ms) + " ms";
        KillLocked(in, "init_timeout");
      }
      return;
    }
    in->port = port;
    in->state = State::kReady;
    in->ready_ns = env_.clock->MonotonicNanos();
    in->idle_since_ns = in->ready_ns;
    DispatchLocked(&d);
  }
  d.Run();
}

void InstancePool::OnRuntimeApi(uint64_t instance_id, HttpRequest req, HttpResponder respond) {
  static constexpr std::string_view kNext = "/2018-06-01/runtime/invocation/next";
  static constexpr std::string_view kInvocation = "/2018-06-01/runtime/invocation/";
  static constexpr std::string_view kInitError = "/2018-06-01/runtime/init/error";
  auto accepted = [] {
    HttpResponse r;
    r.status = 202;
    r.body = R"({"status":"OK"})";
    return r;
  };
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = instances_.find(instance_id);
    if (it == instances_.end() || it->second->state == State::kStopping) {
      // A stopping instance gets no more work; its "next" stays parked until it exits.
      if (it != instances_.end() && req.path == kNext) {
        it->second->parked = respond;
        it->second->has_parked = true;
        return;
      }
      HttpResponse r;
      r.status = 410;
      r.body = R"({"errorMessage":"instance is gone","errorType":"InstanceGone"})";
      respond(std::move(r));
      return;
    }
    Instance* in = it->second.get();
    int64_t now = env_.clock->MonotonicNanos();
    if (req.method == "GET" && req.path == kNext) {
      if (in->state == State::kStarting) {
        in->state = State::kReady;  // init is done when the runtime first asks for work
        in->ready_ns = now;
        in->idle_since_ns = now;
      }
      in->parked = std::move(respond);
      in->has_parked = true;
      DispatchLocked(&d);
    } else if (req.method == "POST" && req.path == kInitError) {
      std::string type = "Runtime.Unknown";
      if (const std::string* t = req.Header("lambda-runtime-function-error-type")) type = *t;
      auto body = Json::Parse(req.body);
      std::string message =
          body.ok() && body->Find("errorMessage") && body->Find("errorMessage")->is_string()
              ? body->Find("errorMessage")->AsString()
              : req.body.substr(0, 300);
      last_init_error_ = type + ": " + message;
      respond(accepted());
    } else if (req.method == "POST" && req.path.rfind(kInvocation, 0) == 0) {
      std::string rest = req.path.substr(kInvocation.size());
      size_t slash = rest.find('/');
      std::string lambda_id = rest.substr(0, slash);
      std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
      auto rid = lambda_ids_.find(lambda_id);
      if (rid == lambda_ids_.end() || inflight_.at(rid->second).instance != instance_id ||
          (what != "response" && what != "error")) {
        HttpResponse r;
        r.status = rid == lambda_ids_.end() ? 400 : 404;
        r.body = R"({"errorMessage":"unknown request id","errorType":"InvalidRequestID"})";
        respond(std::move(r));
        return;
      }
      ForwardReply reply;
      if (what == "response") {
        reply = ParseHttpApiResponse(req.body);
      } else {
        ++counters_.function_errors;
        std::string type = "Unhandled";
        if (const std::string* t = req.Header("lambda-runtime-function-error-type")) type = *t;
        reply = ProblemReply("function_error", type + ": " + req.body.substr(0, 1000));
      }
      FinishLocked(rid->second, std::move(reply), &d);
      respond(accepted());
    } else {
      HttpResponse r;
      r.status = 404;
      r.body = R"({"errorMessage":"unknown Runtime API route","errorType":"NotFound"})";
      respond(std::move(r));
    }
  }
  d.Run();
}

void InstancePool::KillLocked(Instance* in, const std::string& reason) {
  if (in->pid > 0 && !in->sigkilled) {
    kill(-in->pid, SIGKILL);
    kill(in->pid, SIGKILL);
    in->sigkilled = true;
  }
  if (in->exit_reason.empty()) in->exit_reason = reason;
  if (in->state != State::kStopping) {
    in->state = State::kStopping;
    in->stop_ns = env_.clock->MonotonicNanos();
  }
}

void InstancePool::FailQueuedLocked(const std::string& code, const std::string& detail,
                                    Deferred* d) {
  while (!queue_.empty()) {
    d->Reply(std::move(queue_.front().done), ProblemReply(code, detail));
    queue_.pop_front();
  }
}

// The instance's process is gone: answer what it held, release its resources.
void InstancePool::RemoveLocked(uint64_t id, Deferred* d) {
  auto it = instances_.find(id);
  if (it == instances_.end()) return;
  Instance* in = it->second.get();
  bool oom = env_.memory->OomKilled(in->group_dir);
  std::vector<uint64_t> held;
  for (const auto& [rid, f] : inflight_) {
    if (f.instance == id) held.push_back(rid);
  }
  for (uint64_t rid : held) {
    if (oom) {
      ++counters_.out_of_memory;
      FinishLocked(rid,
                   ProblemReply("out_of_memory",
                                "instance exceeded memory_mb=" + std::to_string(fn_.memory_mb) +
                                    " and was killed"),
                   d);
    } else {
      ++counters_.crashes;
      FinishLocked(
          rid,
          ProblemReply("instance_crashed", "the instance serving this request exited mid-request"),
          d);
    }
  }
  if (held.empty() && in->exit_reason.empty() && in->state != State::kStopping) {
    if (in->state == State::kStarting) {
      ++counters_.init_failures;
      if (last_init_error_.empty()) {
        last_init_error_ =
            "the instance exited during init; see " + env_.log_dir + "/" + fn_.name + ".log";
      }
    } else if (oom) {
      ++counters_.out_of_memory;
    } else {
      ++counters_.crashes;
    }
  }
  bool init_failed = in->state == State::kStarting && in->exit_reason.empty();
  env_.memory->RemoveGroup(in->group_dir);
  if (in->pid > 0) ForgetInstance(env_.instance_dir, in->pid);
  std::shared_ptr<Instance> gone(it->second.release());
  instances_.erase(it);
  // The starter owns the readiness pipe: it is closed after the starter is joined.
  d->work.emplace_back([gone] {
    if (gone->api) gone->api->Shutdown();
    if (gone->api_thread.joinable()) gone->api_thread.join();
    if (gone->starter.joinable()) gone->starter.join();
    if (gone->ready_fd >= 0) close(gone->ready_fd);
  });
  if (init_failed) {
    // Do not restart in a loop: requests fail fast for a second, then a new one tries again.
    bool others = false;
    for (const auto& [oid, o] : instances_) others = others || o->state != State::kStopping;
    if (!others) {
      init_backoff_until_ns_ = env_.clock->MonotonicNanos() + 1000 * kMs;
      FailQueuedLocked("init_failed",
                       "function " + fn_.name + " failed to initialise: " + last_init_error_, d);
    }
  }
}

void InstancePool::ScaleLocked(Deferred* d) {
  if (shutdown_) return;
  int64_t now = env_.clock->MonotonicNanos();
  if (now < init_backoff_until_ns_) return;
  ScaleDecision dec = DecideScale(params_, ViewsLocked(), queue_.size(), now);
  for (uint64_t id : dec.stop) {
    Instance* in = instances_.at(id).get();
    in->state = State::kStopping;
    in->stop_ns = now;
    if (in->pid > 0) kill(in->pid, SIGTERM);
  }
  bool prewarm = queue_.empty();
  for (int i = 0; i < dec.start; ++i) StartInstanceLocked(prewarm, d);
}

void InstancePool::Tick() {
  Deferred d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t now = env_.clock->MonotonicNanos();
    // Reap.
    std::vector<uint64_t> exited;
    for (auto& [id, in] : instances_) {
      if (in->pid <= 0) continue;
      int st = 0;
      pid_t r = waitpid(in->pid, &st, WNOHANG);
      if (r == in->pid || (r < 0 && errno == ECHILD)) exited.push_back(id);
    }
    for (uint64_t id : exited) RemoveLocked(id, &d);
    // Timeouts: answer 504, kill the instance (it is replaced on demand).
    std::vector<uint64_t> late;
    for (const auto& [rid, f] : inflight_) {
      if (now >= f.deadline_ns) late.push_back(rid);
    }
    for (uint64_t rid : late) {
      auto it = inflight_.find(rid);
      auto in = instances_.find(it->second.instance);
      ++counters_.timeouts;
      if (in != instances_.end()) KillLocked(in->second.get(), "timeout");
      FinishLocked(rid,
                   ProblemReply("timeout", "the function did not answer within timeout_s=" +
                                               Json::Double(fn_.timeout_s).Dump()),
                   &d);
    }
    // Stopping instances that ignore SIGTERM.
    for (auto& [id, in] : instances_) {
      if (in->state == State::kStopping && !in->sigkilled &&
          now - in->stop_ns >= int64_t{env_.stop_grace_ms} * kMs) {
        KillLocked(in.get(), in->exit_reason.empty() ? "stopped" : in->exit_reason);
      }
      if (in->state == State::kStarting && fn_.mode == InstanceMode::kLambda &&
          now - in->started_ns >= int64_t{env_.init_timeout_ms} * kMs) {
        last_init_error_ =
            "init did not finish within " + std::to_string(env_.init_timeout_ms) + " ms";
        KillLocked(in.get(), "init_timeout");
        ++counters_.init_failures;
      }
    }
    // Requests that waited too long.
    while (!queue_.empty() && now >= queue_.front().deadline_ns) {
      ++counters_.queue_timeouts;
      d.Reply(std::move(queue_.front().done),
              ProblemReply("overloaded",
                           "no instance of " + fn_.name + " was free within " +
                               "queue_timeout_s=" + Json::Double(fn_.queue_timeout_s).Dump()));
      queue_.pop_front();
    }
    DispatchLocked(&d);
    ScaleLocked(&d);
  }
  d.Run();
}

PoolSnapshot InstancePool::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  PoolSnapshot s;
  s.function = fn_.name;
  s.version = version_;
  s.mode = fn_.mode == InstanceMode::kLambda ? "lambda" : "http";
  s.queued = queue_.size();
  s.counters = counters_;
  s.last_init_error = last_init_error_;
  int64_t now = env_.clock->MonotonicNanos();
  for (const auto& [id, in] : instances_) {
    InstanceInfo i;
    i.name = in->name;
    i.pid = in->pid;
    bool stopping = in->state == State::kStopping;
    bool starting = in->state == State::kStarting;
    i.state = StateName(starting, stopping, in->active);
    i.version = in->version;
    i.active = in->active;
    i.served = in->served;
    i.age_s = static_cast<double>(now - in->started_ns) / 1e9;
    i.init_ms = in->ready_ns ? static_cast<double>(in->ready_ns - in->started_ns) / 1e6 : 0;
    i.prewarmed = in->prewarmed;
    if (stopping) {
      ++s.stopping;
    } else if (starting) {
      ++s.starting;
    } else if (in->active > 0) {
      ++s.busy;
    } else {
      ++s.idle;
    }
    s.instances.push_back(std::move(i));
  }
  return s;
}

void InstancePool::Shutdown() {
  Deferred d;
  std::vector<pid_t> pids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_ && instances_.empty() && !spare_) return;
    shutdown_ = true;
    if (spare_) {
      DiscardSpare(spare_.get());
      env_.memory->RemoveGroup(spare_->group_dir);
      spare_.reset();
    }
    FailQueuedLocked("shutting_down", "the platform is shutting down", &d);
    for (auto& [id, in] : instances_) {
      if (in->pid > 0) {
        kill(in->pid, SIGTERM);
        pids.push_back(in->pid);
      }
      if (in->state != State::kStopping) {
        in->state = State::kStopping;
        in->stop_ns = env_.clock->MonotonicNanos();
      }
    }
  }
  d.Run();
  // Wait for them to exit (the grace period), then kill what is left.
  for (int waited = 0; waited < env_.stop_grace_ms; waited += 10) {
    bool alive = false;
    for (pid_t p : pids) alive = alive || kill(p, 0) == 0;
    if (!alive) break;
    {
      std::lock_guard<std::mutex> lock(mu_);
      bool any = false;
      for (auto& [id, in] : instances_) {
        int st;
        if (in->pid > 0 && waitpid(in->pid, &st, WNOHANG) == 0) any = true;
      }
      if (!any) break;
    }
    usleep(10'000);
  }
  Deferred d2;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, in] : instances_) KillLocked(in.get(), "shutdown");
    for (auto& [id, in] : instances_) {
      if (in->pid > 0) waitpid(in->pid, nullptr, 0);
    }
    std::vector<uint64_t> ids;
    for (auto& [id, in] : instances_) ids.push_back(id);
    for (uint64_t id : ids) RemoveLocked(id, &d2);
    std::vector<uint64_t> rids;
    for (auto& [rid, f] : inflight_) rids.push_back(rid);
    for (uint64_t rid : rids) {
      FinishLocked(rid, ProblemReply("shutting_down", "the platform is shutting down"), &d2);
    }
  }
  d2.Run();
}

}  // namespace modelfn

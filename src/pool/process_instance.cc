#include "pool/process_instance.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>

#include "common/json.h"
#include "http/http_client.h"
#include "http/problem.h"
#include "observe/trace_context.h"
#include "pool/face_path.h"
#include "pool/orphans.h"

namespace modelfn {
namespace {

// The most an http-mode instance's answer may hold: the gateway keeps each answer in memory.
constexpr uint64_t kMaxInstanceResponseBytes = 256ull << 20;
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

ForwardReply ProblemReply(const std::string& code, const std::string& detail) {
  Problem p = MakeProblem(code, detail);
  ForwardReply r;
  r.status = p.status;
  r.content_type = std::string(kProblemContentType);
  r.body = p.ToJson();
  r.code = p.code;
  if (p.status == 429 || p.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

HttpResponse RuntimeApiError(int status, const char* body) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

}  // namespace

void ProcessInstance::Started(pid_t pid, std::string group_dir, bool forked,
                              std::string cpu_group) {
  RegisterChild(pid);
  std::lock_guard<std::mutex> lock(mu_);
  group_dir_ = std::move(group_dir);
  cpu_group_ = std::move(cpu_group);
  forked_.store(forked);
  pid_.store(pid);
  if (kill_when_started_) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    killed_ = true;
  } else if (stopping_) {
    kill(pid, SIGTERM);
  }
}

void ProcessInstance::StartFailed() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pid_.load() <= 0 && !exit_) exit_ = Scheduler::Exit::kExited;
}

pid_t ProcessInstance::pid() const { return pid_.load(); }

void ProcessInstance::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  pid_t pid = pid_.load();
  if (pid > 0 && !killed_ && !exit_) kill(pid, SIGTERM);
}

void ProcessInstance::Kill() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  pid_t pid = pid_.load();
  if (pid <= 0 && !exit_) kill_when_started_ = true;
  if (pid <= 0 || killed_ || exit_) return;
  // Its process group too: helpers a custom runtime started die with it.
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  killed_ = true;
}

std::optional<Scheduler::Exit> ProcessInstance::PollExit() {
  std::lock_guard<std::mutex> lock(mu_);
  pid_t pid = pid_.load();
  if (exit_ || pid <= 0) return exit_;
  int st = 0;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == pid || (r < 0 && errno == ECHILD)) {
    ForgetChild(pid);
    exit_ = env_.memory->OomKilled(group_dir_) ? Scheduler::Exit::kOutOfMemory
                                               : Scheduler::Exit::kExited;
  }
  return exit_;
}

void ProcessInstance::Close() {
  std::string group, cpu_group;
  pid_t pid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    group = group_dir_;
    cpu_group = cpu_group_;
    pid = pid_.load();
  }
  env_.memory->RemoveGroup(group);
  if (env_.cpu != nullptr) env_.cpu->RemoveGroup(cpu_group);
  if (pid > 0) ForgetInstance(env_.instance_dir, pid);
}

// ---- lambda mode ----

LambdaInstance::LambdaInstance(const FunctionConfig& fn, const PoolEnv& env, InstanceEvents events)
    : ProcessInstance(env, std::move(events)), function_(fn.name), timeout_s_(fn.timeout_s) {}

LambdaInstance::~LambdaInstance() {
  if (attached_id_ != 0) env_.runtime_api->Detach(attached_id_);
  if (api_) api_->Shutdown();
  if (api_thread_.joinable()) api_thread_.join();
}

StatusOr<std::shared_ptr<LambdaInstance>> LambdaInstance::Create(const FunctionConfig& fn,
                                                                 const PoolEnv& env,
                                                                 InstanceEvents events) {
  std::shared_ptr<LambdaInstance> in(new LambdaInstance(fn, env, std::move(events)));
  // The handler holds the instance weakly: RuntimeApiHost::Detach does not wait for the loops,
  // so a request may reach the handler after the instance is gone.
  std::weak_ptr<LambdaInstance> weak = in;
  auto handler = [weak](HttpRequest req, HttpResponder respond) {
    if (auto self = weak.lock()) {
      self->OnRuntimeApi(std::move(req), std::move(respond));
    } else {
      respond(RuntimeApiError(410, R"({"errorMessage":"instance closed"})"));
    }
  };
  if (env.runtime_api != nullptr) {
    AttachOptions a;
    a.idle_timeout_ms = 24 * 3600 * 1000;
    a.limits.max_body_bytes = 8 << 20;
    auto attached = env.runtime_api->Attach(a, handler);
    if (attached.ok()) {
      in->attached_id_ = attached->id;
      in->port_ = attached->port;
      return in;
    }
  }
  HttpServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.workers = 1;
  o.drain_timeout_ms = 100;
  o.idle_timeout_ms = 24 * 3600 * 1000;
  o.limits.max_body_bytes = 8 << 20;
  auto api = HttpServer::CreateAsync(o, handler);
  if (!api.ok()) return api.status();
  in->api_ = std::move(api).value();
  in->port_ = in->api_->port();
  HttpServer* srv = in->api_.get();
  in->api_thread_ = std::thread([srv] { srv->Run(); });
  return in;
}

std::string LambdaInstance::endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

void LambdaInstance::Send(uint64_t id, std::shared_ptr<const ForwardRequest> request,
                          InstanceResultFn done) {
  Pending p;
  p.id = id;
  p.lambda_id = NewLambdaRequestId();
  p.done = std::move(done);
  int64_t wall_ms = env_.clock->WallNanos() / kMs;
  p.raw = request->raw_event;
  p.next.body = p.raw ? request->body : BuildHttpApiEvent(*request, p.lambda_id, wall_ms);
  p.next.headers.emplace_back("Lambda-Runtime-Aws-Request-Id", p.lambda_id);
  const double timeout_s = request->timeout_s > 0 ? request->timeout_s : timeout_s_;
  p.next.headers.emplace_back("Lambda-Runtime-Deadline-Ms",
                              std::to_string(wall_ms + static_cast<int64_t>(timeout_s * 1000)));
  p.next.headers.emplace_back("Lambda-Runtime-Invoked-Function-Arn",
                              "arn:aws:lambda:local:000000000000:function:" + function_);
  // The trace the gateway passed on, as Lambda's X-Ray header (observe/trace_context.h).
  std::optional<observe::TraceContext> trace;
  for (const auto& [k, v] : request->headers) {
    if (k == "traceparent") trace = observe::ParseTraceparent(v);
  }
  if (!trace) {
    std::mt19937_64 rng(std::hash<std::string>()(p.lambda_id));
    trace.emplace();
    trace->trace_id = observe::NewTraceId(rng, wall_ms / 1000);
  }
  p.next.headers.emplace_back("Lambda-Runtime-Trace-Id", observe::FormatXRay(*trace));
  HttpResponder parked;
  HttpResponse next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (parked_ && !stopping_) {
      parked = std::move(parked_);
      parked_ = HttpResponder();
      next = std::move(p.next);  // a handed event is not sent again
      handed_.emplace(p.lambda_id, std::move(p));
    } else {
      pending_.push_back(std::move(p));  // handed over at its next "next"
    }
  }
  if (parked) parked(std::move(next));
}

std::vector<uint64_t> LambdaInstance::TakeUnreached() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> ids;
  for (const Pending& p : pending_) ids.push_back(p.id);
  pending_.clear();
  return ids;
}

void LambdaInstance::Close() {
  {
    std::lock_guard<std::mutex> lock(detach_mu_);
    if (attached_id_ != 0) env_.runtime_api->Detach(attached_id_);
    attached_id_ = 0;
  }
  if (api_) api_->Shutdown();
  if (api_thread_.joinable()) api_thread_.join();
  api_.reset();
  ProcessInstance::Close();
}

void LambdaInstance::OnRuntimeApi(HttpRequest req, HttpResponder respond) {
  static constexpr std::string_view kNext = "/2018-06-01/runtime/invocation/next";
  static constexpr std::string_view kInvocation = "/2018-06-01/runtime/invocation/";
  static constexpr std::string_view kInitError = "/2018-06-01/runtime/init/error";
  auto accepted = [] { return RuntimeApiError(202, R"({"status":"OK"})"); };
  if (req.method == "GET" && req.path == kNext) {
    bool became_ready = false;
    HttpResponse next;
    bool hand = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // A stopping instance gets no more work: its "next" stays parked until it exits.
      if (!stopping_ && !ready_) {
        ready_ = true;  // init is done when the runtime first asks for work
        became_ready = true;
      }
      if (!stopping_ && !pending_.empty()) {
        Pending p = std::move(pending_.front());
        pending_.pop_front();
        next = std::move(p.next);
        hand = true;
        handed_.emplace(p.lambda_id, std::move(p));
      } else {
        parked_ = respond;
      }
    }
    if (hand) respond(std::move(next));
    if (became_ready && events_.ready) events_.ready();
    return;
  }
  if (req.method == "POST" && req.path == kInitError) {
    std::string type = "Runtime.Unknown";
    if (const std::string* t = req.Header("lambda-runtime-function-error-type")) type = *t;
    auto body = Json::Parse(req.body);
    std::string message =
        body.ok() && body->Find("errorMessage") && body->Find("errorMessage")->is_string()
            ? body->Find("errorMessage")->AsString()
            : req.body.substr(0, 300);
    respond(accepted());
    if (events_.init_error) events_.init_error(type + ": " + message);
    return;
  }
  if (req.method == "POST" && req.path.rfind(kInvocation, 0) == 0) {
    std::string rest = req.path.substr(kInvocation.size());
    size_t slash = rest.find('/');
    std::string lambda_id = rest.substr(0, slash);
    std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
    Pending p;
    bool known = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = handed_.find(lambda_id);
      if (it != handed_.end() && (what == "response" || what == "error")) {
        p = std::move(it->second);
        handed_.erase(it);
        known = true;
      }
    }
    if (!known) {
      respond(RuntimeApiError(
          400, R"({"errorMessage":"unknown request id","errorType":"InvalidRequestID"})"));
      return;
    }
    InstanceResult result;
    if (p.raw) {
      // The Invoke API's answer: the payload as the function posted it.
      result.reply.status = 200;
      result.reply.content_type = "application/json";
      result.reply.body = std::move(req.body);
      if (what == "error") {
        result.function_error = true;
        result.reply.headers.emplace_back(kFunctionErrorHeader, "Unhandled");
      }
    } else if (what == "response") {
      result.reply = ParseHttpApiResponse(req.body);
    } else {
      result.function_error = true;
      std::string type = "Unhandled";
      if (const std::string* t = req.Header("lambda-runtime-function-error-type")) type = *t;
      result.reply = ProblemReply("function_error", type + ": " + req.body.substr(0, 1000));
    }
    respond(accepted());
    p.done(std::move(result));
    return;
  }
  respond(RuntimeApiError(
      404, R"({"errorMessage":"unknown Runtime API route","errorType":"NotFound"})"));
}

// ---- http mode ----

void HttpInstance::AwaitReady(int ready_fd) {
  // On the platform's worker threads (no thread of its own): the host's init slots bound the
  // instances starting at once, and the workers are sized to hold that many waits.
  std::shared_ptr<HttpInstance> self = shared_from_this();
  env_.workers->Post([self, ready_fd] {
    // Exited during init (the reaper sees it) or too slow (the scheduler kills it): no event.
    auto line = ReadReadyLine(ready_fd, self->env_.init_timeout_ms);
    close(ready_fd);
    int port = line.ok() ? atoi(line->c_str()) : 0;
    if (port <= 0) return;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      if (self->stopping_) return;
      self->port_ = port;
    }
    // Never after Close: the pool the event goes to may be gone by then.
    std::lock_guard<std::mutex> lock(self->ready_mu_);
    if (!self->closed_ && self->events_.ready) self->events_.ready();
  });
}

void HttpInstance::Send(uint64_t id, std::shared_ptr<const ForwardRequest> request,
                        InstanceResultFn done) {
  int port;
  {
    std::lock_guard<std::mutex> lock(mu_);
    port = port_;
  }
  std::shared_ptr<HttpInstance> self = shared_from_this();
  if (env_.upstream != nullptr) {
    // On the gateway's event loops: no thread per call.
    env_.upstream->Exchange(
        MakeCall(port, *request),
        [self, done = std::move(done)](StatusOr<HttpReply> reply, HttpFailure failure) {
          done(self->Result(std::move(reply), failure));
        });
    return;
  }
  env_.workers->Post([self, port, request = std::move(request), done = std::move(done)]() mutable {
    UpstreamCall call = self->MakeCall(port, *request);
    thread_local std::unique_ptr<HttpClient> client = MakePlainHttpClient();
    HttpCall http;
    http.method = call.method;
    http.url = "http://127.0.0.1:" + std::to_string(port) + call.target;
    http.headers = call.headers;
    http.body = call.body;
    http.stall_timeout_s = call.stall_timeout_ms / 1000;
    http.max_response_bytes = call.max_response_bytes;
    HttpFailure failure = HttpFailure::kNone;
    http.failure = &failure;
    auto reply = client->Send(http);
    done(self->Result(std::move(reply), failure));
  });
}

UpstreamCall HttpInstance::MakeCall(int port, const ForwardRequest& req) const {
  UpstreamCall call;
  call.port = port;
  call.method = req.method;
  call.target = InstancePath(face_, req.path) + (req.query.empty() ? "" : "?" + req.query);
  if (!req.content_type.empty()) call.headers.emplace_back("Content-Type", req.content_type);
  if (!req.request_id.empty()) call.headers.emplace_back("X-Request-Id", req.request_id);
  for (const auto& [k, v] : req.headers) {
    if (k == "inference-header-content-length" || k == "accept" || k == "traceparent" ||
        k == "tracestate") {
      call.headers.emplace_back(k, v);
    }
  }
  call.body = req.body;
  // The pool's timer kills a request's instance at timeout_s: this only guards against a peer
  // that stalls beyond it.
  call.stall_timeout_ms =
      static_cast<int>(((req.timeout_s > 0 ? req.timeout_s : timeout_s_) + 5) * 1000);
  call.max_response_bytes = kMaxInstanceResponseBytes;
  return call;
}

InstanceResult HttpInstance::Result(StatusOr<HttpReply> reply, HttpFailure failure) {
  InstanceResult r;
  if (reply.ok()) {
    r.reply.status = reply->status;
    r.reply.content_type = reply->HeaderOr("content-type");
    for (auto& [k, v] : reply->headers) {
      if (k != "content-type" && k != "content-length" && k != "connection" && k != "date" &&
          k != "server" && k != "transfer-encoding" && k != "keep-alive") {
        r.reply.headers.emplace_back(std::move(k), std::move(v));
      }
    }
    r.reply.body = std::move(reply->body);
  } else if (reply.status().reason() == "response_too_large") {
    // The instance is fine; its answer is more than the gateway holds for one request.
    r.reply = ProblemReply("response_too_large",
                           "the instance answered more than " +
                               std::to_string(kMaxInstanceResponseBytes >> 20) + " MiB");
  } else if (reply.status().code() == StatusCode::kResourceExhausted) {
    // The gateway itself is out of descriptors: the instance is fine, keep it.
    r.reply = ProblemReply("overloaded", "the gateway cannot open a connection to the instance: " +
                                             reply.status().message());
  } else if (failure == HttpFailure::kConnect) {
    // Refused: the instance is gone and never saw the request.
    r.kind = InstanceResult::kNotReached;
    r.code = "instance_crashed";
    r.detail = "the instance serving this request failed: " + reply.status().message();
  } else {
    // The instance broke the connection: it crashed or was killed (OOM).
    r.kind = InstanceResult::kFailed;
    if (env_.memory->OomKilled(group_dir())) {
      r.code = "out_of_memory";
      r.detail = "instance exceeded memory_mb=" + std::to_string(memory_mb_) + " and was killed";
    } else {
      r.code = "instance_crashed";
      r.detail = "the instance serving this request failed: " + reply.status().message();
    }
  }
  return r;
}

void HttpInstance::Close() {
  {
    std::lock_guard<std::mutex> lock(ready_mu_);  // waits out a readiness event in flight
    closed_ = true;
  }
  ProcessInstance::Close();
}

}  // namespace modelfn

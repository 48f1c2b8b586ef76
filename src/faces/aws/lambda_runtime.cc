#include "faces/aws/lambda_runtime.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "common/json.h"
#include "faces/aws/events.h"
#include "http/problem.h"

namespace modelfn {
namespace {

std::string ErrorBody(const std::string& type, const std::string& message) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("errorType").String(type).Key("errorMessage").String(message);
  w.Key("stackTrace").BeginArray().EndArray().EndObject();
  return out;
}

// _X_AMZN_TRACE_ID without a leak: glibc's setenv keeps every string it ever allocated (readers
// may still hold one), so a new value per invocation grows the process without bound. The value
// lives in one of two buffers owned here instead, installed with putenv, which stores our pointer
// and allocates nothing. The next value is written into the buffer not in the environment, then
// swapped in with one pointer store, so a getenv on another thread sees a whole value: the current
// one, or the previous one until the invocation after next rewrites that buffer.
class TraceIdEnv {
 public:
  static constexpr size_t kMaxValue = 4096;

  static TraceIdEnv& Get() {
    static TraceIdEnv* env = new TraceIdEnv;  // never destroyed: environ may point into it
    return *env;
  }

  // Returns false (and unsets the variable) when the value is too long or holds a NUL.
  bool Set(const std::string* value) {
    std::lock_guard<std::mutex> lock(mu_);
    if (value == nullptr || value->size() > kMaxValue || value->find('\0') != std::string::npos) {
      unsetenv(kName);
      return value == nullptr;
    }
    next_ ^= 1;
    char* buf = bufs_[next_];
    memcpy(buf + kPrefix, value->data(), value->size());
    buf[kPrefix + value->size()] = '\0';
    putenv(buf);
    return true;
  }

 private:
  static constexpr const char* kName = "_X_AMZN_TRACE_ID";
  static constexpr size_t kPrefix = sizeof("_X_AMZN_TRACE_ID=") - 1;

  TraceIdEnv() {
    for (auto& b : bufs_) memcpy(b, "_X_AMZN_TRACE_ID=", kPrefix);
  }

  std::mutex mu_;
  int next_ = 0;
  char bufs_[2][kPrefix + kMaxValue + 1];
};

}  // namespace

LambdaRuntime::LambdaRuntime(std::string api, HttpClient* http, FunctionCore* core,
                             const std::string& model_name, const Clock* clock, const EventLog* log)
    : base_("http://" + api + "/2018-06-01/runtime"),
      http_(http),
      core_(core),
      model_name_(model_name),
      clock_(clock),
      log_(log) {}

Status LambdaRuntime::ReportInitError(const Status& error) {
  HttpCall call;
  call.method = "POST";
  call.url = base_ + "/init/error";
  std::string type = error.reason().empty() ? "Runtime.InitError" : "Runtime." + error.reason();
  std::string body = ErrorBody(type, error.message());
  call.body = body;
  call.headers = {{"Content-Type", "application/json"},
                  {"Lambda-Runtime-Function-Error-Type", type}};
  auto reply = http_->Send(call);
  return reply.ok() ? Status::Ok() : reply.status();
}

LambdaRuntime::Result LambdaRuntime::Invoke(std::string_view payload, const std::string& request_id,
                                            int64_t deadline_ms) {
  Result r;
  if (opener_ && payload.find("\"Records\"") != std::string_view::npos) {
    auto doc = Json::Parse(payload);
    std::string source;
    if (doc.ok() && IsRecordsEvent(*doc, &source)) {
      bool redeliver = false;
      AmbientTrace ambient(trace_ ? &*trace_ : nullptr);  // each object's Runs in this trace
      r.body = HandleRecordsEvent(*doc, source, *core_, records_config_, opener_, &redeliver);
      if (redeliver) {
        // An invocation error: Lambda (and modelfn up's queue) sends the event again.
        r.error_type = "store_unavailable";
        r.body = ErrorBody("store_unavailable",
                           "objects could not be scored nor recorded (the store is unreachable), "
                           "to be delivered again: " +
                               r.body);
      }
      return r;
    }
  }
  auto event = DecodeEvent(payload, model_name_);
  if (!event.ok()) {
    Problem p = ProblemFromStatus(event.status());
    r.error_type = p.code;
    r.body = ErrorBody(p.code, p.detail);
    return r;
  }
  int64_t now_ms = clock_->WallNanos() / 1'000'000;
  Outcome outcome;
  if (deadline_ms > 0 && deadline_ms - now_ms < 1) {
    Problem p =
        MakeProblem("timeout", "the invocation's deadline passed before the model could run");
    outcome.status = p.status;
    outcome.content_type = std::string(kProblemContentType);
    outcome.body = p.ToJson();
  } else {
    Invocation inv = event->ToInvocation();
    std::string rid = request_id;
    if (inv.request_id == nullptr) inv.request_id = &rid;
    inv.deadline_wall_ms = deadline_ms;
    if (trace_) inv.trace = &*trace_;
    outcome = core_->Handle(inv);
  }
  if (event->kind == EventKind::kDirect) {
    if (outcome.status >= 200 && outcome.status < 300) {
      r.body = std::move(outcome.body);
    } else {
      auto doc = Json::Parse(outcome.body);
      const Json* code = doc.ok() ? doc->Find("code") : nullptr;
      const Json* detail =
          doc.ok() ? (doc->Find("detail") ? doc->Find("detail") : doc->Find("error")) : nullptr;
      r.error_type = code && code->is_string() ? code->AsString() : "internal";
      r.body = ErrorBody(r.error_type,
                         detail && detail->is_string() ? detail->AsString() : outcome.body);
    }
  } else {
    r.body = EncodeHttpResponse(*event, outcome);
  }
  if (r.body.size() > kLambdaMaxResponseBytes) {
    std::string msg =
        "the response of " + std::to_string(r.body.size()) +
        " bytes exceeds Lambda's 6 MB limit for synchronous invocations; ask for fewer "
        "outputs or rows per request";
    if (event->kind == EventKind::kDirect) {
      r.error_type = "response_too_large";
      r.body = ErrorBody(r.error_type, msg);
    } else {
      Problem p = MakeProblem("response_too_large", msg);
      Outcome small;
      small.status = p.status;
      small.content_type = std::string(kProblemContentType);
      small.body = p.ToJson();
      r.body = EncodeHttpResponse(*event, small);
    }
  }
  return r;
}

Status LambdaRuntime::Run(uint64_t max) {
  for (uint64_t served = 0; max == 0 || served < max; ++served) {
    HttpCall next;
    next.url = base_ + "/invocation/next";
    next.stall_timeout_s = 0;  // the call blocks until there is work: no client timeout
    auto reply = http_->Send(next);
    if (!reply.ok()) return reply.status();
    if (reply->status != 200) {
      return UnavailableError("runtime API /invocation/next answered HTTP " +
                              std::to_string(reply->status));
    }
    const std::string* id = reply->Header("lambda-runtime-aws-request-id");
    if (id == nullptr) return UnavailableError("runtime API sent no Lambda-Runtime-Aws-Request-Id");
    std::string request_id = *id;
    int64_t deadline_ms = 0;
    if (const std::string* d = reply->Header("lambda-runtime-deadline-ms"))
      deadline_ms = strtoll(d->c_str(), nullptr, 10);
    const std::string* trace = reply->Header("lambda-runtime-trace-id");
    trace_ = trace ? observe::ParseXRay(*trace) : std::nullopt;
    if (!TraceIdEnv::Get().Set(trace) && log_->enabled()) {
      log_->Message("warn", "the trace id of " + request_id + " is not set: longer than " +
                                std::to_string(TraceIdEnv::kMaxValue) + " bytes or holds a NUL");
    }
    Result result = Invoke(reply->body, request_id, deadline_ms);
    HttpCall post;
    post.method = "POST";
    post.body = result.body;
    if (result.error_type.empty()) {
      post.url = base_ + "/invocation/" + request_id + "/response";
      post.headers = {{"Content-Type", "application/json"}};
    } else {
      post.url = base_ + "/invocation/" + request_id + "/error";
      post.headers = {{"Content-Type", "application/json"},
                      {"Lambda-Runtime-Function-Error-Type", result.error_type}};
    }
    auto posted = http_->Send(post);
    if (!posted.ok()) return posted.status();
    if (posted->status >= 400 && log_->enabled()) {
      log_->Message("error", "runtime API refused the result of " + request_id + ": HTTP " +
                                 std::to_string(posted->status) + " " + posted->body);
    }
  }
  return Status::Ok();
}

}  // namespace modelfn

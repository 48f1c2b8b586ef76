// The AWS Lambda face of modelfn-fn: a client of the Lambda Runtime API
// (AWS_LAMBDA_RUNTIME_API, /2018-06-01/runtime/...). The model is loaded before the first
// `next` call, so Lambda's init phase holds the whole cold start. Each invocation's trace id goes
// to _X_AMZN_TRACE_ID and the log line; a deadline already too close is answered with a typed
// timeout; a response over Lambda's 6 MB synchronous limit becomes a clear error instead of a
// failed invoke.
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/log.h"
#include "faces/aws/object_events.h"
#include "function/function_core.h"
#include "http/http_client.h"
#include "observe/trace_context.h"

namespace modelfn {

inline constexpr uint64_t kLambdaMaxResponseBytes = 6 * 1024 * 1024;

class LambdaRuntime {
 public:
  // `api` is AWS_LAMBDA_RUNTIME_API ("127.0.0.1:9001"). Pointers must outlive the runtime.
  LambdaRuntime(std::string api, HttpClient* http, FunctionCore* core,
                const std::string& model_name, const Clock* clock, const EventLog* log);

  // Enables S3 and SQS record events (object_events.h), with the buckets opened by `opener`.
  void EnableRecordEvents(ObjectEventConfig config, BucketOpener opener) {
    records_config_ = std::move(config);
    opener_ = std::move(opener);
  }

  // POST /runtime/init/error. Lambda then ends the environment.
  Status ReportInitError(const Status& error);

  // Serves invocations until the Runtime API goes away (returns its error) or `max` were served
  // (0: no limit).
  Status Run(uint64_t max = 0);

  // One invocation: payload in, (response body, error type or "") out. Exposed for tests.
  struct Result {
    std::string body;
    std::string
        error_type;  // non-empty: post to /error with this Lambda-Runtime-Function-Error-Type
  };
  Result Invoke(std::string_view payload, const std::string& request_id, int64_t deadline_ms);

 private:
  // The trace context of the invocation being handled (Lambda-Runtime-Trace-Id, X-Ray).
  std::optional<observe::TraceContext> trace_;
  std::string base_;
  HttpClient* http_;
  FunctionCore* core_;
  std::string model_name_;
  const Clock* clock_;
  const EventLog* log_;
  ObjectEventConfig records_config_;
  BucketOpener opener_;
};

}  // namespace modelfn

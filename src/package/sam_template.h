// `modelfn deploy --target aws`: an AWS SAM template for one model function.
//   - AWS::Serverless::Function on provided.al2023 (x86_64 or arm64) from the package zip, with
//     memory, timeout, ephemeral storage for the model cache, environment, X-Ray tracing, and
//     optional reserved concurrency and provisioned concurrency on a `live` alias;
//   - an HTTP API (no auth, IAM, or JWT authorizer) or a Function URL (NONE or AWS_IAM);
//   - a log group with a retention, and an IAM role with least privilege: write to that log group,
//     X-Ray segments, and (for a model in S3) GetObject on the model's prefix and ListBucket
//     limited to it.
#pragma once

#include <string>

#include "common/status.h"

namespace modelfn {

struct SamOptions {
  std::string function_name = "modelfn-fn";
  std::string model_name;  // for names and descriptions
  std::string code_uri = "function.zip";
  std::string model_uri;        // s3://bucket/prefix/NAME[@V] or empty (model inside the zip)
  std::string arch = "x86_64";  // x86_64 | arm64
  int memory_mb = 1024;
  int timeout_s = 30;
  int ephemeral_mb = 1024;
  int reserved = 0;           // 0: none
  int provisioned = 0;        // 0: none
  std::string api = "http";   // http | url | none
  std::string auth = "none";  // none | iam | jwt
  std::string jwt_issuer;
  std::string jwt_audience;
  int log_retention_days = 14;
  // S3 trigger (object_events.h): a new bucket whose object-created events under input_prefix
  // invoke the function; results and failures go to the other prefixes of the same bucket.
  std::string trigger_bucket;  // empty: no trigger
  std::string input_prefix = "incoming/";
  std::string output_prefix = "results/";
  std::string failure_prefix = "failed/";
};

// The template as YAML. InvalidArgument for inconsistent options (jwt without issuer, ...).
StatusOr<std::string> RenderSamTemplate(const SamOptions& o);

}  // namespace modelfn

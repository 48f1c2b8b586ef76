// `modelfn deploy --target aws --config modelfn.yaml`: one AWS SAM template for every function of
// a platform config, mapped onto AWS's own pieces:
//   - a REST API (AWS::Serverless::Api; API keys and usage plans exist only on REST APIs) with the
//     gateway's per-function routes: POST /v1/models/{fn}/infer and /batch, /v2/models/{fn} and
//     /v2/models/{fn}/{proxy+}; CORS from gateway.cors (one origin: a REST API's CORS answers
//     with a single Access-Control-Allow-Origin); with gateway.auth.api_keys, every method needs
//     an API key, and each plan becomes a usage plan (throttle from rate_per_s and burst, a quota
//     from daily_quota, else monthly_quota) with one API key of its own;
//   - the runtime as one AWS::Serverless::LayerVersion (lambda_layer.h) that every function lists
//     in Layers; each function's zip holds only its model, or nothing for a model in an s3://
//     store (MODELFN_MODEL then names it);
//   - per function: AutoPublishAlias `live`, ProvisionedConcurrencyConfig from min_instances,
//     ReservedConcurrentExecutions from a configured max_instances,
//     memory and timeout, a log group, and one IAM
//     role of its own: its log group, X-Ray, and S3 reads limited to its model's prefix;
//   - a canary (`traffic:` with two versions) as a DeploymentPreference on the alias: the version
//     with the smaller weight is the one deployed, and CodeDeploy routes its weight (in percent)
//     to it for `canary_minutes` before shifting the rest (a custom TimeBasedCanary config);
//   - an S3 trigger (one function): a new bucket whose object-created events under the input
//     prefix invoke it, with reads and writes on that bucket's prefixes in that function's role.
// What has no AWS counterpart is refused (JWT auth, a custom runtime `command:`, several CORS
// origins) or reported in `notes` (settings Lambda manages itself).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "platform/config.h"

namespace modelfn {

struct SamStackOptions {
  std::string name_prefix = "modelfn";  // function names: PREFIX-FUNCTION
  std::string arch = "x86_64";          // x86_64 | arm64
  std::string layer_uri = "layer.zip";
  std::string code_dir = "functions";  // function zips: CODE_DIR/FUNCTION.zip
  int ephemeral_mb = 1024;
  int log_retention_days = 14;
  int canary_minutes = 5;  // how long a canary's weight holds before the full shift
  std::string stage = "api";
  // Functions whose max_instances the config sets: those get ReservedConcurrentExecutions (the
  // default follows the CPUs of the machine reading the config, which says nothing about Lambda).
  std::set<std::string> configured_max;
  // S3 trigger (object_events.h) for one function; empty: none.
  std::string trigger_function;
  std::string trigger_bucket;
  std::string input_prefix = "incoming/";
  std::string output_prefix = "results/";
  std::string failure_prefix = "failed/";
};

struct SamStack {
  std::string yaml;
  std::vector<std::string> notes;  // settings not carried over, one sentence each
};

// The template. InvalidArgument (naming the field) for what cannot be mapped or is inconsistent.
StatusOr<SamStack> RenderSamStack(const PlatformConfig& config, const SamStackOptions& options);

// The CloudFormation logical-ID stem for a function or plan name: letters and digits, each run of
// other characters dropped and the next letter capitalised ("face-detect" -> "FaceDetect").
std::string LogicalId(const std::string& name);

}  // namespace modelfn

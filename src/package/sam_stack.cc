#include "package/sam_stack.h"

#include <cmath>
#include <set>

#include "faces/trigger_prefixes.h"
#include "store/store_uri.h"

namespace modelfn {
namespace {

Status Bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}

std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// An API Gateway header value in a SAM Cors block: a quoted string inside the YAML string.
std::string CorsValue(const std::string& s) { return Quoted("'" + s + "'"); }

std::string Str(int64_t v) { return std::to_string(v); }

// The version a function serves and, for a canary, the percent CodeDeploy sends to it first.
struct Rollout {
  std::string version;  // empty: follow current.json
  int canary_percent = 0;
};

StatusOr<Rollout> RolloutOf(const FunctionConfig& f) {
  Rollout r{f.version, 0};
  if (f.traffic.empty()) return r;
  if (f.traffic.size() != 2) {
    return Bad("functions." + f.name +
               ".traffic: a Lambda alias shifts between two versions; got " +
               Str(static_cast<int64_t>(f.traffic.size())));
  }
  const TrafficSplit& a = f.traffic[0];
  const TrafficSplit& b = f.traffic[1];
  const TrafficSplit& canary = b.weight <= a.weight ? b : a;
  const int total = a.weight + b.weight;
  r.version = canary.version;
  r.canary_percent = total > 0 ? static_cast<int>(std::lround(100.0 * canary.weight / total)) : 0;
  if (r.canary_percent < 1) r.canary_percent = 1;
  if (r.canary_percent > 99) r.canary_percent = 99;
  return r;
}

void Line(std::string* y, int indent, const std::string& text) {
  y->append(static_cast<size_t>(indent), ' ');
  *y += text;
  *y += "\n";
}

}  // namespace

std::string LogicalId(const std::string& name) {
  std::string id;
  bool upper = true;
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) {
      upper = true;
      continue;
    }
    id.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    upper = false;
  }
  return id.empty() ? "X" : id;
}

StatusOr<SamStack> RenderSamStack(const PlatformConfig& cfg, const SamStackOptions& o) {
  static const std::set<int> kRetention = {1,    3,    5,    7,    14,   30,  60,  90,
                                           120,  150,  180,  365,  400,  545, 731, 1096,
                                           1827, 2192, 2557, 2922, 3288, 3653};
  if (o.arch != "x86_64" && o.arch != "arm64") return Bad("--arch must be x86_64 or arm64");
  if (o.ephemeral_mb < 512 || o.ephemeral_mb > 10240)
    return Bad("--ephemeral must be 512..10240 MB");
  if (!kRetention.count(o.log_retention_days))
    return Bad("--log-retention-days is not a CloudWatch value");
  if (o.canary_minutes < 1 || o.canary_minutes > 2880)
    return Bad("--canary-minutes must be 1..2880");
  if (cfg.gateway.jwt_enabled) {
    return Bad(
        "gateway.auth.jwt: a REST API checks JWTs only through a Cognito or Lambda authorizer; "
        "deploy the function alone with `--model ... --auth jwt` (an HTTP API) instead");
  }
  if (cfg.gateway.cors_origins.size() > 1) {
    return Bad("gateway.cors.origins: a REST API's CORS answers with one origin; list one (or *)");
  }
  SamStack out;
  std::string bucket, store_prefix;
  ASSIGN_OR_RETURN(StoreUri store, ParseStoreUri(cfg.store));
  if (store.kind == StoreUri::Kind::kS3) {
    bucket = store.bucket;
    store_prefix = store.prefix.empty() ? "" : store.prefix + "/";
  } else if (store.kind != StoreUri::Kind::kLocal) {
    return Bad("store: on AWS the model store is s3:// or a local folder (models in the zips)");
  }
  const FunctionConfig* trigger = nullptr;
  if (!o.trigger_function.empty() || !o.trigger_bucket.empty()) {
    trigger = cfg.Find(o.trigger_function);
    if (trigger == nullptr || o.trigger_bucket.empty()) {
      return Bad("--trigger-function names a function of the config and needs --trigger-bucket");
    }
    Status prefixes = CheckTriggerPrefixes(o.input_prefix, o.output_prefix, o.failure_prefix);
    if (!prefixes.ok()) return Bad(prefixes.message());
  }
  std::set<std::string> ids;
  std::string y;
  y += "AWSTemplateFormatVersion: \"2010-09-09\"\n";
  y += "Transform: AWS::Serverless-2016-10-31\n";
  y += "Description: " + Quoted("modelfn functions behind one API (" + o.name_prefix + ")") + "\n";
  y += "Resources:\n";
  Line(&y, 2, "RuntimeLayer:");
  Line(&y, 4, "Type: AWS::Serverless::LayerVersion");
  Line(&y, 4, "Properties:");
  Line(&y, 6, "LayerName: " + Quoted(o.name_prefix + "-runtime"));
  Line(&y, 6, "Description: \"modelfn-fn, its bootstrap and ONNX Runtime, unpacked at /opt\"");
  Line(&y, 6, "ContentUri: " + Quoted(o.layer_uri));
  Line(&y, 6, "CompatibleRuntimes:\n        - provided.al2023");
  Line(&y, 6, "CompatibleArchitectures:\n        - " + o.arch);
  Line(&y, 6, "RetentionPolicy: Delete");
  // The API.
  const bool keys = cfg.gateway.api_keys;
  Line(&y, 2, "ModelApi:");
  Line(&y, 4, "Type: AWS::Serverless::Api");
  Line(&y, 4, "Properties:");
  Line(&y, 6, "Name: " + Quoted(o.name_prefix + "-api"));
  Line(&y, 6, "StageName: " + o.stage);
  Line(&y, 6, "EndpointConfiguration:\n        Type: REGIONAL");
  Line(&y, 6, "TracingEnabled: true");
  if (!cfg.gateway.cors_origins.empty()) {
    Line(&y, 6, "Cors:");
    Line(&y, 8, "AllowOrigin: " + CorsValue(cfg.gateway.cors_origins[0]));
    Line(&y, 8, "AllowMethods: " + CorsValue("GET,POST,OPTIONS"));
    Line(&y, 8,
         "AllowHeaders: " + CorsValue("Content-Type,Authorization,X-Api-Key,X-Request-Id,"
                                      "Inference-Header-Content-Length"));
    Line(&y, 8, "MaxAge: " + CorsValue("600"));
  }
  if (keys) {
    Line(&y, 6, "Auth:");
    Line(&y, 8, "ApiKeyRequired: true");
    Line(&y, 8, "AddApiKeyRequiredToCorsPreflight: false");
  }
  std::vector<PlanConfig> plans = cfg.plans;
  if (keys && plans.empty()) plans.push_back(PlanConfig{"default", 0, 0, 0, 0});
  if (!keys && !plans.empty()) {
    out.notes.push_back(
        "plans are not rendered: they apply to API keys, and gateway.auth.api_keys "
        "is off");
    plans.clear();
  }
  std::vector<std::string> plan_ids;
  for (const PlanConfig& p : plans) {
    std::string id = "Plan" + LogicalId(p.name);
    while (!ids.insert(id).second) id += "X";
    plan_ids.push_back(id);
    Line(&y, 2, id + ":");
    Line(&y, 4, "Type: AWS::ApiGateway::UsagePlan");
    Line(&y, 4, "Properties:");
    Line(&y, 6, "UsagePlanName: " + Quoted(o.name_prefix + "-" + p.name));
    Line(&y, 6, "ApiStages:");
    Line(&y, 8, "- ApiId: !Ref ModelApi");
    Line(&y, 10, "Stage: !Ref ModelApi.Stage");
    if (p.rate_per_s > 0) {
      Line(&y, 6, "Throttle:");
      Line(&y, 8, "RateLimit: " + Str(static_cast<int64_t>(std::ceil(p.rate_per_s))));
      Line(&y, 8, "BurstLimit: " + Str(static_cast<int64_t>(std::ceil(p.burst))));
    }
    if (p.daily_quota > 0 || p.monthly_quota > 0) {
      const bool day = p.daily_quota > 0;
      Line(&y, 6, "Quota:");
      Line(&y, 8, "Limit: " + Str(day ? p.daily_quota : p.monthly_quota));
      Line(&y, 8, std::string("Period: ") + (day ? "DAY" : "MONTH"));
      if (day && p.monthly_quota > 0) {
        out.notes.push_back("plans." + p.name +
                            ": a usage plan has one quota; the daily one is rendered, the monthly "
                            "one is not");
      }
    }
    Line(&y, 2, id + "Key:");
    Line(&y, 4, "Type: AWS::ApiGateway::ApiKey");
    Line(&y, 4, "DependsOn: ModelApi");
    Line(&y, 4, "Properties:");
    Line(&y, 6, "Name: " + Quoted(o.name_prefix + "-" + p.name + "-key"));
    Line(&y, 6, "Enabled: true");
    Line(&y, 2, id + "KeyUse:");
    Line(&y, 4, "Type: AWS::ApiGateway::UsagePlanKey");
    Line(&y, 4, "Properties:");
    Line(&y, 6, "KeyId: !Ref " + id + "Key");
    Line(&y, 6, "KeyType: API_KEY");
    Line(&y, 6, "UsagePlanId: !Ref " + id);
  }
  std::string outputs;
  for (const FunctionConfig& f : cfg.functions) {
    if (!f.command.empty()) {
      return Bad("functions." + f.name + ".command: a custom runtime is not packaged for AWS");
    }
    if (f.memory_mb > 10240) return Bad("functions." + f.name + ".memory_mb: Lambda allows 10240");
    ASSIGN_OR_RETURN(Rollout rollout, RolloutOf(f));
    std::string id = LogicalId(f.name);
    while (!ids.insert(id).second) id += "X";
    const std::string fn_name = o.name_prefix + "-" + f.name;
    const int memory = f.memory_mb < 128 ? 128 : f.memory_mb;
    if (memory != f.memory_mb) {
      out.notes.push_back("functions." + f.name + ".memory_mb: raised to Lambda's minimum, 128");
    }
    const int timeout = static_cast<int>(std::ceil(f.timeout_s));
    const std::string log_group = id + "LogGroup";
    const std::string model_prefix = store_prefix + f.model + "/";
    Line(&y, 2, log_group + ":");
    Line(&y, 4, "Type: AWS::Logs::LogGroup");
    Line(&y, 4, "Properties:");
    Line(&y, 6, "LogGroupName: " + Quoted("/aws/lambda/" + fn_name));
    Line(&y, 6, "RetentionInDays: " + Str(o.log_retention_days));
    Line(&y, 2, id + "Role:");
    Line(&y, 4, "Type: AWS::IAM::Role");
    Line(&y, 4, "Properties:");
    Line(&y, 6, "AssumeRolePolicyDocument:");
    Line(&y, 8, "Version: \"2012-10-17\"");
    Line(&y, 8, "Statement:");
    Line(&y, 10, "- Effect: Allow");
    Line(&y, 12, "Principal:\n              Service: lambda.amazonaws.com");
    Line(&y, 12, "Action: sts:AssumeRole");
    Line(&y, 6, "Policies:");
    Line(&y, 8, "- PolicyName: " + Quoted(fn_name + "-least-privilege"));
    Line(&y, 10, "PolicyDocument:");
    Line(&y, 12, "Version: \"2012-10-17\"");
    Line(&y, 12, "Statement:");
    Line(&y, 14, "- Sid: WriteOwnLogs");
    Line(&y, 16, "Effect: Allow");
    Line(&y, 16,
         "Action:\n                  - logs:CreateLogStream\n                  - "
         "logs:PutLogEvents");
    Line(&y, 16, "Resource: !Sub \"${" + log_group + ".Arn}:*\"");
    Line(&y, 14, "- Sid: Tracing");
    Line(&y, 16, "Effect: Allow");
    Line(&y, 16,
         "Action:\n                  - xray:PutTraceSegments\n                  - "
         "xray:PutTelemetryRecords");
    Line(&y, 16, "Resource: \"*\"");
    if (!bucket.empty()) {
      Line(&y, 14, "- Sid: ReadModelObjects");
      Line(&y, 16, "Effect: Allow");
      Line(&y, 16, "Action: s3:GetObject");
      Line(&y, 16, "Resource: " + Quoted("arn:aws:s3:::" + bucket + "/" + model_prefix + "*"));
      Line(&y, 14, "- Sid: ListModelPrefix");
      Line(&y, 16, "Effect: Allow");
      Line(&y, 16, "Action: s3:ListBucket");
      Line(&y, 16, "Resource: " + Quoted("arn:aws:s3:::" + bucket));
      Line(&y, 16, "Condition:\n                  StringLike:");
      Line(&y, 20, "s3:prefix: " + Quoted(model_prefix + "*"));
    }
    const bool triggered = trigger == &f;
    if (triggered) {
      const std::string arn = "arn:aws:s3:::" + o.trigger_bucket + "/";
      Line(&y, 14, "- Sid: ReadTriggerInputs");
      Line(&y, 16, "Effect: Allow");
      Line(&y, 16, "Action: s3:GetObject");
      Line(&y, 16, "Resource:");
      Line(&y, 18, "- " + Quoted(arn + o.input_prefix + "*"));
      Line(&y, 18, "- " + Quoted(arn + o.output_prefix + "*"));
      Line(&y, 14, "- Sid: WriteTriggerResults");
      Line(&y, 16, "Effect: Allow");
      Line(&y, 16, "Action: s3:PutObject");
      Line(&y, 16, "Resource:");
      Line(&y, 18, "- " + Quoted(arn + o.output_prefix + "*"));
      Line(&y, 18, "- " + Quoted(arn + o.failure_prefix + "*"));
      Line(&y, 2, "TriggerBucket:");
      Line(&y, 4, "Type: AWS::S3::Bucket");
      Line(&y, 4, "Properties:");
      Line(&y, 6, "BucketName: " + Quoted(o.trigger_bucket));
      Line(&y, 6, "PublicAccessBlockConfiguration:");
      Line(&y, 8, "BlockPublicAcls: true\n        BlockPublicPolicy: true");
      Line(&y, 8, "IgnorePublicAcls: true\n        RestrictPublicBuckets: true");
      Line(&y, 6, "BucketEncryption:\n        ServerSideEncryptionConfiguration:");
      Line(&y, 10, "- ServerSideEncryptionByDefault:\n              SSEAlgorithm: AES256");
    }
    if (rollout.canary_percent > 0) {
      Line(&y, 2, id + "Canary:");
      Line(&y, 4, "Type: AWS::CodeDeploy::DeploymentConfig");
      Line(&y, 4, "Properties:");
      Line(&y, 6, "ComputePlatform: Lambda");
      Line(&y, 6, "TrafficRoutingConfig:");
      Line(&y, 8, "Type: TimeBasedCanary");
      Line(&y, 8, "TimeBasedCanary:");
      Line(&y, 10, "CanaryPercentage: " + Str(rollout.canary_percent));
      Line(&y, 10, "CanaryInterval: " + Str(o.canary_minutes));
    }
    Line(&y, 2, id + ":");
    Line(&y, 4, "Type: AWS::Serverless::Function");
    Line(&y, 4, "Properties:");
    Line(&y, 6, "FunctionName: " + Quoted(fn_name));
    Line(&y, 6, "Description: " + Quoted("modelfn function " + f.name + " serving " + f.model));
    Line(&y, 6, "CodeUri: " + Quoted(o.code_dir + "/" + f.name + ".zip"));
    Line(&y, 6, "Handler: bootstrap");
    Line(&y, 6, "Runtime: provided.al2023");
    Line(&y, 6, "Architectures:\n        - " + o.arch);
    Line(&y, 6, "Layers:\n        - !Ref RuntimeLayer");
    Line(&y, 6, "MemorySize: " + Str(memory));
    Line(&y, 6, "Timeout: " + Str(timeout < 1 ? 1 : timeout));
    Line(&y, 6, "EphemeralStorage:\n        Size: " + Str(o.ephemeral_mb));
    Line(&y, 6, "Tracing: Active");
    Line(&y, 6, "Role: !GetAtt " + id + "Role.Arn");
    Line(&y, 6,
         "LoggingConfig:\n        LogGroup: !Ref " + log_group + "\n        LogFormat: Text");
    if (o.configured_max.count(f.name)) {
      Line(&y, 6, "ReservedConcurrentExecutions: " + Str(f.max_instances));
    }
    Line(&y, 6, "AutoPublishAlias: live");
    if (f.min_instances > 0) {
      Line(&y, 6, "ProvisionedConcurrencyConfig:");
      Line(&y, 8, "ProvisionedConcurrentExecutions: " + Str(f.min_instances));
    }
    if (rollout.canary_percent > 0) {
      Line(&y, 6, "DeploymentPreference:");
      Line(&y, 8, "Type: !Ref " + id + "Canary");
    }
    Line(&y, 6, "Environment:\n        Variables:");
    Line(&y, 10, "MODELFN_CACHE_DIR: /tmp/modelfn-cache");
    Line(&y, 10,
         "MODELFN_CACHE_MAX_BYTES: " +
             Quoted(Str((static_cast<int64_t>(o.ephemeral_mb) - 64) << 20)));
    Line(&y, 10, "MODELFN_ROUTE_NAME: " + Quoted(f.name));
    if (!bucket.empty()) {
      const std::string ref = f.model + (rollout.version.empty() ? "" : "@" + rollout.version);
      Line(&y, 10, "MODELFN_MODEL: " + Quoted("s3://" + bucket + "/" + store_prefix + ref));
    }
    if (triggered) {
      Line(&y, 10, "MODELFN_S3_INPUT_PREFIX: " + Quoted(o.input_prefix));
      Line(&y, 10, "MODELFN_S3_OUTPUT_PREFIX: " + Quoted(o.output_prefix));
      Line(&y, 10, "MODELFN_S3_FAILURE_PREFIX: " + Quoted(o.failure_prefix));
    }
    for (const auto& [k, v] : f.env) Line(&y, 10, k + ": " + Quoted(v));
    Line(&y, 6, "Events:");
    const std::string base = "/v1/models/" + f.name;
    const std::string v2 = "/v2/models/" + f.name;
    const std::pair<const char*, std::pair<std::string, const char*>> routes[] = {
        {"Infer", {base + "/infer", "post"}},
        {"Batch", {base + "/batch", "post"}},
        {"V2Metadata", {v2, "get"}},
        {"V2", {v2 + "/{proxy+}", "any"}}};
    for (const auto& [event, route] : routes) {
      Line(&y, 8, std::string(event) + ":");
      Line(&y, 10, "Type: Api");
      Line(&y, 10, "Properties:");
      Line(&y, 12, "RestApiId: !Ref ModelApi");
      Line(&y, 12, "Path: " + route.first);
      Line(&y, 12, std::string("Method: ") + route.second);
    }
    if (triggered) {
      Line(&y, 8, "ObjectCreated:");
      Line(&y, 10, "Type: S3");
      Line(&y, 10, "Properties:");
      Line(&y, 12, "Bucket: !Ref TriggerBucket");
      Line(&y, 12, "Events: s3:ObjectCreated:*");
      Line(&y, 12, "Filter:\n              S3Key:\n                Rules:");
      Line(&y, 18, "- Name: prefix\n                    Value: " + Quoted(o.input_prefix));
    }
    outputs += "  " + id + "Alias:\n    Value: !Ref " + id + "Aliaslive\n";
    if (f.sticky_traffic || f.response_cache || f.concurrency > 1) {
      out.notes.push_back("functions." + f.name +
                          ": sticky_traffic, response_cache and concurrency are the local "
                          "gateway's; Lambda runs one request per environment");
    }
  }
  y += "Outputs:\n";
  y += "  ApiUrl:\n    Value: !Sub "
       "\"https://${ModelApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" +
       o.stage + "\"\n";
  y += outputs;
  for (const std::string& id : plan_ids) y += "  " + id + "KeyId:\n    Value: !Ref " + id + "Key\n";
  out.yaml = std::move(y);
  return out;
}

}  // namespace modelfn

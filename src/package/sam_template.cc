#include "package/sam_template.h"

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

}  // namespace

StatusOr<std::string> RenderSamTemplate(const SamOptions& o) {
  static const std::set<std::string> kRetention = {
      "1",   "3",   "5",   "7",   "14",   "30",   "60",   "90",   "120",  "150",  "180",
      "365", "400", "545", "731", "1096", "1827", "2192", "2557", "2922", "3288", "3653"};
  if (o.arch != "x86_64" && o.arch != "arm64") return Bad("--arch must be x86_64 or arm64");
  if (o.memory_mb < 128 || o.memory_mb > 10240) return Bad("--memory must be 128..10240 MB");
  if (o.timeout_s < 1 || o.timeout_s > 900) return Bad("--timeout must be 1..900 s");
  if (o.ephemeral_mb < 512 || o.ephemeral_mb > 10240)
    return Bad("--ephemeral must be 512..10240 MB");
  if (o.api != "http" && o.api != "url" && o.api != "none")
    return Bad("--api must be http, url or none");
  if (o.auth != "none" && o.auth != "iam" && o.auth != "jwt")
    return Bad("--auth must be none, iam or jwt");
  if (o.auth == "jwt" && (o.api != "http" || o.jwt_issuer.empty() || o.jwt_audience.empty())) {
    return Bad("--auth jwt needs --api http, --jwt-issuer and --jwt-audience");
  }
  if (!kRetention.count(std::to_string(o.log_retention_days)))
    return Bad("--log-retention-days is not a CloudWatch value");
  if (o.provisioned < 0 || o.reserved < 0 || (o.reserved > 0 && o.provisioned > o.reserved)) {
    return Bad("provisioned concurrency must be <= reserved concurrency");
  }
  if (!o.trigger_bucket.empty()) {
    Status prefixes = CheckTriggerPrefixes(o.input_prefix, o.output_prefix, o.failure_prefix);
    if (!prefixes.ok()) return Bad(prefixes.message());
  }
  std::string bucket, prefix;
  if (!o.model_uri.empty()) {
    ASSIGN_OR_RETURN(ModelSourceUri src, ParseModelSource(o.model_uri));
    if (src.store.kind != StoreUri::Kind::kS3) return Bad("on AWS the model store must be s3://");
    bucket = src.store.bucket;
    prefix = (src.store.prefix.empty() ? "" : src.store.prefix + "/") + src.name + "/";
  }
  std::string y;
  y += "AWSTemplateFormatVersion: \"2010-09-09\"\n";
  y += "Transform: AWS::Serverless-2016-10-31\n";
  y += "Description: " + Quoted("modelfn function serving model " + o.model_name) + "\n";
  y += "Resources:\n";
  y += "  FunctionLogGroup:\n";
  y += "    Type: AWS::Logs::LogGroup\n";
  y += "    Properties:\n";
  y += "      LogGroupName: " + Quoted("/aws/lambda/" + o.function_name) + "\n";
  y += "      RetentionInDays: " + std::to_string(o.log_retention_days) + "\n";
  y += "  FunctionRole:\n";
  y += "    Type: AWS::IAM::Role\n";
  y += "    Properties:\n";
  y += "      AssumeRolePolicyDocument:\n";
  y += "        Version: \"2012-10-17\"\n";
  y += "        Statement:\n";
  y += "          - Effect: Allow\n";
  y += "            Principal:\n";
  y += "              Service: lambda.amazonaws.com\n";
  y += "            Action: sts:AssumeRole\n";
  y += "      Policies:\n";
  y += "        - PolicyName: modelfn-least-privilege\n";
  y += "          PolicyDocument:\n";
  y += "            Version: \"2012-10-17\"\n";
  y += "            Statement:\n";
  y += "              - Sid: WriteOwnLogs\n";
  y += "                Effect: Allow\n";
  y += "                Action:\n";
  y += "                  - logs:CreateLogStream\n";
  y += "                  - logs:PutLogEvents\n";
  y += "                Resource: !Sub \"${FunctionLogGroup.Arn}:*\"\n";
  y += "              - Sid: Tracing\n";
  y += "                Effect: Allow\n";
  y += "                Action:\n";
  y += "                  - xray:PutTraceSegments\n";
  y += "                  - xray:PutTelemetryRecords\n";
  y += "                Resource: \"*\"\n";
  if (!bucket.empty()) {
    y += "              - Sid: ReadModelObjects\n";
    y += "                Effect: Allow\n";
    y += "                Action: s3:GetObject\n";
    y +=
        "                Resource: " + Quoted("arn:aws:s3:::" + bucket + "/" + prefix + "*") + "\n";
    y += "              - Sid: ListModelPrefix\n";
    y += "                Effect: Allow\n";
    y += "                Action: s3:ListBucket\n";
    y += "                Resource: " + Quoted("arn:aws:s3:::" + bucket) + "\n";
    y += "                Condition:\n";
    y += "                  StringLike:\n";
    y += "                    s3:prefix: " + Quoted(prefix + "*") + "\n";
  }
  if (!o.trigger_bucket.empty()) {
    const std::string arn = "arn:aws:s3:::" + o.trigger_bucket + "/";
    y += "              - Sid: ReadTriggerInputs\n";
    y += "                Effect: Allow\n";
    y += "                Action: s3:GetObject\n";
    y += "                Resource:\n";
    y += "                  - " + Quoted(arn + o.input_prefix + "*") + "\n";
    y += "                  - " + Quoted(arn + o.output_prefix + "*") + "\n";
    y += "              - Sid: WriteTriggerResults\n";
    y += "                Effect: Allow\n";
    y += "                Action: s3:PutObject\n";
    y += "                Resource:\n";
    y += "                  - " + Quoted(arn + o.output_prefix + "*") + "\n";
    y += "                  - " + Quoted(arn + o.failure_prefix + "*") + "\n";
    y += "  TriggerBucket:\n";
    y += "    Type: AWS::S3::Bucket\n";
    y += "    Properties:\n";
    y += "      BucketName: " + Quoted(o.trigger_bucket) + "\n";
    y += "      PublicAccessBlockConfiguration:\n";
    y += "        BlockPublicAcls: true\n        BlockPublicPolicy: true\n";
    y += "        IgnorePublicAcls: true\n        RestrictPublicBuckets: true\n";
    y += "      BucketEncryption:\n        ServerSideEncryptionConfiguration:\n";
    y += "          - ServerSideEncryptionByDefault:\n              SSEAlgorithm: AES256\n";
  }
  y += "  ModelFunction:\n";
  y += "    Type: AWS::Serverless::Function\n";
  y += "    Properties:\n";
  y += "      FunctionName: " + Quoted(o.function_name) + "\n";
  y += "      Description: " + Quoted("modelfn-fn serving " + o.model_name) + "\n";
  y += "      CodeUri: " + Quoted(o.code_uri) + "\n";
  y += "      Handler: bootstrap\n";
  y += "      Runtime: provided.al2023\n";
  y += "      Architectures:\n        - " + o.arch + "\n";
  y += "      MemorySize: " + std::to_string(o.memory_mb) + "\n";
  y += "      Timeout: " + std::to_string(o.timeout_s) + "\n";
  y += "      EphemeralStorage:\n        Size: " + std::to_string(o.ephemeral_mb) + "\n";
  y += "      Tracing: Active\n";
  y += "      Role: !GetAtt FunctionRole.Arn\n";
  y += "      LoggingConfig:\n        LogGroup: !Ref FunctionLogGroup\n        LogFormat: Text\n";
  y += "      Environment:\n        Variables:\n";
  y += "          MODELFN_CACHE_DIR: /tmp/modelfn-cache\n";
  y += "          MODELFN_CACHE_MAX_BYTES: " +
       Quoted(std::to_string((static_cast<int64_t>(o.ephemeral_mb) - 64) << 20)) + "\n";
  if (!o.model_uri.empty()) y += "          MODELFN_MODEL: " + Quoted(o.model_uri) + "\n";
  if (!o.trigger_bucket.empty()) {
    y += "          MODELFN_S3_INPUT_PREFIX: " + Quoted(o.input_prefix) + "\n";
    y += "          MODELFN_S3_OUTPUT_PREFIX: " + Quoted(o.output_prefix) + "\n";
    y += "          MODELFN_S3_FAILURE_PREFIX: " + Quoted(o.failure_prefix) + "\n";
  }
  if (o.reserved > 0)
    y += "      ReservedConcurrentExecutions: " + std::to_string(o.reserved) + "\n";
  if (o.provisioned > 0) {
    y += "      AutoPublishAlias: live\n";
    y += "      ProvisionedConcurrencyConfig:\n        ProvisionedConcurrentExecutions: " +
         std::to_string(o.provisioned) + "\n";
  }
  if (o.api == "url") {
    y += "      FunctionUrlConfig:\n        AuthType: " +
         std::string(o.auth == "iam" ? "AWS_IAM" : "NONE") + "\n";
  }
  if (o.api == "http" || !o.trigger_bucket.empty()) y += "      Events:\n";
  if (!o.trigger_bucket.empty()) {
    y += "        ObjectCreated:\n";
    y += "          Type: S3\n";
    y += "          Properties:\n";
    y += "            Bucket: !Ref TriggerBucket\n";
    y += "            Events: s3:ObjectCreated:*\n";
    y += "            Filter:\n              S3Key:\n                Rules:\n";
    y += "                  - Name: prefix\n                    Value: " + Quoted(o.input_prefix) +
         "\n";
  }
  if (o.api == "http") {
    y += "        Api:\n";
    y += "          Type: HttpApi\n";
    y += "          Properties:\n";
    y += "            ApiId: !Ref HttpApi\n";
    y += "            Path: /{proxy+}\n";
    y += "            Method: ANY\n";
    y += "            PayloadFormatVersion: \"2.0\"\n";
    y += "  HttpApi:\n";
    y += "    Type: AWS::Serverless::HttpApi\n";
    y += "    Properties:\n";
    if (o.auth == "iam") {
      y += "      Auth:\n        EnableIamAuthorizer: true\n        DefaultAuthorizer: AWS_IAM\n";
    } else if (o.auth == "jwt") {
      y += "      Auth:\n";
      y += "        DefaultAuthorizer: ModelJwt\n";
      y += "        Authorizers:\n";
      y += "          ModelJwt:\n";
      y += "            IdentitySource: $request.header.Authorization\n";
      y += "            JwtConfiguration:\n";
      y += "              issuer: " + Quoted(o.jwt_issuer) + "\n";
      y += "              audience:\n                - " + Quoted(o.jwt_audience) + "\n";
    }
    y += "      AccessLogSettings:\n";
    y += "        DestinationArn: !GetAtt FunctionLogGroup.Arn\n";
    y += "        Format: "
         "'{\"requestId\":\"$context.requestId\",\"status\":\"$context.status\",\"latency\":\"$"
         "context.responseLatency\"}'\n";
  }
  y += "Outputs:\n";
  y += "  FunctionArn:\n    Value: !GetAtt ModelFunction.Arn\n";
  if (o.api == "http") {
    y += "  ApiUrl:\n    Value: !Sub "
         "\"https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/\"\n";
  } else if (o.api == "url") {
    y += "  FunctionUrl:\n    Value: !GetAtt ModelFunctionUrl.FunctionUrl\n";
  }
  return y;
}

}  // namespace modelfn

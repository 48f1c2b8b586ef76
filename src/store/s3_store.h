// ObjectStore on Amazon S3 or an S3-compatible server (MinIO, SeaweedFS, R2), signed with SigV4.
//   - Endpoint: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (then path-style addressing), else
//     https://BUCKET.s3.REGION.amazonaws.com (path-style for bucket names with dots, or with
//     MODELFN_S3_PATH_STYLE=1). HTTPS unless the endpoint says http://.
//   - Conditional writes: If-None-Match: * and If-Match: ETag; 412 -> precondition_failed.
//   - Files over 64 MiB upload in 16 MiB multipart parts (aborted on failure).
//   - 403s become reason "store_auth" with S3's error code (InvalidAccessKeyId,
//     SignatureDoesNotMatch, AccessDenied, RequestTimeTooSkewed); messages never hold secrets.
//   - Calls are retried on 5xx and broken connections (4 attempts). A conditional write whose
//     first attempt landed but whose answer was lost then reports a conflict: safe, since the
//     registry re-checks content on conflicts.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "http/http_client.h"
#include "store/aws_auth.h"
#include "store/object_store.h"

namespace modelfn {

struct S3Config {
  std::string bucket;
  std::string prefix;  // without leading/trailing '/'
  std::string region = "us-east-1";
  std::string endpoint;  // "http://127.0.0.1:8333"; empty for AWS
  bool path_style = false;
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 16ull << 20;
};

class S3Store final : public ObjectStore {
 public:
  S3Store(S3Config config, AwsCredentials credentials, std::unique_ptr<HttpClient> http,
          const Clock* clock);

  // Configuration and credentials from the environment (see aws_auth.h).
  static StatusOr<std::unique_ptr<S3Store>> FromEnvironment(const std::string& bucket,
                                                            const std::string& prefix,
                                                            const EnvFn& env, const Clock* clock);

  StatusOr<std::string> Get(const std::string& key) override;
  StatusOr<ObjectInfo> GetToFile(const std::string& key, const std::string& path,
                                 const ProgressFn& progress) override;
  StatusOr<ObjectInfo> Head(const std::string& key) override;
  StatusOr<ObjectInfo> Put(const std::string& key, std::string_view data,
                           const PutOptions& options) override;
  StatusOr<ObjectInfo> PutFile(const std::string& key, const std::string& path,
                               const PutOptions& options) override;
  StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  std::string Describe() const override;

 private:
  struct Request {
    std::string method = "GET";
    std::string key;  // relative to the store prefix; empty for bucket-level calls
    bool bucket_level = false;
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view body;
    std::string body_file;
    uint64_t body_offset = 0, body_length = 0;
    std::string response_file;
    ProgressFn progress;
    bool retry = true;
  };
  StatusOr<HttpReply> Call(const Request& r);
  Status ErrorFor(const Request& r, const HttpReply& reply) const;
  std::string FullKey(const std::string& key) const;
  StatusOr<ObjectInfo> PutMultipart(const std::string& key, const std::string& path, uint64_t size,
                                    const PutOptions& options);

  S3Config config_;
  AwsCredentials credentials_;
  std::unique_ptr<HttpClient> http_;
  const Clock* clock_;
  std::string scheme_host_;  // "https://bucket.s3.us-east-1.amazonaws.com"
  std::string host_;         // Host header value
};

}  // namespace modelfn

// AWS Signature Version 4 and the standard credential sources.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "http/http_client.h"
#include "store/object_store.h"

namespace modelfn {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;       // empty unless temporary (Lambda, ECS, STS)
  int64_t expires_wall_nanos = 0;  // 0: does not expire
};

struct SigV4Input {
  std::string method;
  std::string host;            // as sent in the Host header (with :port when not default)
  std::string canonical_path;  // already URI-encoded, e.g. "/bucket/models/digits/current.json"
  std::vector<std::pair<std::string, std::string>> query;    // decoded name/value pairs
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers to sign
  std::string payload_sha256;                                // hex, or "UNSIGNED-PAYLOAD"
};

// Returns the headers to send: Authorization, x-amz-date, x-amz-content-sha256 and, with a
// session token, x-amz-security-token (plus the extra headers, unchanged).
std::vector<std::pair<std::string, std::string>> SignV4(const SigV4Input& in,
                                                        const AwsCredentials& creds,
                                                        const std::string& region,
                                                        const std::string& service,
                                                        int64_t wall_nanos);

// The canonical query string of SigV4 (sorted, each name and value URI-encoded).
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> query);

// Reads a variable of the environment; a seam so tests give their own.
using EnvFn = std::function<std::optional<std::string>(const std::string&)>;
EnvFn ProcessEnv();

// The credential chain of the AWS SDKs, in order: environment variables (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the shared credentials and config files
// (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, profile AWS_PROFILE or "default"), and the
// container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI, with
// AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]) that ECS and Lambda's SnapStart use.
// FailedPrecondition (reason "store_auth") when none yields credentials.
StatusOr<AwsCredentials> ResolveAwsCredentials(const EnvFn& env, HttpClient& http,
                                               const Clock& clock);

// AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else "us-east-1".
std::string ResolveAwsRegion(const EnvFn& env);

}  // namespace modelfn

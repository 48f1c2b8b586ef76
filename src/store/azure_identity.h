// Access tokens for Azure Storage from the host's managed identity, for the Azure store's bearer
// authentication (azure_store.h) where no account key or SAS is given:
//   - App Service and Azure Functions (IDENTITY_ENDPOINT and IDENTITY_HEADER set by the host):
//       GET $IDENTITY_ENDPOINT?resource=https://storage.azure.com/&api-version=2019-08-01
//       with the header X-IDENTITY-HEADER: $IDENTITY_HEADER;
//   - elsewhere (virtual machines, scale sets): the instance metadata service,
//       GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01
//           &resource=https://storage.azure.com/  with the header Metadata: true.
// A user-assigned identity is named by AZURE_CLIENT_ID (client_id=... on either request). The
// answer is JSON with access_token and expires_on (seconds since the epoch, as a string or a
// number). A token is kept until five minutes before it expires, then fetched again.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "http/http_client.h"
#include "store/aws_auth.h"

namespace modelfn {

// Where bearer tokens come from. Thread-safe.
class AccessTokenSource {
 public:
  virtual ~AccessTokenSource() = default;
  // A token valid for a while yet. Errors: FailedPrecondition (reason "store_auth", as every
  // credential problem of the stores) when the identity endpoint refuses or answers without a
  // token; Unavailable when it cannot be reached.
  virtual StatusOr<std::string> Token() = 0;
};

class ManagedIdentityTokens final : public AccessTokenSource {
 public:
  // Reads IDENTITY_ENDPOINT, IDENTITY_HEADER and AZURE_CLIENT_ID from `env` once.
  ManagedIdentityTokens(const EnvFn& env, std::unique_ptr<HttpClient> http, const Clock* clock);
  StatusOr<std::string> Token() override;

  // Which endpoint it asks: "app-service" or "imds" (for messages and tests).
  const char* kind() const { return endpoint_.empty() ? "imds" : "app-service"; }

 private:
  std::string endpoint_, secret_, client_id_;
  std::unique_ptr<HttpClient> http_;
  const Clock* clock_;
  std::mutex mu_;
  std::string token_;      // guarded by mu_
  int64_t expires_s_ = 0;  // guarded by mu_: seconds since the epoch
};

}  // namespace modelfn

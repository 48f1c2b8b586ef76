// ObjectStore on Google Cloud Storage through its JSON API.
//   - STORAGE_EMULATOR_HOST (fake-gcs-server and other emulators): that endpoint, no auth.
//     MODELFN_GCS_ENDPOINT: another endpoint (private access), with auth.
//   - Else OAuth2 access tokens from a service-account key file (GOOGLE_APPLICATION_CREDENTIALS:
//     an RS256-signed JWT exchanged at the key's token_uri), or from the metadata server
//     (GCE_METADATA_HOST, default metadata.google.internal) as on Cloud Run and Cloud Functions.
//     Tokens are cached until a minute before they expire.
//   - Etags are object generations; conditional writes use ifGenerationMatch (0: if absent).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "http/http_client.h"
#include "store/aws_auth.h"
#include "store/object_store.h"

namespace modelfn {

// Where access tokens come from.
struct GcsAuth {
  enum class Kind { kNone, kServiceAccount, kMetadata };
  Kind kind = Kind::kNone;
  std::string client_email;
  std::string private_key_pem;
  std::string token_uri = "https://oauth2.googleapis.com/token";
  std::string metadata_host = "metadata.google.internal";
};

// A signed JWT assertion for the OAuth2 JWT-bearer grant (RFC 7523), scope devstorage.read_write.
StatusOr<std::string> MakeServiceAccountJwt(const GcsAuth& auth, int64_t wall_nanos);

class GcsStore final : public ObjectStore {
 public:
  GcsStore(std::string endpoint, std::string bucket, std::string prefix, GcsAuth auth,
           std::unique_ptr<HttpClient> http, const Clock* clock);

  static StatusOr<std::unique_ptr<GcsStore>> FromEnvironment(const std::string& bucket,
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
  StatusOr<HttpReply> Call(HttpCall call, const std::string& what);
  StatusOr<std::string> Token();
  StatusOr<ObjectInfo> Upload(const std::string& key, std::string_view data,
                              const std::string& file, uint64_t size, const PutOptions& options);
  std::string ObjectUrl(const std::string& key) const;
  std::string FullKey(const std::string& key) const;

  std::string endpoint_;
  std::string bucket_;
  std::string prefix_;
  GcsAuth auth_;
  std::unique_ptr<HttpClient> http_;
  const Clock* clock_;
  std::mutex token_mu_;
  std::string token_;
  int64_t token_expires_ = 0;
};

}  // namespace modelfn

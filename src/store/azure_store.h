// ObjectStore on Azure Blob Storage (block blobs), and Azurite for local runs.
//   - Account and credentials: AZURE_STORAGE_CONNECTION_STRING (AccountName, AccountKey,
//     BlobEndpoint, DefaultEndpointsProtocol, EndpointSuffix, SharedAccessSignature), else
//     AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY (SharedKey) or AZURE_STORAGE_SAS_TOKEN (SAS).
//     Without a key or a SAS: the host's managed identity (azure_identity.h), for an account
//     named by AZURE_STORAGE_ACCOUNT or by a connection string's AccountName / BlobEndpoint.
//   - Requests are signed with SharedKey (HMAC-SHA256 over the canonical request), carry the SAS
//     query, or carry the identity's token as "Authorization: Bearer"; neither a SAS nor a token
//     ever appears in messages.
//   - Conditional writes: If-None-Match: * (409 BlobAlreadyExists / 412) and If-Match: ETag (412).
//   - Files over 64 MiB upload as 16 MiB blocks committed with one Put Block List, which carries
//     the condition.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "http/http_client.h"
#include "store/aws_auth.h"
#include "store/azure_identity.h"
#include "store/object_store.h"

namespace modelfn {

struct AzureConfig {
  std::string account;
  std::string key_base64;  // SharedKey; empty when using a SAS
  std::string sas;         // query string without '?'; empty when using SharedKey
  // Bearer tokens, when there is neither a key nor a SAS (shared by copies of the config).
  std::shared_ptr<AccessTokenSource> tokens;
  std::string endpoint;  // "https://ACCOUNT.blob.core.windows.net" or
                         // "http://127.0.0.1:10000/devstoreaccount1"
  std::string container;
  std::string prefix;
  uint64_t block_threshold = 64ull << 20;
  uint64_t block_size = 16ull << 20;
};

class AzureStore final : public ObjectStore {
 public:
  AzureStore(AzureConfig config, std::unique_ptr<HttpClient> http, const Clock* clock);

  // `account` comes from an https URL when given, else from the environment.
  static StatusOr<std::unique_ptr<AzureStore>> FromEnvironment(const std::string& account,
                                                               const std::string& container,
                                                               const std::string& prefix,
                                                               const EnvFn& env,
                                                               const Clock* clock);

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

  // The SharedKey string-to-sign and signature, exposed for tests.
  static std::string SharedKeySignature(const std::string& key_base64,
                                        const std::string& string_to_sign);

 private:
  struct Request {
    std::string method = "GET";
    std::string key;
    bool container_level = false;
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view body;
    std::string body_file;
    uint64_t body_offset = 0, body_length = 0;
    std::string response_file;
    ProgressFn progress;
  };
  StatusOr<HttpReply> Call(const Request& r);
  Status ErrorFor(const Request& r, const HttpReply& reply) const;
  std::string FullKey(const std::string& key) const;

  AzureConfig config_;
  std::unique_ptr<HttpClient> http_;
  const Clock* clock_;
  std::string base_path_;  // path part of the endpoint ("" or "/devstoreaccount1")
};

}  // namespace modelfn

// The object-store seam: flat keys holding bytes, as S3, GCS, Azure Blob and a local folder offer
// them. The registry, the cache and the CLI work through it; only main() picks a backend.
//
// Errors are typed so callers can react: NotFound (no such key), FailedPrecondition with reason
// "precondition_failed" (a conditional write lost), Unavailable (network, server down; retry may
// help), PermissionDenied-like failures as FailedPrecondition with reason "store_auth" (wrong or
// missing credentials, clock skew), DataLoss (a transfer ended short).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/progress.h"

namespace modelfn {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  // Opaque token identifying this content version of the object, for conditional writes: the S3
  // or Azure ETag, the GCS generation, a local file's identity.
  std::string etag;
};

struct PutOptions {
  enum class Condition { kNone, kIfAbsent, kIfMatch };
  Condition condition = Condition::kNone;
  std::string if_match;  // the etag the object must still have (kIfMatch)
  std::string content_type = "application/octet-stream";
  ProgressFn progress;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // The whole object. NotFound when absent.
  virtual StatusOr<std::string> Get(const std::string& key) = 0;
  // Streams the object into `path` (created or truncated). NotFound when absent; DataLoss when the
  // transfer ends before the advertised size. The caller verifies content and renames into place.
  virtual StatusOr<ObjectInfo> GetToFile(const std::string& key, const std::string& path,
                                         const ProgressFn& progress) = 0;
  // Size and etag. NotFound when absent.
  virtual StatusOr<ObjectInfo> Head(const std::string& key) = 0;
  // Writes the object atomically (readers see the old bytes or the new, never a mix). With a
  // condition, FailedPrecondition (reason "precondition_failed") when it does not hold; of two
  // racing conditional writes at most one succeeds.
  virtual StatusOr<ObjectInfo> Put(const std::string& key, std::string_view data,
                                   const PutOptions& options) = 0;
  // Uploads a file (multipart/blocks for large files where the backend has them).
  virtual StatusOr<ObjectInfo> PutFile(const std::string& key, const std::string& path,
                                       const PutOptions& options) = 0;
  // Every key starting with `prefix`, in lexicographic order.
  virtual StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;
  // Removes the key; OK when it was already absent.
  virtual Status Delete(const std::string& key) = 0;
  // A URI naming the store for messages (never credentials): "s3://bucket/prefix".
  virtual std::string Describe() const = 0;
};

inline Status PreconditionFailed(std::string message) {
  return Status(StatusCode::kFailedPrecondition, std::move(message), "precondition_failed");
}
inline Status StoreAuthError(std::string message) {
  return Status(StatusCode::kFailedPrecondition, std::move(message), "store_auth");
}

}  // namespace modelfn

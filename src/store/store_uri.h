// Store URIs: where a model store lives.
//   /path/to/models, ./models, file:///path/to/models   local folder
//   s3://bucket[/prefix]                                 S3 or S3-compatible (AWS_ENDPOINT_URL)
//   gs://bucket[/prefix]                                 Google Cloud Storage
//   az://container[/prefix]                              Azure Blob (account from the environment)
//   https://ACCOUNT.blob.core.windows.net/container[/prefix]
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace modelfn {

struct StoreUri {
  enum class Kind { kLocal, kS3, kGcs, kAzure };
  Kind kind = Kind::kLocal;
  std::string path;     // kLocal: the folder
  std::string bucket;   // bucket or container
  std::string prefix;   // key prefix without leading or trailing '/', may be empty
  std::string account;  // kAzure from an https URL, else empty

  // Canonical text ("s3://bucket/prefix", "file:///abs/path").
  std::string ToString() const;
};

// InvalidArgument (reason "invalid_request") for an unknown scheme or a missing bucket.
StatusOr<StoreUri> ParseStoreUri(std::string_view uri);

// A model source "STORE-URI/NAME[@VERSION]": the store is everything before the last path segment.
struct ModelSourceUri {
  StoreUri store;
  std::string name;
  std::string version;  // empty: follow current.json
};
StatusOr<ModelSourceUri> ParseModelSource(std::string_view uri);

// True when `s` names a store by scheme (file://, s3://, gs://, az://, https://).
bool HasStoreScheme(std::string_view s);

}  // namespace modelfn

#include "store/open_store.h"

#include "store/azure_store.h"
#include "store/gcs_store.h"
#include "store/local_store.h"
#include "store/s3_store.h"

namespace modelfn {

StatusOr<std::unique_ptr<ObjectStore>> OpenStore(const StoreUri& uri, const Clock* clock) {
  switch (uri.kind) {
    case StoreUri::Kind::kLocal:
      return std::unique_ptr<ObjectStore>(new LocalStore(uri.path));
    case StoreUri::Kind::kS3: {
      ASSIGN_OR_RETURN(auto s3,
                       S3Store::FromEnvironment(uri.bucket, uri.prefix, ProcessEnv(), clock));
      return std::unique_ptr<ObjectStore>(std::move(s3));
    }
    case StoreUri::Kind::kAzure: {
      ASSIGN_OR_RETURN(auto az, AzureStore::FromEnvironment(uri.account, uri.bucket, uri.prefix,
                                                            ProcessEnv(), clock));
      return std::unique_ptr<ObjectStore>(std::move(az));
    }
    case StoreUri::Kind::kGcs: {
      ASSIGN_OR_RETURN(auto gcs,
                       GcsStore::FromEnvironment(uri.bucket, uri.prefix, ProcessEnv(), clock));
      return std::unique_ptr<ObjectStore>(std::move(gcs));
    }
    default:
      return Status(StatusCode::kUnimplemented, "no backend for " + uri.ToString() + " yet",
                    "invalid_request");
  }
}

}  // namespace modelfn

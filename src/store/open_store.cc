#include "store/open_store.h"

#include "store/local_store.h"

namespace modelfn {

StatusOr<std::unique_ptr<ObjectStore>> OpenStore(const StoreUri& uri, const Clock* clock) {
  switch (uri.kind) {
    case StoreUri::Kind::kLocal:
      return std::unique_ptr<ObjectStore>(new LocalStore(uri.path));
    default:
      return Status(StatusCode::kUnimplemented, "no backend for " + uri.ToString() + " yet",
                    "invalid_request");
  }
}

}  // namespace modelfn

// Opens the ObjectStore a StoreUri names, with credentials from the environment. The one place
// that picks concrete backends (called from the binaries' main()).
#pragma once

#include <memory>

#include "common/clock.h"
#include "store/object_store.h"
#include "store/store_uri.h"

namespace modelfn {

StatusOr<std::unique_ptr<ObjectStore>> OpenStore(const StoreUri& uri, const Clock* clock);

}  // namespace modelfn

// Brings a model from a store to a local, verified folder before the init phase loads it:
// resolve NAME or NAME@VERSION in the store, then use the host cache (hit) or download and verify
// into it (miss). When the store cannot be reached, a verified cached copy of the requested
// version (or, for a pointer, of the version it pointed at last time) is used instead, and the
// start is reported as "offline".
#pragma once

#include <string>

#include "common/clock.h"
#include "function/model_loader.h"
#include "store/model_cache.h"
#include "store/object_store.h"
#include "store/registry.h"

namespace modelfn {

struct FetchedModel {
  std::string dir;  // folder for LoadModelDir
  std::string version;
  std::string cache;  // "hit", "miss" or "offline"
  double fetch_ms = 0;
  uint64_t bytes_downloaded = 0;
  std::string warning;  // set when offline: why the store was not used
};

// `store_id` names the store in the cache (its canonical URI).
StatusOr<FetchedModel> FetchModel(ObjectStore& store, const std::string& store_id,
                                  ModelCache& cache, const std::string& name,
                                  const std::string& version, const Clock& clock);

// FetchModel, then LoadModelDir on the fetched folder: the init phase for a store URI. A cached
// copy that fails verification on use (a file changed, truncated or removed since it was cached:
// DataLoss or NotFound) is dropped from the cache and, unless the store is unreachable, fetched
// once more; *fetched then says "miss" and its warning names the corruption. Errors as FetchModel
// and LoadModelDir. `fetched` must not be null; it is filled whenever the fetch succeeded.
StatusOr<LoadedModel> FetchAndLoadModel(ObjectStore& store, const std::string& store_id,
                                        ModelCache& cache, const std::string& name,
                                        const std::string& version, const EngineFactory& factory,
                                        const Clock& clock, FetchedModel* fetched);

}  // namespace modelfn

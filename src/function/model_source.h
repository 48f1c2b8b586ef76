// Brings a model from a store to a local, verified folder before the init phase loads it:
// resolve NAME or NAME@VERSION in the store, then use the host cache (hit) or download and verify
// into it (miss). When the store cannot be reached, a verified cached copy of the requested
// version (or, for a pointer, of the version it pointed at last time) is used instead, and the
// start is reported as "offline".
#pragma once

#include <string>

#include "common/clock.h"
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

}  // namespace modelfn

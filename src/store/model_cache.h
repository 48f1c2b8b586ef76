// A host-local cache of verified model versions, shared by every instance on the host and kept
// across cold starts, so a scale-up does not download the model again.
//
//   ROOT/<store id>/<name>/<version>-<manifest sha256[:16]>/{manifest.json, model.onnx, ...,
//                                                          .complete}
//   ROOT/<store id>/<name>/current.json   the last pointer resolution, for offline starts
//
// An entry is filled in a temp folder, every file checked against the manifest's sha256 and size,
// then renamed into place in one step; ".complete" marks it whole and its mtime is the LRU clock.
// Concurrent fillers race on the rename: one wins, the others use the winner's entry. After each
// fill, least recently used entries are removed until the cache fits its size bound.
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "store/object_store.h"
#include "store/registry.h"

namespace modelfn {

struct CacheOptions {
  std::string root;                 // default: DefaultCacheRoot()
  uint64_t max_bytes = 2ull << 30;  // size bound over all entries
};

// $MODELFN_CACHE_DIR, else $TMPDIR/modelfn-cache, else /tmp/modelfn-cache.
std::string DefaultCacheRoot();

struct CacheFetch {
  std::string dir;  // folder ready for LoadModelDir
  bool hit = false;
  uint64_t bytes_downloaded = 0;
};

class ModelCache {
 public:
  ModelCache(CacheOptions options, const Clock* clock);

  // The cached folder for `model` (hit), or downloads and verifies it first (miss). DataLoss
  // (reason "checksum_mismatch") when a downloaded file differs from the manifest: nothing is
  // cached then. `store_id` separates stores (use the store's Describe()).
  StatusOr<CacheFetch> Fetch(ObjectStore& store, const std::string& store_id,
                             const ResolvedModel& model, const ProgressFn& progress);

  // A complete entry for name@version (the newest if several), for starts while the store is
  // unreachable. NotFound when none.
  StatusOr<std::string> Lookup(const std::string& store_id, const std::string& name,
                               const std::string& version);

  // The pointer as last resolved from the store, and remembering it.
  Status RememberPointer(const std::string& store_id, const std::string& name,
                         const PointerEntry& p);
  StatusOr<PointerEntry> RecallPointer(const std::string& store_id, const std::string& name);

  // Drops the entry at `dir` (a CacheFetch::dir or Lookup result) after it failed verification,
  // so the next Fetch downloads it again instead of reporting the same corruption on every start.
  // The entry is moved aside first: no reader sees it half deleted. InvalidArgument when `dir` is
  // not an entry of this cache.
  Status Invalidate(const std::string& dir);

  // Removes least recently used entries until the total is within max_bytes, sparing `keep`.
  void Evict(const std::string& keep);

  const std::string& root() const { return options_.root; }

 private:
  std::string ModelDir(const std::string& store_id, const std::string& name) const;

  CacheOptions options_;
  const Clock* clock_;
};

}  // namespace modelfn

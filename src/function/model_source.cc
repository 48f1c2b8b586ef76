#include "function/model_source.h"

namespace modelfn {
namespace {

bool StoreUnreachable(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

}  // namespace

StatusOr<FetchedModel> FetchModel(ObjectStore& store, const std::string& store_id,
                                  ModelCache& cache, const std::string& name,
                                  const std::string& version, const Clock& clock) {
  int64_t t0 = clock.MonotonicNanos();
  FetchedModel out;
  ModelRegistry registry(&store, &clock);
  auto resolved = registry.Resolve(name, version);
  Status failure = resolved.ok() ? Status::Ok() : resolved.status();
  if (resolved.ok()) {
    if (resolved->via_pointer) {
      (void)cache.RememberPointer(store_id, name, {resolved->version, resolved->manifest_sha256});
    }
    auto fetched = cache.Fetch(store, store_id, *resolved, nullptr);
    if (fetched.ok()) {
      out.dir = fetched->dir;
      out.version = resolved->version;
      out.cache = fetched->hit ? "hit" : "miss";
      out.bytes_downloaded = fetched->bytes_downloaded;
      out.fetch_ms = static_cast<double>(clock.MonotonicNanos() - t0) / 1e6;
      return out;
    }
    failure = fetched.status();
  }
  if (!StoreUnreachable(failure)) return failure;
  // The store is down: fall back to what this host verified before.
  std::string want = version;
  if (want.empty()) {
    auto remembered = cache.RecallPointer(store_id, name);
    if (!remembered.ok()) {
      return failure.WithContext("store unreachable and no cached pointer for " + name);
    }
    want = remembered->version;
  }
  auto dir = cache.Lookup(store_id, name, want);
  if (!dir.ok())
    return failure.WithContext("store unreachable and no cached copy of " + name + "@" + want);
  out.dir = *dir;
  out.version = want;
  out.cache = "offline";
  out.warning = "store unreachable (" + failure.message() + "); serving the cached, verified " +
                name + "@" + want;
  out.fetch_ms = static_cast<double>(clock.MonotonicNanos() - t0) / 1e6;
  return out;
}

StatusOr<LoadedModel> FetchAndLoadModel(ObjectStore& store, const std::string& store_id,
                                        ModelCache& cache, const std::string& name,
                                        const std::string& version, const EngineFactory& factory,
                                        const Clock& clock, FetchedModel* fetched) {
  ASSIGN_OR_RETURN(*fetched, FetchModel(store, store_id, cache, name, version, clock));
  auto loaded = LoadModelDir(fetched->dir, factory, clock);
  if (loaded.ok() || fetched->cache == "miss") return loaded;
  StatusCode code = loaded.status().code();
  if (code != StatusCode::kDataLoss && code != StatusCode::kNotFound) return loaded;
  // Verified when it was cached, so the copy on this host went bad since: never use it again.
  Status corrupt = loaded.status();
  RETURN_IF_ERROR(cache.Invalidate(fetched->dir));
  if (fetched->cache == "offline") {
    return corrupt.WithContext("the cached copy is corrupt and the store is unreachable");
  }
  double first_ms = fetched->fetch_ms;
  ASSIGN_OR_RETURN(*fetched, FetchModel(store, store_id, cache, name, version, clock));
  fetched->fetch_ms += first_ms;
  fetched->warning = "the cached copy of " + name + "@" + fetched->version +
                     " failed verification (" + corrupt.message() + "): fetched it again";
  return LoadModelDir(fetched->dir, factory, clock);
}

}  // namespace modelfn

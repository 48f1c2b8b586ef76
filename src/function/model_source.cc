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

}  // namespace modelfn

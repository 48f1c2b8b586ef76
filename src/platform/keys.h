// API keys in SQLite (<state_dir>/keys.db), shared by `modelfn keys` and the running gateway.
// A key reads "mfn_<id>_<secret>": the id finds the row, and only the SHA-256 of the whole key is
// stored, compared in constant time. Usage counts per key and per UTC day and month live in the
// same database.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace modelfn {

struct ApiKey {
  std::string id;  // public part, e.g. "3f9a1c2e"
  std::string name;
  std::string plan;  // usage plan name, "" for none
  std::string created_at;
  std::string revoked_at;  // "" while valid
};

class KeyStore {
 public:
  // Creates the database and its tables when missing. Errors: Unavailable.
  static StatusOr<std::unique_ptr<KeyStore>> Open(const std::string& path);
  ~KeyStore();

  // Returns the record and the full key, which is shown once and never stored.
  StatusOr<std::pair<ApiKey, std::string>> Create(const std::string& name, const std::string& plan,
                                                  const std::string& now_rfc3339);
  StatusOr<std::vector<ApiKey>> List();
  // By id or by name. NotFound when no valid key matches.
  Status Revoke(const std::string& id_or_name, const std::string& now_rfc3339);
  // The key's record when `presented` is a valid, unrevoked key. Unauthenticated-style failures
  // are NotFound (unknown or malformed) and FailedPrecondition (revoked).
  StatusOr<ApiKey> Authenticate(const std::string& presented);

  // Usage counters: adds `delta` to the key's count for `period` ("2026-11-28" or "2026-11") and
  // returns the new total.
  StatusOr<int64_t> AddUsage(const std::string& key_id, const std::string& period, int64_t delta);

 private:
  explicit KeyStore(sqlite3* db) : db_(db) {}
  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace modelfn

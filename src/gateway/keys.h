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

// Fails closed: a gateway must never go on accepting keys after the database it was told to use
// is gone. Every call first checks that the file at `path` is still the one opened (same device
// and inode, a regular file, not cut below a page): a database deleted, replaced (even by a valid
// one: revocations written there would not be seen by an open connection's cache) or truncated
// makes every call fail with Unavailable (reason "auth_unavailable") until the process restarts
// and opens it again. SQLite reads the file with pread, never through mmap, so a file truncated
// under us is an I/O error, not a SIGBUS.
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
  // are NotFound (unknown or malformed) and FailedPrecondition (revoked); Unavailable (reason
  // "auth_unavailable") when the database cannot answer: the caller must refuse the request.
  StatusOr<ApiKey> Authenticate(const std::string& presented);

  // Usage counters: adds `delta` to the key's count for `period` ("2026-11-28" or "2026-11") and
  // returns the new total.
  StatusOr<int64_t> AddUsage(const std::string& key_id, const std::string& period, int64_t delta);

 private:
  KeyStore(sqlite3* db, std::string path, uint64_t dev, uint64_t ino)
      : db_(db), path_(std::move(path)), dev_(dev), ino_(ino) {}
  // OK while the file at path_ is still the database opened. Holds mu_.
  Status CheckFileLocked();

  std::mutex mu_;
  sqlite3* db_;
  const std::string path_;
  const uint64_t dev_, ino_;
};

}  // namespace modelfn

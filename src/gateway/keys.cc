#include "gateway/keys.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/sha256.h"

namespace modelfn {
namespace {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  std::string Text(int col) {
    const unsigned char* t = sqlite3_column_text(s_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

constexpr const char* kUnavailableReason = "auth_unavailable";

Status DbError(sqlite3* db, const std::string& what) {
  return Status(StatusCode::kUnavailable, what + ": " + sqlite3_errmsg(db), kUnavailableReason);
}

}  // namespace

StatusOr<std::unique_ptr<KeyStore>> KeyStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return UnavailableError("cannot open " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  const char* schema =
      "PRAGMA mmap_size=0;"  // pread only: a file truncated by someone else must not SIGBUS us
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, plan TEXT "
      "NOT NULL, hash TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT NOT NULL DEFAULT "
      "'');"
      "CREATE TABLE IF NOT EXISTS usage (key_id TEXT NOT NULL, period TEXT NOT NULL, count "
      "INTEGER NOT NULL, PRIMARY KEY (key_id, period));";
  char* err = nullptr;
  if (sqlite3_exec(db, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    sqlite3_close(db);
    return UnavailableError("cannot initialise " + path + ": " + msg);
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::string msg = strerror(errno);
    sqlite3_close(db);
    return UnavailableError("cannot stat " + path + ": " + msg);
  }
  return std::unique_ptr<KeyStore>(new KeyStore(db, path, st.st_dev, st.st_ino));
}

Status KeyStore::CheckFileLocked() {
  struct stat st;
  std::string why;
  if (stat(path_.c_str(), &st) != 0) {
    why = std::string("is gone (") + strerror(errno) + ")";
  } else if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_dev) != dev_ ||
             static_cast<uint64_t>(st.st_ino) != ino_) {
    why = "was replaced by another file";
  } else if (st.st_size < 512) {  // SQLite's smallest page: a database is never shorter
    why = "was truncated";
  }
  if (why.empty()) return Status::Ok();
  return Status(StatusCode::kUnavailable,
                "the keys database " + path_ + " " + why +
                    " since the gateway opened it; keyed requests are refused until it restarts",
                kUnavailableReason);
}

KeyStore::~KeyStore() { sqlite3_close(db_); }

StatusOr<std::pair<ApiKey, std::string>> KeyStore::Create(const std::string& name,
                                                          const std::string& plan,
                                                          const std::string& now_rfc3339) {
  std::lock_guard<std::mutex> lock(mu_);
  ApiKey k;
  k.id = RandomHex(4);
  k.name = name;
  k.plan = plan;
  k.created_at = now_rfc3339;
  std::string secret = "mfn_" + k.id + "_" + RandomHex(16);
  Stmt s(db_, "INSERT INTO api_keys (id, name, plan, hash, created_at) VALUES (?, ?, ?, ?, ?)");
  if (!s.ok()) return DbError(db_, "prepare");
  s.Bind(1, k.id).Bind(2, name).Bind(3, plan).Bind(4, Sha256Hex(secret)).Bind(5, now_rfc3339);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "cannot store the key");
  return std::make_pair(k, secret);
}

StatusOr<std::vector<ApiKey>> KeyStore::List() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "SELECT id, name, plan, created_at, revoked_at FROM api_keys ORDER BY created_at");
  if (!s.ok()) return DbError(db_, "prepare");
  std::vector<ApiKey> out;
  while (s.Step() == SQLITE_ROW) {
    out.push_back(ApiKey{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4)});
  }
  return out;
}

Status KeyStore::Revoke(const std::string& id_or_name, const std::string& now_rfc3339) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "UPDATE api_keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at = ''");
  if (!s.ok()) return DbError(db_, "prepare");
  s.Bind(1, now_rfc3339).Bind(2, id_or_name).Bind(3, id_or_name);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "cannot revoke");
  if (sqlite3_changes(db_) == 0) return NotFoundError("no valid key with id or name " + id_or_name);
  return Status::Ok();
}

StatusOr<ApiKey> KeyStore::Authenticate(const std::string& presented) {
  // mfn_<8 hex>_<32 hex>
  if (presented.size() != 4 + 8 + 1 + 32 || presented.rfind("mfn_", 0) != 0 ||
      presented[12] != '_') {
    return NotFoundError("malformed API key");
  }
  std::string id = presented.substr(4, 8);
  std::string hash = Sha256Hex(presented);
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckFileLocked());
  Stmt s(db_, "SELECT id, name, plan, created_at, revoked_at, hash FROM api_keys WHERE id = ?");
  if (!s.ok()) return DbError(db_, "cannot read the keys database");
  s.Bind(1, id);
  int rc = s.Step();
  if (rc == SQLITE_DONE) return NotFoundError("unknown API key");
  if (rc != SQLITE_ROW) return DbError(db_, "cannot read the keys database");
  std::string stored = s.Text(5);
  if (stored.size() != hash.size() || CRYPTO_memcmp(stored.data(), hash.data(), hash.size()) != 0) {
    return NotFoundError("unknown API key");
  }
  ApiKey k{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4)};
  if (!k.revoked_at.empty()) return FailedPreconditionError("API key was revoked");
  return k;
}

StatusOr<int64_t> KeyStore::AddUsage(const std::string& key_id, const std::string& period,
                                     int64_t delta) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckFileLocked());
  Stmt s(db_,
         "INSERT INTO usage (key_id, period, count) VALUES (?, ?, ?) ON CONFLICT(key_id, period) "
         "DO UPDATE SET count = count + excluded.count RETURNING count");
  if (!s.ok()) return DbError(db_, "prepare");
  s.Bind(1, key_id).Bind(2, period).Bind(3, delta);
  if (s.Step() != SQLITE_ROW) return DbError(db_, "cannot count usage");
  return s.Int(0);
}

}  // namespace modelfn

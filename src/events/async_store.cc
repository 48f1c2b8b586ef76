#include "events/async_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "common/json.h"

namespace modelfn::events {
namespace {

constexpr const char* kUnavailableReason = "async_store_unavailable";

// The columns every read selects, in the order ReadRecord expects them.
constexpr const char* kColumns =
    "id, function, method, path, query, content_type, headers, body, request_id, "
    "idempotency_key, state, attempts, created_ms, updated_ms, next_at_ms, result_status, "
    "result_content_type, result_body, result_code, result_detail, patient";

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS invocations ("
    "id TEXT PRIMARY KEY, function TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, "
    "query TEXT NOT NULL, content_type TEXT NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL, "
    "request_id TEXT NOT NULL, idempotency_key TEXT, state TEXT NOT NULL, "
    "attempts INTEGER NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, "
    "next_at_ms INTEGER NOT NULL, result_status INTEGER NOT NULL, "
    "result_content_type TEXT NOT NULL, result_body BLOB NOT NULL, result_code TEXT NOT NULL, "
    "result_detail TEXT NOT NULL, patient INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS invocations_due ON invocations (state, next_at_ms);"
    "CREATE INDEX IF NOT EXISTS invocations_key ON invocations (function, idempotency_key);";

Status DbError(sqlite3* db, const std::string& what) {
  return Status(StatusCode::kUnavailable, what + ": " + sqlite3_errmsg(db), kUnavailableReason);
}

// One prepared statement; every value is bound with its length, so bytes (NULs included)
// round-trip.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status Prepared(const std::string& what) const {
    return rc_ == SQLITE_OK ? Status::Ok() : DbError(db_, what);
  }
  Stmt& Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // NULL for "", so that absent keys never match one another.
  Stmt& TextOrNull(int i, const std::string& v) {
    if (v.empty()) {
      sqlite3_bind_null(s_, i);
      return *this;
    }
    return Text(i, v);
  }
  Stmt& Blob(int i, const std::string& v) {
    // A zero-length blob with a null pointer would bind NULL; data() is never null.
    sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int Step() { return sqlite3_step(s_); }
  // Steps a statement that returns no row.
  Status Run(const std::string& what) {
    return Step() == SQLITE_DONE ? Status::Ok() : DbError(db_, what);
  }
  std::string Bytes(int col) {
    const void* p = sqlite3_column_blob(s_, col);
    int n = sqlite3_column_bytes(s_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }
  bool IsNull(int col) { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

// BEGIN IMMEDIATE (the write lock up front, so a read-then-write cannot be overtaken); rolled back
// unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin() {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return DbError(db_, "cannot begin a transaction");
    }
    open_ = true;
    return Status::Ok();
  }
  Status Commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return DbError(db_, "cannot commit");
    }
    open_ = false;
    return Status::Ok();
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

StatusOr<std::string> NewId() {
  unsigned char raw[16];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (got < sizeof raw) {  // no getrandom (old kernel, seccomp): the device instead
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    got = 0;
    while (fd >= 0 && got < sizeof raw) {
      ssize_t n = read(fd, raw + got, sizeof raw - got);
      if (n > 0) {
        got += static_cast<size_t>(n);
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
    if (fd >= 0) close(fd);
    if (got < sizeof raw) {
      return Status(StatusCode::kUnavailable, "no random bytes for an invocation id",
                    kUnavailableReason);
    }
  }
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (unsigned char c : raw) {
    id.push_back(kHex[c >> 4]);
    id.push_back(kHex[c & 15]);
  }
  return id;
}

std::string EncodeHeaders(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  for (const auto& [name, value] : headers) w.BeginArray().String(name).String(value).EndArray();
  w.EndArray();
  return out;
}

Status DecodeHeaders(const std::string& text,
                     std::vector<std::pair<std::string, std::string>>* headers) {
  auto doc = Json::Parse(text);
  if (!doc.ok() || !doc->is_array()) return DataLossError("stored headers are not a JSON array");
  for (const Json& h : doc->AsArray()) {
    if (!h.is_array() || h.AsArray().size() != 2 || !h.AsArray()[0].is_string() ||
        !h.AsArray()[1].is_string()) {
      return DataLossError("a stored header is not a [name, value] pair");
    }
    headers->emplace_back(h.AsArray()[0].AsString(), h.AsArray()[1].AsString());
  }
  return Status::Ok();
}

std::optional<AsyncState> ParseState(const std::string& s) {
  for (AsyncState st :
       {AsyncState::kQueued, AsyncState::kRunning, AsyncState::kSucceeded, AsyncState::kFailed}) {
    if (s == AsyncStateName(st)) return st;
  }
  return std::nullopt;
}

// A row selected with kColumns.
StatusOr<AsyncRecord> ReadRecord(Stmt& s) {
  AsyncRecord r;
  r.id = s.Bytes(0);
  r.request.function = s.Bytes(1);
  r.request.method = s.Bytes(2);
  r.request.path = s.Bytes(3);
  r.request.query = s.Bytes(4);
  r.request.content_type = s.Bytes(5);
  RETURN_IF_ERROR(DecodeHeaders(s.Bytes(6), &r.request.headers).WithContext(r.id));
  r.request.body = s.Bytes(7);
  r.request.request_id = s.Bytes(8);
  r.idempotency_key = s.IsNull(9) ? "" : s.Bytes(9);
  std::optional<AsyncState> state = ParseState(s.Bytes(10));
  if (!state) return DataLossError(r.id + ": unknown state " + s.Bytes(10));
  r.state = *state;
  r.attempts = static_cast<int>(s.Int(11));
  r.created_ms = s.Int(12);
  r.updated_ms = s.Int(13);
  r.next_at_ms = s.Int(14);
  r.result.status = static_cast<int>(s.Int(15));
  r.result.content_type = s.Bytes(16);
  r.result.body = s.Bytes(17);
  r.result.code = s.Bytes(18);
  r.result.detail = s.Bytes(19);
  r.request.retry_until_max_age = s.Int(20) != 0;
  return r;
}

// After an update of a running invocation changed nothing: NotFound or FailedPrecondition.
Status WhyNotRunning(sqlite3* db, const std::string& id) {
  Stmt s(db, "SELECT state FROM invocations WHERE id = ?");
  RETURN_IF_ERROR(s.Prepared("cannot read the invocation"));
  s.Text(1, id);
  int rc = s.Step();
  if (rc == SQLITE_DONE) {
    return Status(StatusCode::kNotFound, "no async invocation " + id, "not_found");
  }
  if (rc != SQLITE_ROW) return DbError(db, "cannot read the invocation");
  return Status(StatusCode::kFailedPrecondition,
                "async invocation " + id + " is " + s.Bytes(0) + ", not running", "not_running");
}

}  // namespace

const char* AsyncStateName(AsyncState s) {
  switch (s) {
    case AsyncState::kQueued:
      return "queued";
    case AsyncState::kRunning:
      return "running";
    case AsyncState::kSucceeded:
      return "succeeded";
    case AsyncState::kFailed:
      return "failed";
  }
  return "queued";
}

StatusOr<std::unique_ptr<AsyncStore>> AsyncStore::Open(const std::string& path,
                                                       const Clock* clock) {
  sqlite3* db = nullptr;
  auto fail = [&](const std::string& what) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Status(StatusCode::kUnavailable, what + " " + path + ": " + msg, kUnavailableReason);
  };
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return fail("cannot open the async database");
  }
  // The first statements read the file: a directory or a file of another kind fails here.
  const char* pragmas =
      "PRAGMA busy_timeout=5000;"
      "PRAGMA mmap_size=0;"  // pread only: a file truncated by someone else must not SIGBUS us
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;";
  if (sqlite3_exec(db, pragmas, nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(db, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("cannot initialise the async database");
  }
  // A database from before the `patient` column gets it (every row then follows its policy).
  bool has_patient = false;
  {
    Stmt info(db, "PRAGMA table_info(invocations)");
    while (info.Prepared("").ok() && info.Step() == SQLITE_ROW)
      has_patient |= info.Bytes(1) == "patient";
  }
  if (!has_patient &&
      sqlite3_exec(db, "ALTER TABLE invocations ADD COLUMN patient INTEGER NOT NULL DEFAULT 0",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("cannot upgrade the async database");
  }
  std::unique_ptr<AsyncStore> store(new AsyncStore(db, clock));
  int64_t now = store->NowMs();
  Stmt s(db,
         "UPDATE invocations SET state = 'queued', next_at_ms = ?, updated_ms = ? "
         "WHERE state = 'running'");
  Status st = s.Prepared("cannot requeue running invocations");
  if (st.ok()) st = s.Int(1, now).Int(2, now).Run("cannot requeue running invocations");
  if (!st.ok()) return st.WithContext(path);
  return store;
}

AsyncStore::~AsyncStore() { sqlite3_close_v2(db_); }

StatusOr<Submitted> AsyncStore::Submit(const AsyncRequest& request,
                                       const std::string& idempotency_key, int64_t window_ms) {
  ASSIGN_OR_RETURN(std::string id, NewId());
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = NowMs();
  Transaction txn(db_);
  RETURN_IF_ERROR(txn.Begin());
  if (!idempotency_key.empty()) {
    Stmt find(db_,
              "SELECT id FROM invocations WHERE function = ? AND idempotency_key = ? "
              "AND created_ms > ? ORDER BY created_ms DESC LIMIT 1");
    RETURN_IF_ERROR(find.Prepared("cannot look up the idempotency key"));
    find.Text(1, request.function).Text(2, idempotency_key).Int(3, now - window_ms);
    int rc = find.Step();
    if (rc == SQLITE_ROW) return Submitted{find.Bytes(0), false};
    if (rc != SQLITE_DONE) return DbError(db_, "cannot look up the idempotency key");
  }
  Stmt ins(
      db_,
      std::string("INSERT INTO invocations (") + kColumns +
          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, 0, '', x'', '', '', ?)");
  RETURN_IF_ERROR(ins.Prepared("cannot record the invocation"));
  ins.Text(1, id)
      .Text(2, request.function)
      .Text(3, request.method)
      .Text(4, request.path)
      .Text(5, request.query)
      .Text(6, request.content_type)
      .Text(7, EncodeHeaders(request.headers))
      .Blob(8, request.body)
      .Text(9, request.request_id)
      .TextOrNull(10, idempotency_key)
      .Int(11, now)
      .Int(12, now)
      .Int(13, now)
      .Int(14, request.retry_until_max_age ? 1 : 0);
  RETURN_IF_ERROR(ins.Run("cannot record the invocation"));
  RETURN_IF_ERROR(txn.Commit());
  return Submitted{id, true};
}

StatusOr<std::vector<AsyncRecord>> AsyncStore::Claim(const std::string& function, size_t max) {
  std::vector<AsyncRecord> out;
  if (max == 0) return out;
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = NowMs();
  Transaction txn(db_);
  RETURN_IF_ERROR(txn.Begin());
  // rowid last: invocations submitted in the same millisecond go in submission order.
  Stmt sel(db_, std::string("SELECT ") + kColumns +
                    " FROM invocations WHERE state = 'queued' AND next_at_ms <= ?1 "
                    "AND (?2 = '' OR function = ?2) ORDER BY next_at_ms, created_ms, rowid "
                    "LIMIT ?3");
  RETURN_IF_ERROR(sel.Prepared("cannot claim invocations"));
  int64_t limit = max > static_cast<size_t>(std::numeric_limits<int64_t>::max())
                      ? std::numeric_limits<int64_t>::max()
                      : static_cast<int64_t>(max);
  sel.Int(1, now).Text(2, function).Int(3, limit);
  int rc;
  std::vector<std::pair<std::string, std::string>> unreadable;  // id, why
  while ((rc = sel.Step()) == SQLITE_ROW) {
    auto r = ReadRecord(sel);
    if (!r.ok()) {
      // One damaged row must not hold up the rest: it fails, naming why.
      unreadable.emplace_back(sel.Bytes(0), r.status().message());
      continue;
    }
    out.push_back(std::move(r).value());
  }
  if (rc != SQLITE_DONE) return DbError(db_, "cannot claim invocations");
  if (!unreadable.empty()) {
    Stmt bad(db_,
             "UPDATE invocations SET state = 'failed', updated_ms = ?, result_status = 500, "
             "result_code = 'unreadable_record', result_detail = ? WHERE id = ?");
    RETURN_IF_ERROR(bad.Prepared("cannot claim invocations"));
    for (const auto& [id, why] : unreadable) {
      bad.Reset();
      bad.Int(1, now).Text(2, why).Text(3, id);
      RETURN_IF_ERROR(bad.Run("cannot claim invocations"));
    }
  }
  Stmt upd(db_,
           "UPDATE invocations SET state = 'running', attempts = attempts + 1, updated_ms = ? "
           "WHERE id = ?");
  RETURN_IF_ERROR(upd.Prepared("cannot claim invocations"));
  for (AsyncRecord& r : out) {
    upd.Reset();
    upd.Int(1, now).Text(2, r.id);
    RETURN_IF_ERROR(upd.Run("cannot claim invocations"));
    r.state = AsyncState::kRunning;
    r.attempts += 1;
    r.updated_ms = now;
  }
  RETURN_IF_ERROR(txn.Commit());
  return out;
}

Status AsyncStore::EndSend(const std::string& id, AsyncState state, int64_t next_at_ms,
                           const AsyncResult& result, const char* what) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "UPDATE invocations SET state = ?, updated_ms = ?, "
         "next_at_ms = CASE WHEN ? < 0 THEN next_at_ms ELSE ?3 END, result_status = ?, "
         "result_content_type = ?, result_body = ?, result_code = ?, result_detail = ? "
         "WHERE id = ? AND state = 'running'");
  RETURN_IF_ERROR(s.Prepared(what));
  s.Text(1, AsyncStateName(state))
      .Int(2, NowMs())
      .Int(3, next_at_ms)
      .Int(4, result.status)
      .Text(5, result.content_type)
      .Blob(6, result.body)
      .Text(7, result.code)
      .Text(8, result.detail)
      .Text(9, id);
  RETURN_IF_ERROR(s.Run(what));
  if (sqlite3_changes(db_) > 0) return Status::Ok();
  return WhyNotRunning(db_, id);
}

Status AsyncStore::Finish(const std::string& id, bool succeeded, const AsyncResult& result) {
  return EndSend(id, succeeded ? AsyncState::kSucceeded : AsyncState::kFailed, -1, result,
                 "cannot finish the invocation");
}

Status AsyncStore::Retry(const std::string& id, int64_t next_at_ms, const AsyncResult& result) {
  return EndSend(id, AsyncState::kQueued, next_at_ms, result, "cannot requeue the invocation");
}

Status AsyncStore::Release(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "UPDATE invocations SET state = 'queued', updated_ms = ?1, next_at_ms = ?1, "
         "attempts = MAX(0, attempts - 1) WHERE id = ?2 AND state = 'running'");
  RETURN_IF_ERROR(s.Prepared("cannot requeue the invocation"));
  s.Int(1, NowMs()).Text(2, id);
  RETURN_IF_ERROR(s.Run("cannot requeue the invocation"));
  if (sqlite3_changes(db_) > 0) return Status::Ok();
  return WhyNotRunning(db_, id);
}

StatusOr<std::optional<int64_t>> AsyncStore::NextDueOf(const std::string& function) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "SELECT MIN(next_at_ms) FROM invocations WHERE state = 'queued' AND function = ?");
  RETURN_IF_ERROR(s.Prepared("cannot read the queue"));
  s.Text(1, function);
  if (s.Step() != SQLITE_ROW) return DbError(db_, "cannot read the queue");
  if (s.IsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(s.Int(0));
}

StatusOr<AsyncRecord> AsyncStore::Get(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, std::string("SELECT ") + kColumns + " FROM invocations WHERE id = ?");
  RETURN_IF_ERROR(s.Prepared("cannot read the invocation"));
  s.Text(1, id);
  int rc = s.Step();
  if (rc == SQLITE_DONE) {
    return Status(StatusCode::kNotFound, "no async invocation " + id, "not_found");
  }
  if (rc != SQLITE_ROW) return DbError(db_, "cannot read the invocation");
  return ReadRecord(s);
}

StatusOr<std::optional<int64_t>> AsyncStore::NextDue() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "SELECT MIN(next_at_ms) FROM invocations WHERE state = 'queued'");
  RETURN_IF_ERROR(s.Prepared("cannot read the queue"));
  if (s.Step() != SQLITE_ROW) return DbError(db_, "cannot read the queue");
  if (s.IsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(s.Int(0));
}

StatusOr<std::map<std::string, AsyncStore::Counts>> AsyncStore::CountByFunction() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "SELECT function, state, COUNT(*) FROM invocations GROUP BY function, state");
  RETURN_IF_ERROR(s.Prepared("cannot count invocations"));
  std::map<std::string, Counts> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    Counts& c = out[s.Bytes(0)];
    uint64_t n = static_cast<uint64_t>(s.Int(2));
    std::optional<AsyncState> state = ParseState(s.Bytes(1));
    if (!state) return DataLossError("unknown state " + s.Bytes(1) + " in the async database");
    switch (*state) {
      case AsyncState::kQueued:
        c.queued = n;
        break;
      case AsyncState::kRunning:
        c.running = n;
        break;
      case AsyncState::kSucceeded:
        c.succeeded = n;
        break;
      case AsyncState::kFailed:
        c.failed = n;
        break;
    }
  }
  if (rc != SQLITE_DONE) return DbError(db_, "cannot count invocations");
  return out;
}

StatusOr<uint64_t> AsyncStore::Prune(int64_t before_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "DELETE FROM invocations WHERE state IN ('succeeded', 'failed') AND updated_ms < ?");
  RETURN_IF_ERROR(s.Prepared("cannot prune invocations"));
  s.Int(1, before_ms);
  RETURN_IF_ERROR(s.Run("cannot prune invocations"));
  return static_cast<uint64_t>(sqlite3_changes(db_));
}

}  // namespace modelfn::events

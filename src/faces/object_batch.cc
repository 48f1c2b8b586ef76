#include "faces/object_batch.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <functional>
#include <tuple>

#include "common/json.h"
#include "faces/row_objects.h"
#include "http/problem.h"

namespace modelfn {
namespace {

Status BadInput(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Outcome InferRequest(FunctionCore& core, const ObjectRequest& request,
                     const std::string& request_id) {
  Invocation inv;
  inv.method = "POST";
  inv.path = "/v1/infer";
  inv.body = request.body;
  inv.content_type = &request.content_type;
  inv.request_id = &request_id;
  return core.Handle(inv);
}

// The problem of a failed inference as a Status, keeping its code.
Status OutcomeError(const Outcome& o) {
  auto doc = Json::Parse(o.body);
  const Json* code = doc.ok() ? doc->Find("code") : nullptr;
  const Json* detail = doc.ok() ? doc->Find("detail") : nullptr;
  return Status(StatusCode::kInvalidArgument,
                detail && detail->is_string() ? detail->AsString() : o.body,
                code && code->is_string() ? code->AsString() : "internal");
}

// The image media type of a key's extension (case-insensitive), or null.
const char* ImageTypeOf(const std::string& key) {
  size_t dot = key.rfind('.');
  if (dot == std::string::npos) return nullptr;
  std::string ext = key.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "png") return "image/png";
  if (ext == "webp") return "image/webp";
  return nullptr;
}

StatusOr<std::string> JsonObjectToBody(const std::string& key, const std::string& data) {
  if (!EndsWith(key, ".json"))
    return BadInput(
        "unsupported input object type (use .json, .jsonl, .csv, .npy, .jpg, .jpeg, .png or "
        ".webp): " +
        key);
  auto doc = Json::Parse(data);
  if (!doc.ok())
    return Status(StatusCode::kInvalidArgument, doc.status().message(), "invalid_json");
  if (doc->is_array()) return "{\"inputs\":" + data + "}";
  return data;
}

Status TooLarge(const std::string& key, uint64_t size, uint64_t limit, const char* setting) {
  return Status(StatusCode::kInvalidArgument,
                key + " holds " + std::to_string(size) + " bytes, over the limit of " +
                    std::to_string(limit) + " (" + setting + ")",
                "object_too_large");
}

// A failure a later delivery may not meet: the store or the function was unreachable, a transfer
// ended short. Such an object gets no failure record (it is not the object's fault): the face
// asks for the event again (failure_recorded false), so an outage delays work and loses none.
bool Transient(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded ||
         s.code() == StatusCode::kDataLoss;
}

void Redeliver(const Status& error, ObjectResult* r) {
  r->kind = ObjectResult::Kind::kFailed;
  r->failure_recorded = false;
  r->failure = "not scored now, to be delivered again: " + error.message();
}

// The failure record of an object: {"input", "etag", "error": <problem>, ...extra}.
void RecordFailure(ObjectStore& store, const ObjectRef& object, const std::string& fail_key,
                   const Status& error, const std::string& extra_members, ObjectResult* r) {
  Problem p = ProblemFromStatus(error);
  std::string doc;
  JsonWriter dw(&doc);
  dw.BeginObject().Key("input").String(object.key).Key("etag").String(object.etag);
  dw.Key("error").Raw(p.ToJson());
  doc += extra_members;
  doc += "}";
  // Not "if absent": the record tells the latest delivery's outcome (an earlier one may have met
  // a full disk that a later one did not). Only the result is written once.
  PutOptions opts;
  opts.content_type = "application/json";
  auto put = store.Put(fail_key, doc, opts);
  r->failure_recorded = put.ok();
  r->failure = r->failure_recorded
                   ? fail_key
                   : "could not write the failure record: " + put.status().message();
}

void RemoveFolder(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
        unlink((dir + "/" + e->d_name).c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

// A temporary folder removed with what it holds. It holds a lock (flock on its `.lock`) while
// in use, so that folders left by a process that was killed (SIGKILL, a Lambda timeout) are
// recognised and removed by the next one, and live ones of other processes sharing the parent
// (instances of modelfn up) are not.
class Scratch {
 public:
  explicit Scratch(const std::string& parent) {
    const std::string base = parent.empty() ? std::string("/tmp") : parent;
    RemoveAbandoned(base);
    std::string t = base + "/modelfn-rows-XXXXXX";
    if (mkdtemp(t.data()) == nullptr) return;
    // Locked before it is named .lock: another process never finds it unlocked.
    lock_ = open((t + "/.lock-new").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (lock_ < 0 || flock(lock_, LOCK_EX | LOCK_NB) != 0 ||
        rename((t + "/.lock-new").c_str(), (t + "/.lock").c_str()) != 0) {
      if (lock_ >= 0) close(lock_);
      lock_ = -1;
      RemoveFolder(t);
      return;
    }
    dir_ = t;
  }
  ~Scratch() {
    if (dir_.empty()) return;
    RemoveFolder(dir_);
    close(lock_);  // after the removal: nobody else may take the folder for abandoned before
  }
  const std::string& dir() const { return dir_; }

 private:
  static void RemoveAbandoned(const std::string& base) {
    DIR* d = opendir(base.c_str());
    if (d == nullptr) return;
    std::vector<std::string> found;
    while (dirent* e = readdir(d)) {
      if (strncmp(e->d_name, "modelfn-rows-", 13) == 0) found.push_back(base + "/" + e->d_name);
    }
    closedir(d);
    for (const std::string& dir : found) {
      int fd = open((dir + "/.lock").c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) continue;                                      // being created, or not ours
      if (flock(fd, LOCK_EX | LOCK_NB) == 0) RemoveFolder(dir);  // its process is gone
      close(fd);
    }
  }

  std::string dir_;
  int lock_ = -1;
};

constexpr size_t kListedRowFailures = 100;

struct RowsTally {
  int64_t rows = 0, failed = 0;
  std::vector<std::tuple<int64_t, std::string, std::string>> first_failures;  // row, code, detail
  void Fail(int64_t row, const std::string& code, const std::string& detail) {
    ++failed;
    if (first_failures.size() < kListedRowFailures) first_failures.emplace_back(row, code, detail);
  }
};

// Infers one chunk of rows through /v1/batch (rows merged into Runs where the model allows,
// each row answered or refused on its own) and appends every row's result in order. An error
// is about the object as a whole: the function could not answer at all (5xx).
Status InferChunk(FunctionCore& core, const std::string& request_id, std::vector<Row>& rows,
                  ResultsFile& results, RowsTally* tally) {
  std::string body = "{\"items\":[";
  size_t items = 0;
  for (const Row& row : rows) {
    if (!row.error.ok()) continue;
    body += (items++ ? "," : "") + row.body;
  }
  body += "]}";
  std::vector<const Json*> answers;
  StatusOr<Json> doc = Json();
  Status envelope;
  if (items > 0) {
    static const std::string kJson = "application/json";
    Invocation inv;
    inv.method = "POST";
    inv.path = "/v1/batch";
    inv.body = body;
    inv.content_type = &kJson;
    inv.request_id = &request_id;
    Outcome o = core.Handle(inv);
    if (o.status >= 500) {
      Status e = OutcomeError(o);
      return Status(StatusCode::kUnavailable, e.message(), e.reason());
    }
    if (o.status != 200) {
      envelope = OutcomeError(o);
    } else {
      doc = Json::Parse(o.body);
      const Json* list = doc.ok() ? doc->Find("results") : nullptr;
      if (list == nullptr || !list->is_array() || list->AsArray().size() != items)
        return InternalError("the function's batch answer does not match its request");
      for (const Json& a : list->AsArray()) answers.push_back(&a);
    }
  }
  size_t next = 0;
  for (const Row& row : rows) {
    ++tally->rows;
    std::string code, detail;
    if (!row.error.ok()) {
      code = row.error.reason().empty() ? "invalid_request" : row.error.reason();
      detail = row.error.message();
    } else if (!envelope.ok()) {
      ++next;
      code = envelope.reason();
      detail = envelope.message();
    } else {
      const Json* a = answers[next++];
      if (const Json* out = a->Find("outputs"); out != nullptr) {
        RETURN_IF_ERROR(results.AddOutputs(row.index, *out));
        continue;
      }
      const Json* err = a->Find("error");
      const Json* c = err ? err->Find("code") : nullptr;
      const Json* d = err ? err->Find("detail") : nullptr;
      code = c && c->is_string() ? c->AsString() : "internal";
      detail = d && d->is_string() ? d->AsString() : "";
    }
    tally->Fail(row.index, code, detail);
    RETURN_IF_ERROR(results.AddError(row.index, code, detail));
  }
  return Status::Ok();
}

// Streams a rows object through the model into `results_path`.
std::string Unquoted(const std::string& etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    return etag.substr(1, etag.size() - 2);
  return etag;
}

Status ScoreRows(ObjectStore& store, const std::string& key, const std::string& version,
                 RowFormat format, const ObjectBatchConfig& config, FunctionCore& core,
                 const std::string& request_id, const std::string& dir, RowsTally* tally) {
  ASSIGN_OR_RETURN(ObjectInfo info, store.Head(key));
  if (info.size > config.max_rows_object_bytes)
    return TooLarge(key, info.size, config.max_rows_object_bytes, "MODELFN_MAX_ROWS_OBJECT_BYTES");
  struct statvfs fs;
  if (statvfs(dir.c_str(), &fs) == 0 &&
      static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize < info.size) {
    return Status(StatusCode::kResourceExhausted,
                  key + " holds " + std::to_string(info.size) + " bytes, more than the " +
                      std::to_string(static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize) +
                      " free in " + config.scratch_dir + " (TMPDIR)",
                  "scratch_full");
  }
  std::string input = dir + "/input";
  ASSIGN_OR_RETURN(ObjectInfo got, store.GetToFile(key, input, nullptr));
  if (got.size > config.max_rows_object_bytes)  // replaced since the Head
    return TooLarge(key, got.size, config.max_rows_object_bytes, "MODELFN_MAX_ROWS_OBJECT_BYTES");
  if (!version.empty() && !got.etag.empty() && Unquoted(got.etag) != Unquoted(version))
    return Status(StatusCode::kFailedPrecondition, key + " was replaced since the event",
                  "superseded");
  ASSIGN_OR_RETURN(auto reader,
                   OpenRowReader(format, input, config.max_row_bytes, config.csv_header));
  ResultsFile results(dir + "/results.jsonl");
  RETURN_IF_ERROR(results.status());
  std::vector<Row> rows;
  while (true) {
    rows.clear();
    ASSIGN_OR_RETURN(bool more, reader->Next(config.chunk_rows, config.chunk_bytes, &rows));
    if (!more) break;
    RETURN_IF_ERROR(InferChunk(core, request_id, rows, results, tally));
  }
  reader.reset();
  unlink(input.c_str());  // the disk holds the input or the output, not both at once
  return results.Close();
}

std::string RowsMembers(const RowsTally& t, const std::string& output) {
  // Written as an object, then given without its braces to follow the record's members.
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("rows").Int(t.rows).Key("rows_failed").Int(t.failed);
  if (!output.empty()) w.Key("output").String(output);
  w.Key("failed_rows").BeginArray();
  for (const auto& [row, code, detail] : t.first_failures)
    w.BeginObject()
        .Key("row")
        .Int(row)
        .Key("code")
        .String(code)
        .Key("detail")
        .String(detail)
        .EndObject();
  w.EndArray().EndObject();
  return "," + out.substr(1, out.size() - 2);
}

ObjectResult InferRowsObject(ObjectStore& store, const ObjectRef& object,
                             const ObjectBatchConfig& config, FunctionCore& core,
                             const std::string& request_id, RowFormat format,
                             const std::string& out_key, const std::string& fail_key) {
  ObjectResult r;
  Scratch scratch(config.scratch_dir);
  RowsTally tally;
  Status error = scratch.dir().empty()
                     ? UnavailableError("cannot create a temporary folder in " + config.scratch_dir)
                     : ScoreRows(store, object.key, object.version, format, config, core,
                                 request_id, scratch.dir(), &tally);
  r.rows = tally.rows;
  r.rows_failed = tally.failed;
  if (error.ok() && tally.rows > 0 && tally.failed == tally.rows)
    error = Status(StatusCode::kInvalidArgument,
                   "every row of " + std::to_string(tally.rows) +
                       " failed; the first: " + std::get<2>(tally.first_failures[0]),
                   "rows_failed");
  if (!error.ok()) {
    if (error.reason() == "superseded") {
      r.kind = ObjectResult::Kind::kSuperseded;
      return r;
    }
    if (Transient(error)) {
      Redeliver(error, &r);
      return r;
    }
    r.kind = ObjectResult::Kind::kFailed;
    RecordFailure(store, object, fail_key, error, RowsMembers(tally, ""), &r);
    return r;
  }
  if (tally.failed > 0) {
    // The failure record first: if it cannot be written, no output is either, so a redelivery
    // scores the object again instead of finding it done.
    RecordFailure(store, object, fail_key,
                  Status(StatusCode::kInvalidArgument,
                         std::to_string(tally.failed) + " of " + std::to_string(tally.rows) +
                             " rows failed; the others are in " + out_key,
                         "rows_failed"),
                  RowsMembers(tally, out_key), &r);
    if (!r.failure_recorded) {
      r.kind = ObjectResult::Kind::kFailed;
      return r;
    }
  }
  std::map<std::string, std::string> model_descr;
  for (const TensorSpec& o : core.engine().schema().outputs) {
    switch (o.dtype) {
      case DType::kBool:
        model_descr[o.name] = "|b1";
        break;
      case DType::kUint8:
        model_descr[o.name] = "|u1";
        break;
      case DType::kInt8:
        model_descr[o.name] = "|i1";
        break;
      case DType::kUint16:
        model_descr[o.name] = "<u2";
        break;
      case DType::kInt16:
        model_descr[o.name] = "<i2";
        break;
      case DType::kUint32:
        model_descr[o.name] = "<u4";
        break;
      case DType::kInt32:
        model_descr[o.name] = "<i4";
        break;
      case DType::kUint64:
        model_descr[o.name] = "<u8";
        break;
      case DType::kInt64:
        model_descr[o.name] = "<i8";
        break;
      case DType::kFp16:  // float32 holds every float16 exactly
      case DType::kFp32:
        model_descr[o.name] = "<f4";
        break;
      case DType::kFp64:
        model_descr[o.name] = "<f8";
        break;
      case DType::kBytes:
        break;
    }
  }
  auto path =
      WriteOutput(format, scratch.dir() + "/results.jsonl", scratch.dir() + "/output", model_descr);
  PutOptions opts;
  opts.condition = PutOptions::Condition::kIfAbsent;
  opts.content_type = ResultContentType(format);
  auto put = path.ok() ? store.PutFile(out_key, *path, opts) : StatusOr<ObjectInfo>(path.status());
  if (put.ok()) {
    r.kind = ObjectResult::Kind::kProcessed;
    r.written = out_key;
    // A record an earlier delivery left (a full disk, every row refused by an older model) is
    // not this outcome's.
    if (tally.failed == 0) (void)store.Delete(fail_key);
    return r;
  }
  if (put.status().reason() == "precondition_failed") {
    r.kind = ObjectResult::Kind::kDuplicate;  // a concurrent delivery wrote it first
    return r;
  }
  r.kind = ObjectResult::Kind::kFailed;
  if (Transient(put.status())) {
    Redeliver(put.status(), &r);
  } else if (tally.failed == 0) {
    RecordFailure(store, object, fail_key, put.status(), "", &r);
  } else {
    r.failure_recorded = false;  // the partial record exists, the output does not: redeliver
    r.failure = "could not write " + out_key + ": " + put.status().message();
  }
  return r;
}

}  // namespace

StatusOr<ObjectRequest> InputObjectToRequest(const std::string& key, std::string data) {
  ObjectRequest r;
  if (const char* type = ImageTypeOf(key)) {
    r.body = std::move(data);
    r.content_type = type;
    return r;
  }
  auto body = JsonObjectToBody(key, data);
  if (!body.ok()) return body.status();
  r.body = std::move(body).value();
  r.content_type = "application/json";
  return r;
}

ObjectResult InferStoredObject(ObjectStore& store, const ObjectRef& object,
                               const ObjectBatchConfig& config, FunctionCore& core,
                               const std::string& request_id) {
  ObjectResult r;
  const std::string& key = object.key;
  if (key.rfind(config.input_prefix, 0) != 0) {
    r.kind = ObjectResult::Kind::kSkipped;  // not ours (e.g. our own outputs when the trigger is
                                            // too wide)
    return r;
  }
  std::string rel = key.substr(config.input_prefix.size());
  std::string tag = object.tag.empty() ? "noetag" : object.tag;
  std::optional<RowFormat> rows = RowFormatOf(key);
  std::string out_key =
      config.output_prefix + rel + "." + tag + (rows ? ResultExtension(*rows) : ".json");
  std::string fail_key = config.failure_prefix + rel + "." + tag + ".error.json";
  if (store.Head(out_key).ok()) {
    r.kind = ObjectResult::Kind::kDuplicate;
    return r;
  }
  if (rows)
    return InferRowsObject(store, object, config, core, request_id, *rows, out_key, fail_key);
  Status error;
  std::string result;
  StatusOr<std::string> data = std::string();
  auto info = store.Head(key);
  if (!info.ok()) {
    data = info.status();
  } else if (info->size > config.max_object_bytes) {
    data = TooLarge(key, info->size, config.max_object_bytes, "MODELFN_MAX_OBJECT_BYTES");
  } else {
    data = store.Get(key);
    if (data.ok() && data->size() > config.max_object_bytes)  // replaced since the Head
      data = TooLarge(key, data->size(), config.max_object_bytes, "MODELFN_MAX_OBJECT_BYTES");
  }
  if (!data.ok()) {
    error = data.status();
  } else {
    auto request = InputObjectToRequest(key, std::move(data).value());
    if (!request.ok()) {
      error = request.status();
    } else {
      Outcome o = InferRequest(core, *request, request_id);
      if (o.status >= 200 && o.status < 300) {
        result = std::move(o.body);
      } else {
        error = OutcomeError(o);
      }
    }
  }
  if (error.ok()) {
    PutOptions opts;
    opts.condition = PutOptions::Condition::kIfAbsent;
    opts.content_type = "application/json";
    auto put = store.Put(out_key, result, opts);
    if (put.ok()) {
      r.kind = ObjectResult::Kind::kProcessed;
      r.written = out_key;
      return r;
    }
    if (put.status().reason() == "precondition_failed") {
      r.kind = ObjectResult::Kind::kDuplicate;  // a concurrent delivery wrote it first
      return r;
    }
    error = put.status();
  }
  if (Transient(error)) {
    Redeliver(error, &r);
    return r;
  }
  r.kind = ObjectResult::Kind::kFailed;
  RecordFailure(store, object, fail_key, error, "", &r);
  return r;
}

void ObjectBatchConfig::ReadLimitsFromEnv(
    const std::function<std::optional<std::string>(const std::string&)>& env) {
  auto read = [&](const char* name, uint64_t lo, uint64_t hi, auto* into) {
    auto v = env(name);
    if (!v) return;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec == std::errc() && end == v->data() + v->size() && n >= lo && n <= hi)
      *into = static_cast<std::remove_reference_t<decltype(*into)>>(n);
  };
  read("MODELFN_MAX_OBJECT_BYTES", 1, 4ULL << 30, &max_object_bytes);
  read("MODELFN_MAX_ROWS_OBJECT_BYTES", 1, 64ULL << 30, &max_rows_object_bytes);
  read("MODELFN_OBJECT_CHUNK_ROWS", 1, 4096, &chunk_rows);
  if (auto h = env("MODELFN_CSV_HEADER")) {
    if (*h == "present") csv_header = CsvHeader::kPresent;
    if (*h == "absent") csv_header = CsvHeader::kAbsent;
    if (*h == "auto") csv_header = CsvHeader::kAuto;
  }
  if (auto tmp = env("TMPDIR"); tmp && !tmp->empty()) scratch_dir = *tmp;
}

void ObjectBatchSummary::Add(const std::string& key, const ObjectResult& result) {
  rows_ += result.rows;
  rows_failed_ += result.rows_failed;
  switch (result.kind) {
    case ObjectResult::Kind::kProcessed:
      ++processed_;
      written_.push_back(result.written);
      break;
    case ObjectResult::Kind::kDuplicate:
      ++duplicates_;
      break;
    case ObjectResult::Kind::kSkipped:
      ++skipped_;
      break;
    case ObjectResult::Kind::kSuperseded:
      ++superseded_;
      break;
    case ObjectResult::Kind::kFailed:
      failures_.emplace_back(key, result.failure);
      if (!result.failure_recorded) lost_failures_ = true;
      break;
  }
}

std::string ObjectBatchSummary::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("processed")
      .Int(processed_)
      .Key("duplicates")
      .Int(duplicates_)
      .Key("skipped")
      .Int(skipped_)
      .Key("superseded")
      .Int(superseded_)
      .Key("rows")
      .Int(rows_)
      .Key("rows_failed")
      .Int(rows_failed_);
  w.Key("written").BeginArray();
  for (const auto& k : written_) w.String(k);
  w.EndArray().Key("failed").BeginArray();
  for (const auto& [k, f] : failures_)
    w.BeginObject().Key("input").String(k).Key("failure").String(f).EndObject();
  w.EndArray().EndObject();
  return out;
}

}  // namespace modelfn

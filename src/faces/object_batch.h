// Batch inference on one stored object: what every face's object-created trigger does (the S3
// trigger of the Lambda face, the Cloud Storage event of the Google Cloud face), so each has the
// same semantics and writes the same files.
//
// An object under the input prefix is read, inferred and its answer written in the same bucket
// under OUTPUT_PREFIX/<key below the input prefix>.<tag><ext>, "if absent": a redelivered event
// never writes twice. The tag names the object's version (S3: its ETag; Cloud Storage: its
// generation). Inputs:
// - rows objects, streamed in bounded memory (faces/row_objects.h): .jsonl (a row per line),
//   .csv, .npy; the output is of the same family (.jsonl, .csv, .npz) with a result or an error
//   per row, and the rows that failed are listed in FAILURE_PREFIX/<...>.<tag>.error.json;
// - .json (a seed body {"inputs": ...} or a JSON array of rows): one request, answered as .json;
// - .jpg/.jpeg/.png/.webp (one image, for a model whose manifest pipeline has an image input: the
//   object's bytes go to the model as a raw image body; their format is judged by the bytes).
// An object that fails as a whole (unreadable, not an input, refused by the model) gets
// FAILURE_PREFIX/<...>.<tag>.error.json = {"input", "etag", "error": <problem>}: never silently
// dropped.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "faces/row_objects.h"
#include "function/function_core.h"
#include "store/object_store.h"

namespace modelfn {

// Opens the object store of a bucket (the face's cloud store in production; tests may give
// another).
using BucketOpener =
    std::function<StatusOr<std::unique_ptr<ObjectStore>>(const std::string& bucket)>;

struct ObjectBatchConfig {
  std::string input_prefix = "incoming/";
  std::string output_prefix = "results/";
  std::string failure_prefix = "failed/";
  // An input object larger than this (its size as the store reports it, before it is read) gets
  // a failure record with 413 "object_too_large" instead of being read into memory.
  // MODELFN_MAX_OBJECT_BYTES, every face. Applies to .json objects and images.
  uint64_t max_object_bytes = 16 << 20;
  // Rows objects (.jsonl, .csv, .npy) are not read into memory: they are copied to
  // `scratch_dir` (TMPDIR, else /tmp) and scored `chunk_rows` rows at a time (at most
  // `chunk_bytes` of requests), each row answered or refused on its own, so memory stays bounded
  // and the disk needs the object's size. MODELFN_MAX_ROWS_OBJECT_BYTES (up to 64 GiB),
  // MODELFN_OBJECT_CHUNK_ROWS (1-4096).
  uint64_t max_rows_object_bytes = 4ULL << 30;
  size_t chunk_rows = 256;
  size_t chunk_bytes = 1 << 20;
  size_t max_row_bytes = 1 << 20;  // a longer row is refused alone
  std::string scratch_dir = "/tmp";
  // Whether a CSV's first record is a header (MODELFN_CSV_HEADER: auto, present, absent).
  CsvHeader csv_header = CsvHeader::kAuto;
  // Reads the settings above from the environment (values out of range keep the defaults).
  void ReadLimitsFromEnv(const std::function<std::optional<std::string>(const std::string&)>& env);
};

// One object named by an event.
struct ObjectRef {
  std::string key;   // decoded object name
  std::string etag;  // as the event gives it; may be empty
  std::string tag;   // names the outputs; "noetag" is used when empty
  // The version the event is about, as the store's ObjectInfo::etag names it (S3 and Azure: the
  // ETag; Cloud Storage: the generation), quotes aside. When set, a rows object read at another
  // version is not scored under this event's name: it was replaced since, and its new version
  // has an event of its own (ObjectResult::Kind::kSuperseded).
  std::string version;
};

struct ObjectResult {
  enum class Kind { kProcessed, kDuplicate, kSkipped, kFailed, kSuperseded };
  Kind kind = Kind::kSkipped;
  std::string written;  // kProcessed: the output key
  // kFailed: the failure record's key when it was written, or why it could not be (then
  // failure_recorded is false and the event should be redelivered).
  std::string failure;
  bool failure_recorded = false;
  // Rows objects: rows read, and rows refused (listed in the failure record; an output holding
  // the other rows is written when at least one row was answered).
  int64_t rows = 0, rows_failed = 0;
};

// Handles one object of `store` (the event's bucket). `request_id` names the inference in the
// request log. Never throws; every outcome is in the result.
ObjectResult InferStoredObject(ObjectStore& store, const ObjectRef& object,
                               const ObjectBatchConfig& config, FunctionCore& core,
                               const std::string& request_id);

// Tallies results into the JSON answer every face gives for an object batch:
// {"processed", "duplicates", "skipped", "superseded", "rows", "rows_failed", "written": [key],
//  "failed": [{"input", "failure"}]} (rows: of the rows objects read).
class ObjectBatchSummary {
 public:
  void Add(const std::string& key, const ObjectResult& result);
  // A failure that is not about one object (an event record without bucket or key).
  void AddUnusable(const std::string& why) { failures_.emplace_back("", why); }
  // True when some failure could not be recorded in the bucket: the caller should ask for a
  // redelivery so nothing is lost.
  bool lost_failures() const { return lost_failures_; }
  std::string ToJson() const;

 private:
  int processed_ = 0, duplicates_ = 0, skipped_ = 0, superseded_ = 0;
  int64_t rows_ = 0, rows_failed_ = 0;
  bool lost_failures_ = false;
  std::vector<std::string> written_;
  std::vector<std::pair<std::string, std::string>> failures_;  // key, failure
};

// An input object as the request it makes.
struct ObjectRequest {
  std::string body;
  std::string content_type;  // application/json, or image/jpeg|png|webp for an image object
};

// An input object as a request: rows as a seed body ({"inputs": [...]}), an image as itself.
// InvalidArgument ("invalid_request" / "invalid_json") when the object is not a readable input.
StatusOr<ObjectRequest> InputObjectToRequest(const std::string& key, std::string data);

}  // namespace modelfn

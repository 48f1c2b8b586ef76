#include "faces/object_batch.h"

#include <charconv>
#include <cstring>
#include <functional>

#include "common/json.h"
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

// .npy (format 1.0/2.0): magic, version, header length, a Python dict header, then the data.
StatusOr<std::string> NpyToBody(const std::string& data) {
  if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0) return BadInput("not a .npy file");
  size_t header_len, offset;
  if (data[6] == 1) {
    header_len = static_cast<uint8_t>(data[8]) | (static_cast<uint8_t>(data[9]) << 8);
    offset = 10;
  } else {
    if (data.size() < 12) return BadInput("truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<size_t>(static_cast<uint8_t>(data[8 + i])) << (8 * i);
    offset = 12;
  }
  if (data.size() < offset + header_len) return BadInput("truncated .npy header");
  std::string header = data.substr(offset, header_len);
  const char* descr = nullptr;
  size_t width = 0;
  for (auto [d, w] : {std::pair{"'<f4'", 4}, std::pair{"'<f8'", 8}, std::pair{"'<i4'", 4},
                      std::pair{"'<i8'", 8}}) {
    if (header.find(d) != std::string::npos) {
      descr = d;
      width = static_cast<size_t>(w);
    }
  }
  if (descr == nullptr)
    return BadInput(".npy dtype must be little-endian float32/float64/int32/int64");
  if (header.find("'fortran_order': False") == std::string::npos)
    return BadInput(".npy must be in C order");
  size_t lp = header.find("'shape': (");
  if (lp == std::string::npos) return BadInput(".npy header has no shape");
  // Every dimension, every partial product and the data size are checked for overflow, and no
  // partial product may exceed the element count: a zero beside huge dimensions would otherwise
  // write billions of empty arrays for a few bytes of input.
  constexpr size_t kMaxDims = 32;
  std::vector<int64_t> shape;
  for (size_t p = lp + 10; p < header.size() && header[p] != ')';) {
    if (isdigit(static_cast<unsigned char>(header[p]))) {
      int64_t d = 0;
      while (p < header.size() && isdigit(static_cast<unsigned char>(header[p]))) {
        if (__builtin_mul_overflow(d, 10, &d) || __builtin_add_overflow(d, header[p] - '0', &d))
          return BadInput(".npy shape has a dimension too large");
        ++p;
      }
      shape.push_back(d);
      if (shape.size() > kMaxDims) return BadInput(".npy shape has too many dimensions");
    } else {
      ++p;
    }
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) return BadInput(".npy shape is too large");
  }
  int64_t partial = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) {
    partial *= shape[i];  // cannot overflow: bounded by the check below before the next step
    if (partial > std::max<int64_t>(n, 1)) return BadInput(".npy shape holds no data");
  }
  size_t begin = offset + header_len;
  size_t want;
  if (__builtin_mul_overflow(static_cast<size_t>(n), width, &want) || data.size() - begin != want)
    return BadInput(".npy data does not match its shape");
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("inputs");
  // Nested arrays by shape.
  std::vector<int64_t> idx(shape.size(), 0);
  size_t next = 0;
  std::function<void(size_t)> emit = [&](size_t dim) {
    if (dim == shape.size()) {
      const char* p = data.data() + begin + next * width;
      ++next;
      if (strcmp(descr, "'<f4'") == 0) {
        float v;
        memcpy(&v, p, 4);
        w.Float(v);
      } else if (strcmp(descr, "'<f8'") == 0) {
        double v;
        memcpy(&v, p, 8);
        w.Double(v);
      } else if (strcmp(descr, "'<i4'") == 0) {
        int32_t v;
        memcpy(&v, p, 4);
        w.Int(v);
      } else {
        int64_t v;
        memcpy(&v, p, 8);
        w.Int(v);
      }
      return;
    }
    w.BeginArray();
    for (int64_t i = 0; i < shape[dim]; ++i) emit(dim + 1);
    w.EndArray();
  };
  emit(0);
  w.EndObject();
  return out;
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

StatusOr<std::string> RowsToBody(const std::string& key, const std::string& data) {
  if (EndsWith(key, ".npy")) return NpyToBody(data);
  if (EndsWith(key, ".jsonl")) {
    std::string out = "{\"inputs\":[";
    size_t pos = 0;
    bool first = true;
    while (pos < data.size()) {
      size_t eol = data.find('\n', pos);
      std::string line = data.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
      pos = eol == std::string::npos ? data.size() : eol + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (!Json::Parse(line).ok()) return BadInput("a line of " + key + " is not JSON");
      out += (first ? "" : ",") + line;
      first = false;
    }
    return out + "]}";
  }
  if (EndsWith(key, ".json")) {
    auto doc = Json::Parse(data);
    if (!doc.ok())
      return Status(StatusCode::kInvalidArgument, doc.status().message(), "invalid_json");
    if (doc->is_array()) return "{\"inputs\":" + data + "}";
    return data;
  }
  return BadInput(
      "unsupported input object type (use .json, .jsonl, .npy, .jpg, .jpeg, .png or .webp): " +
      key);
}

}  // namespace

StatusOr<ObjectRequest> InputObjectToRequest(const std::string& key, std::string data) {
  ObjectRequest r;
  if (const char* type = ImageTypeOf(key)) {
    r.body = std::move(data);
    r.content_type = type;
    return r;
  }
  auto body = RowsToBody(key, data);
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
  std::string out_key = config.output_prefix + rel + "." + tag + ".json";
  if (store.Head(out_key).ok()) {
    r.kind = ObjectResult::Kind::kDuplicate;
    return r;
  }
  Status error;
  std::string result;
  StatusOr<std::string> data = std::string();
  auto info = store.Head(key);
  if (!info.ok()) {
    data = info.status();
  } else if (info->size > config.max_object_bytes) {
    data = Status(StatusCode::kInvalidArgument,
                  key + " holds " + std::to_string(info->size) + " bytes, over the limit of " +
                      std::to_string(config.max_object_bytes) + " (MODELFN_MAX_OBJECT_BYTES)",
                  "object_too_large");
  } else {
    data = store.Get(key);
    if (data.ok() && data->size() > config.max_object_bytes) {  // replaced since the Head
      data = Status(StatusCode::kInvalidArgument,
                    key + " holds " + std::to_string(data->size()) + " bytes, over the limit of " +
                        std::to_string(config.max_object_bytes) + " (MODELFN_MAX_OBJECT_BYTES)",
                    "object_too_large");
    }
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
  PutOptions opts;
  opts.condition = PutOptions::Condition::kIfAbsent;
  opts.content_type = "application/json";
  if (error.ok()) {
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
  Problem p = ProblemFromStatus(error);
  std::string doc;
  JsonWriter dw(&doc);
  dw.BeginObject()
      .Key("input")
      .String(key)
      .Key("etag")
      .String(object.etag)
      .Key("error")
      .Raw(p.ToJson())
      .EndObject();
  std::string fail_key = config.failure_prefix + rel + "." + tag + ".error.json";
  auto put = store.Put(fail_key, doc, opts);
  r.kind = ObjectResult::Kind::kFailed;
  r.failure_recorded = put.ok() || put.status().reason() == "precondition_failed";
  r.failure = r.failure_recorded ? fail_key
                                 : "could not write the failure record: " + put.status().message();
  return r;
}

void ObjectBatchConfig::ReadLimitsFromEnv(
    const std::function<std::optional<std::string>(const std::string&)>& env) {
  auto v = env("MODELFN_MAX_OBJECT_BYTES");
  if (!v) return;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec == std::errc() && end == v->data() + v->size() && n >= 1 && n <= (4ULL << 30)) {
    max_object_bytes = n;
  }
}

void ObjectBatchSummary::Add(const std::string& key, const ObjectResult& result) {
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
      .Int(skipped_);
  w.Key("written").BeginArray();
  for (const auto& k : written_) w.String(k);
  w.EndArray().Key("failed").BeginArray();
  for (const auto& [k, f] : failures_)
    w.BeginObject().Key("input").String(k).Key("failure").String(f).EndObject();
  w.EndArray().EndObject();
  return out;
}

}  // namespace modelfn

#include "faces/aws/object_events.h"

#include <algorithm>
#include <cstring>

#include "http/problem.h"
#include "store/store_uri.h"

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

}  // namespace

ObjectEventConfig ObjectEventConfig::FromEnv(const EnvFn& env) {
  ObjectEventConfig c;
  if (auto v = env("MODELFN_S3_INPUT_PREFIX")) c.input_prefix = *v;
  if (auto v = env("MODELFN_S3_OUTPUT_PREFIX")) c.output_prefix = *v;
  if (auto v = env("MODELFN_S3_FAILURE_PREFIX")) c.failure_prefix = *v;
  if (auto v = env("MODELFN_SQS_OUTPUT")) c.sqs_output = *v;
  return c;
}

std::string DecodeS3Key(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '+') {
      out.push_back(' ');
    } else if (key[i] == '%' && i + 2 < key.size() &&
               isxdigit(static_cast<unsigned char>(key[i + 1])) &&
               isxdigit(static_cast<unsigned char>(key[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(key.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(key[i]);
    }
  }
  return out;
}

bool IsRecordsEvent(const Json& event, std::string* source) {
  const Json* records = event.is_object() ? event.Find("Records") : nullptr;
  if (!records || !records->is_array() || records->AsArray().empty()) return false;
  const Json& first = records->AsArray()[0];
  const Json* src = first.Find("eventSource");
  if (!src || !src->is_string()) return false;
  *source = src->AsString();
  return *source == "aws:s3" || *source == "aws:sqs";
}

StatusOr<std::string> InputObjectToBody(const std::string& key, const std::string& data) {
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
  return BadInput("unsupported input object type (use .json, .jsonl or .npy): " + key);
}

std::string HandleRecordsEvent(const Json& event, const std::string& source, FunctionCore& core,
                               const ObjectEventConfig& config, const BucketOpener& open_bucket) {
  std::string out;
  JsonWriter w(&out);
  auto infer = [&](const std::string& body, const std::string& request_id) {
    Invocation inv;
    inv.method = "POST";
    inv.path = "/v1/infer";
    inv.body = body;
    inv.request_id = &request_id;
    return core.Handle(inv);
  };
  if (source == "aws:sqs") {
    std::unique_ptr<ObjectStore> results;
    std::string prefix;
    if (!config.sqs_output.empty()) {
      auto uri = ParseStoreUri(config.sqs_output);
      if (uri.ok()) {
        auto store = open_bucket(uri->bucket);
        if (store.ok()) results = std::move(store).value();
        prefix = uri->prefix.empty() ? "" : uri->prefix + "/";
      }
    }
    w.BeginObject().Key("batchItemFailures").BeginArray();
    for (const Json& rec : event.Find("Records")->AsArray()) {
      const Json* id = rec.Find("messageId");
      const Json* body = rec.Find("body");
      std::string message_id = id && id->is_string() ? id->AsString() : "";
      Outcome o;
      if (!body || !body->is_string()) {
        o.status = 400;
      } else {
        o = infer(body->AsString(), message_id);
      }
      bool ok = o.status >= 200 && o.status < 300;
      if (ok && results) {
        PutOptions opts;
        opts.condition = PutOptions::Condition::kIfAbsent;
        opts.content_type = "application/json";
        auto put = results->Put(prefix + message_id + ".json", o.body, opts);
        ok = put.ok() ||
             put.status().reason() == "precondition_failed";  // a redelivery: already written
      }
      if (!ok) w.BeginObject().Key("itemIdentifier").String(message_id).EndObject();
    }
    w.EndArray().EndObject();
    return out;
  }
  // S3 object-created notifications.
  int processed = 0, duplicates = 0, skipped = 0;
  std::vector<std::pair<std::string, std::string>> failures;  // key, failure object
  std::vector<std::string> written;
  for (const Json& rec : event.Find("Records")->AsArray()) {
    const Json* s3 = rec.Find("s3");
    const Json* bucket = s3 ? s3->Find("bucket") : nullptr;
    const Json* object = s3 ? s3->Find("object") : nullptr;
    const Json* bname = bucket ? bucket->Find("name") : nullptr;
    const Json* okey = object ? object->Find("key") : nullptr;
    if (!bname || !bname->is_string() || !okey || !okey->is_string()) {
      failures.emplace_back("", "a record without s3.bucket.name and s3.object.key");
      continue;
    }
    std::string key = DecodeS3Key(okey->AsString());
    if (key.rfind(config.input_prefix, 0) != 0) {
      ++skipped;  // not ours (e.g. our own outputs when the trigger is too wide)
      continue;
    }
    std::string etag;
    if (const Json* e = object->Find("eTag"); e && e->is_string()) etag = e->AsString();
    std::string rel = key.substr(config.input_prefix.size());
    std::string tag = etag.empty() ? "noetag" : etag;
    auto store = open_bucket(bname->AsString());
    if (!store.ok()) {
      failures.emplace_back(key, store.status().message());
      continue;
    }
    std::string out_key = config.output_prefix + rel + "." + tag + ".json";
    if ((*store)->Head(out_key).ok()) {
      ++duplicates;
      continue;
    }
    Status error;
    std::string result;
    auto data = (*store)->Get(key);
    if (!data.ok()) {
      error = data.status();
    } else {
      auto body = InputObjectToBody(key, *data);
      if (!body.ok()) {
        error = body.status();
      } else {
        Outcome o = infer(*body, "s3:" + key);
        if (o.status >= 200 && o.status < 300) {
          result = std::move(o.body);
        } else {
          auto doc = Json::Parse(o.body);
          const Json* code = doc.ok() ? doc->Find("code") : nullptr;
          const Json* detail = doc.ok() ? doc->Find("detail") : nullptr;
          error = Status(StatusCode::kInvalidArgument,
                         detail && detail->is_string() ? detail->AsString() : o.body,
                         code && code->is_string() ? code->AsString() : "internal");
        }
      }
    }
    PutOptions opts;
    opts.condition = PutOptions::Condition::kIfAbsent;
    opts.content_type = "application/json";
    if (error.ok()) {
      auto put = (*store)->Put(out_key, result, opts);
      if (put.ok()) {
        ++processed;
        written.push_back(out_key);
      } else if (put.status().reason() == "precondition_failed") {
        ++duplicates;  // a concurrent delivery wrote it first
      } else {
        failures.emplace_back(key, put.status().message());
      }
    } else {
      Problem p = ProblemFromStatus(error);
      std::string doc;
      JsonWriter dw(&doc);
      dw.BeginObject()
          .Key("input")
          .String(key)
          .Key("etag")
          .String(etag)
          .Key("error")
          .Raw(p.ToJson())
          .EndObject();
      std::string fail_key = config.failure_prefix + rel + "." + tag + ".error.json";
      auto put = (*store)->Put(fail_key, doc, opts);
      failures.emplace_back(key,
                            put.ok() || put.status().reason() == "precondition_failed"
                                ? fail_key
                                : "could not write the failure record: " + put.status().message());
    }
  }
  w.BeginObject()
      .Key("processed")
      .Int(processed)
      .Key("duplicates")
      .Int(duplicates)
      .Key("skipped")
      .Int(skipped);
  w.Key("written").BeginArray();
  for (const auto& k : written) w.String(k);
  w.EndArray().Key("failed").BeginArray();
  for (const auto& [k, f] : failures)
    w.BeginObject().Key("input").String(k).Key("failure").String(f).EndObject();
  w.EndArray().EndObject();
  return out;
}

}  // namespace modelfn

#include "optimize/samples.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <random>

#include "common/files.h"
#include "common/json.h"

namespace modelfn {
namespace {

Status BadSamples(const std::string& where, const std::string& why) {
  return Status(StatusCode::kInvalidArgument, "samples " + where + ": " + why, "invalid_samples");
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool JsonLines(const std::string& path) {
  return EndsWith(path, ".jsonl") || EndsWith(path, ".ndjson");
}

Status ReadFileSamples(const std::string& path, size_t max_samples, std::vector<std::string>* out) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  if (JsonLines(path)) {
    size_t line_no = 0, start = 0;
    while (start <= text.size() && out->size() < max_samples) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      ++line_no;
      start = end + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) {
        if (end == text.size()) break;
        continue;
      }
      auto body = Json::Parse(line);
      if (!body.ok())
        return BadSamples(path + ":" + std::to_string(line_no), body.status().message());
      if (!body->is_object()) {
        return BadSamples(path + ":" + std::to_string(line_no),
                          "a sample is a JSON object (a /v1/infer body)");
      }
      out->push_back(body->Dump());
      if (end == text.size()) break;
    }
    return Status::Ok();
  }
  auto doc = Json::Parse(text);
  if (!doc.ok()) return BadSamples(path, doc.status().message());
  if (doc->is_object()) {
    out->push_back(doc->Dump());
    return Status::Ok();
  }
  if (!doc->is_array()) return BadSamples(path, "expected a /v1/infer body or an array of them");
  for (const Json& b : doc->AsArray()) {
    if (!b.is_object()) return BadSamples(path, "every sample is a JSON object (a /v1/infer body)");
    if (out->size() >= max_samples) break;
    out->push_back(b.Dump());
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Samples> LoadSamples(const std::string& path, size_t max_samples) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFoundError("no such samples file or folder: " + path);
  Samples s;
  s.source = path;
  if (!S_ISDIR(st.st_mode)) {
    RETURN_IF_ERROR(ReadFileSamples(path, max_samples, &s.bodies));
  } else {
    std::vector<std::string> names;
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (EndsWith(n, ".json") || JsonLines(n)) names.push_back(n);
      }
      closedir(d);
    }
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      if (s.bodies.size() >= max_samples) break;
      RETURN_IF_ERROR(ReadFileSamples(path + "/" + n, max_samples, &s.bodies));
    }
  }
  if (s.bodies.empty()) return NotFoundError("no samples in " + path + " (.json, .jsonl files)");
  return s;
}

StatusOr<Samples> SyntheticSamples(const ModelSchema& schema, bool fed_by_pipeline, size_t count,
                                   uint64_t seed) {
  auto needed = [](const std::string& why) {
    return Status(
        StatusCode::kUnimplemented,
        why + ": give sample requests with --samples (a .json or .jsonl of /v1/infer bodies)",
        "samples_needed");
  };
  if (fed_by_pipeline)
    return needed("the manifest's pipeline feeds the model from texts or images");
  for (const TensorSpec& in : schema.inputs) {
    if (in.dtype == DType::kBytes) return needed("input '" + in.name + "' is BYTES");
  }
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> digit(0, 9);
  Samples s;
  s.source = "synthetic";
  s.synthetic = true;
  for (size_t i = 0; i < count; ++i) {
    std::string body;
    JsonWriter w(&body);
    w.BeginObject().Key("inputs").BeginObject();
    for (const TensorSpec& in : schema.inputs) {
      w.Key(in.name);
      // Nested arrays of the input's shape, dynamic dimensions 1.
      std::vector<int64_t> shape = in.shape;
      for (int64_t& d : shape) d = d < 0 ? 1 : d;
      int64_t total = 1;
      for (int64_t d : shape) total *= d;
      std::vector<int64_t> index(shape.size(), 0);
      auto element = [&] {
        switch (in.dtype) {
          case DType::kFp16:
          case DType::kFp32:
          case DType::kFp64:
            w.Float(static_cast<float>(normal(rng)));
            break;
          case DType::kBool:
            w.Bool(digit(rng) % 2 == 0);
            break;
          default:
            w.Int(digit(rng));
            break;
        }
      };
      if (shape.empty()) {
        element();
        continue;
      }
      for (size_t k = 0; k < shape.size(); ++k) w.BeginArray();
      for (int64_t e = 0; e < total; ++e) {
        element();
        // Advance the index; close and reopen the arrays whose dimension wrapped.
        size_t k = shape.size();
        int closed = 0;
        while (k > 0) {
          --k;
          if (++index[k] < shape[k]) break;
          index[k] = 0;
          ++closed;
        }
        if (e + 1 == total) break;
        for (int c = 0; c < closed; ++c) w.EndArray();
        for (int c = 0; c < closed; ++c) w.BeginArray();
      }
      for (size_t k = 0; k < shape.size(); ++k) w.EndArray();
    }
    w.EndObject().EndObject();
    s.bodies.push_back(std::move(body));
  }
  return s;
}

}  // namespace modelfn

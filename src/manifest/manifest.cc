#include "manifest/manifest.h"

#include <unordered_set>

#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"

namespace modelfn {
namespace {

Status Bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, "manifest.json: " + why, "invalid_manifest");
}

bool AllOf(std::string_view s, std::string_view extra) {
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// "max_shape" and "range" of one input entry, if any.
Status ParseLimits(const Json& e, const TensorSpec& spec, std::vector<InputLimits>* out) {
  const Json* max_shape = e.Find("max_shape");
  const Json* range = e.Find("range");
  if (max_shape == nullptr && range == nullptr) return Status::Ok();
  InputLimits l;
  l.input = spec.name;
  std::string where = "input '" + spec.name + "': ";
  if (max_shape != nullptr) {
    if (!max_shape->is_array() || max_shape->AsArray().size() != spec.shape.size()) {
      return Bad(where + "'max_shape' must be an array as long as 'shape'");
    }
    for (const Json& d : max_shape->AsArray()) {
      if (d.is_null()) {
        l.max_shape.push_back(-1);
      } else if (d.is_integral() && d.fits_int64() && d.AsInt64() >= 0) {
        l.max_shape.push_back(d.AsInt64());
      } else {
        return Bad(where + "a 'max_shape' entry must be a non-negative integer or null");
      }
    }
  }
  if (range != nullptr) {
    if (spec.dtype == DType::kBytes || spec.dtype == DType::kBool) {
      return Bad(where + "'range' applies to numeric inputs only");
    }
    if (!range->is_array() || range->AsArray().size() != 2 || !range->AsArray()[0].is_number() ||
        !range->AsArray()[1].is_number() ||
        range->AsArray()[0].AsDouble() > range->AsArray()[1].AsDouble()) {
      return Bad(where + "'range' must be [min, max] with min <= max");
    }
    l.has_range = true;
    l.min = range->AsArray()[0].AsDouble();
    l.max = range->AsArray()[1].AsDouble();
  }
  out->push_back(std::move(l));
  return Status::Ok();
}

Status ParseSpecs(const Json* arr, const char* field, std::vector<TensorSpec>* out,
                  std::vector<InputLimits>* limits = nullptr) {
  if (arr == nullptr || !arr->is_array())
    return Bad(std::string("'") + field + "' must be an array");
  std::unordered_set<std::string> seen;
  for (const Json& e : arr->AsArray()) {
    const Json* name = e.Find("name");
    const Json* dt = e.Find("datatype");
    const Json* shape = e.Find("shape");
    if (!name || !name->is_string() || name->AsString().empty()) {
      return Bad(std::string(field) + ": every entry needs a 'name'");
    }
    TensorSpec spec;
    spec.name = name->AsString();
    if (!seen.insert(spec.name).second) {
      return Bad(std::string(field) + " '" + spec.name + "': the name is listed twice");
    }
    if (!dt || !dt->is_string() || !DTypeFromName(dt->AsString())) {
      return Bad(std::string(field) + " '" + spec.name + "': unknown 'datatype'");
    }
    spec.dtype = *DTypeFromName(dt->AsString());
    if (!shape || !shape->is_array())
      return Bad(std::string(field) + " '" + spec.name + "': 'shape' must be an array");
    for (const Json& d : shape->AsArray()) {
      if (d.is_string()) {
        spec.shape.push_back(-1);
        spec.dim_params.push_back(d.AsString());
      } else if (d.is_integral() && d.fits_int64() && d.AsInt64() >= -1) {
        spec.shape.push_back(d.AsInt64());
        spec.dim_params.emplace_back();
      } else {
        return Bad(std::string(field) + " '" + spec.name +
                   "': a dimension must be an integer >= -1 or a name");
      }
    }
    if (limits != nullptr) RETURN_IF_ERROR(ParseLimits(e, spec, limits));
    out->push_back(std::move(spec));
  }
  return Status::Ok();
}

void WriteSpecs(JsonWriter& w, const std::vector<TensorSpec>& specs,
                const std::vector<InputLimits>& limits = {}) {
  w.BeginArray();
  for (const TensorSpec& s : specs) {
    w.BeginObject().Key("name").String(s.name).Key("datatype").String(DTypeName(s.dtype));
    w.Key("shape").BeginArray();
    for (size_t i = 0; i < s.shape.size(); ++i) {
      if (i < s.dim_params.size() && !s.dim_params[i].empty()) {
        w.String(s.dim_params[i]);
      } else {
        w.Int(s.shape[i]);
      }
    }
    w.EndArray();
    for (const InputLimits& l : limits) {
      if (l.input != s.name) continue;
      if (!l.max_shape.empty()) {
        w.Key("max_shape").BeginArray();
        for (int64_t d : l.max_shape) {
          if (d < 0) {
            w.Null();
          } else {
            w.Int(d);
          }
        }
        w.EndArray();
      }
      if (l.has_range) w.Key("range").BeginArray().Double(l.min).Double(l.max).EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

Status ValidateModelName(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] == '.' || name[0] == '-' || name[0] == '_' ||
      !AllOf(name, "._-")) {
    return Status(
        StatusCode::kInvalidArgument,
        "invalid model name '" + std::string(name) +
            "': use 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
        "invalid_request");
  }
  return Status::Ok();
}

Status ValidateVersion(std::string_view version) {
  bool ok = !version.empty() && version.size() <= 63 && version != "." && version != "..";
  for (char c : version) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '+' || c == '-');
  }
  if (!ok) {
    return Status(StatusCode::kInvalidArgument,
                  "invalid version '" + std::string(version) +
                      "': use 1-63 characters of A-Z, a-z, 0-9, '.', '_', '+', '-'",
                  "invalid_request");
  }
  return Status::Ok();
}

StatusOr<Manifest> ParseManifest(std::string_view json) {
  auto doc = Json::Parse(json);
  if (!doc.ok()) return Bad(doc.status().message());
  if (!doc->is_object()) return Bad("not a JSON object");
  Manifest m;
  const Json* sv = doc->Find("schema_version");
  if (sv && (!sv->is_integral() || sv->AsInt64() != 1)) return Bad("unsupported schema_version");
  const Json* name = doc->Find("name");
  const Json* version = doc->Find("version");
  if (!name || !name->is_string()) return Bad("'name' must be a string");
  if (!version || !version->is_string()) return Bad("'version' must be a string");
  m.name = name->AsString();
  m.version = version->AsString();
  if (Status s = ValidateModelName(m.name); !s.ok()) return Bad(s.message());
  if (Status s = ValidateVersion(m.version); !s.ok()) return Bad(s.message());
  if (const Json* fw = doc->Find("framework")) {
    if (!fw->is_string()) return Bad("'framework' must be a string");
    m.framework = fw->AsString();
  }
  if (m.framework != "onnx") return Bad("framework '" + m.framework + "' is not supported (onnx)");
  const Json* files = doc->Find("files");
  if (!files || !files->is_array() || files->AsArray().empty()) {
    return Bad("'files' must be a non-empty array");
  }
  for (const Json& f : files->AsArray()) {
    const Json* path = f.Find("path");
    const Json* sha = f.Find("sha256");
    const Json* size = f.Find("size");
    if (!path || !path->is_string()) return Bad("every file needs a 'path'");
    ManifestFile mf;
    mf.path = path->AsString();
    if (mf.path.empty() || mf.path[0] == '/' || mf.path.find("..") != std::string::npos) {
      return Bad("file path '" + mf.path + "' must be relative and stay inside the version");
    }
    if (!sha || !sha->is_string() || sha->AsString().size() != 64 || !AllOf(sha->AsString(), "")) {
      return Bad("file '" + mf.path + "': 'sha256' must be 64 lowercase hex digits");
    }
    mf.sha256 = sha->AsString();
    if (!size || !size->is_integral() || size->is_negative_integral()) {
      return Bad("file '" + mf.path + "': 'size' must be a non-negative integer");
    }
    mf.size = size->AsUint64();
    m.files.push_back(std::move(mf));
  }
  RETURN_IF_ERROR(ParseSpecs(doc->Find("inputs"), "inputs", &m.schema.inputs, &m.input_limits));
  RETURN_IF_ERROR(ParseSpecs(doc->Find("outputs"), "outputs", &m.schema.outputs));
  if (const Json* c = doc->Find("created_at"); c && c->is_string()) m.created_at = c->AsString();
  if (const Json* b = doc->Find("batching")) {
    const Json* merge = b->is_object() ? b->Find("merge") : nullptr;
    if (!b->is_object() || (merge != nullptr && !merge->is_bool())) {
      return Bad("'batching' must be an object like {\"merge\": false}");
    }
    if (merge != nullptr) m.merge_batches = merge->AsBool();
  }
  if (const Json* o = doc->Find("optimization")) {
    if (!o->is_object()) return Bad("'optimization' must be an object");
    m.optimization = o->Dump();
  }
  if (const Json* p = doc->Find("pipeline")) {
    ASSIGN_OR_RETURN(PipelineSpec spec, ParsePipeline(*p));
    for (const std::string& f : spec.Files()) {
      bool listed = false;
      for (size_t i = 1; i < m.files.size() && !listed; ++i) {
        listed = NormalizePath(m.files[i].path) == NormalizePath(f);
      }
      if (!listed) {
        return Bad("pipeline: the file '" + f +
                   "' is not listed in 'files' (with its sha256), so it cannot be verified");
      }
    }
    m.pipeline = std::move(spec);
  }
  return m;
}

std::string SerializeManifest(const Manifest& m) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("schema_version").Int(m.schema_version);
  w.Key("name").String(m.name);
  w.Key("version").String(m.version);
  w.Key("framework").String(m.framework);
  w.Key("files").BeginArray();
  for (const ManifestFile& f : m.files) {
    w.BeginObject().Key("path").String(f.path).Key("sha256").String(f.sha256);
    w.Key("size").Uint(f.size).EndObject();
  }
  w.EndArray();
  w.Key("inputs");
  WriteSpecs(w, m.schema.inputs, m.input_limits);
  w.Key("outputs");
  WriteSpecs(w, m.schema.outputs);
  w.Key("created_at").String(m.created_at);
  if (m.merge_batches)
    w.Key("batching").BeginObject().Key("merge").Bool(*m.merge_batches).EndObject();
  if (m.pipeline) {
    w.Key("pipeline");
    WritePipeline(*m.pipeline, &w);
  }
  if (!m.optimization.empty()) w.Key("optimization").Raw(m.optimization);
  w.EndObject();
  // One top-level field per line keeps diffs of committed manifests readable.
  std::string pretty;
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    pretty.push_back(c);
    if (in_string) {
      if (c == '\\')
        pretty.push_back(out[++i]);
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[')
      ++depth;
    else if (c == '}' || c == ']')
      --depth;
    else if (c == ',' && depth == 1)
      pretty += "\n ";
    if (i == 0) pretty += "\n ";
  }
  pretty.insert(pretty.size() - 1, "\n");
  pretty.push_back('\n');
  return pretty;
}

StatusOr<Manifest> BuildManifest(const std::string& dir, std::string name, std::string version,
                                 const std::vector<std::string>& files, ModelSchema schema,
                                 const Clock& clock) {
  RETURN_IF_ERROR(ValidateModelName(name));
  RETURN_IF_ERROR(ValidateVersion(version));
  Manifest m;
  m.name = std::move(name);
  m.version = std::move(version);
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(FileDigest d, Sha256File(dir + "/" + f));
    m.files.push_back({f, d.sha256, d.size});
  }
  m.schema = std::move(schema);
  m.created_at = FormatRfc3339(clock.WallNanos());
  return m;
}

Status VerifyFiles(const Manifest& m, const std::string& dir) {
  for (const ManifestFile& f : m.files) {
    auto d = Sha256File(dir + "/" + f.path);
    if (!d.ok()) return d.status();
    if (d->size != f.size || d->sha256 != f.sha256) {
      return Status(StatusCode::kDataLoss,
                    f.path + " does not match manifest.json (expected sha256 " + f.sha256 + ", " +
                        std::to_string(f.size) + " bytes; found sha256 " + d->sha256 + ", " +
                        std::to_string(d->size) +
                        " bytes): refusing to load a modified or truncated file",
                    "checksum_mismatch");
    }
  }
  return Status::Ok();
}

Status CheckExternalFilesListed(const Manifest& m, const OnnxModelInfo& info,
                                const std::string& dir) {
  // Locations are relative to the model file's own folder, which may be a subfolder of `dir`.
  std::string model = m.files.empty() ? std::string() : m.files[0].path;
  size_t slash = model.rfind('/');
  std::string sub = slash == std::string::npos ? "" : model.substr(0, slash + 1);
  for (const std::string& location : info.external_files) {
    ASSIGN_OR_RETURN(std::string rel, ResolveExternalFile(dir + "/" + sub, location));
    bool listed = false;
    for (size_t i = 1; i < m.files.size() && !listed; ++i) {
      listed = NormalizePath(m.files[i].path) == NormalizePath(sub + rel);
    }
    if (!listed) {
      return Status(StatusCode::kFailedPrecondition,
                    "the model reads external data from '" + location +
                        "', which manifest.json does not list: refusing to use an unverified "
                        "file (rewrite the manifest with: modelfn manifest)",
                    "external_data_unlisted");
    }
  }
  return Status::Ok();
}

Status CheckPipelineMatches(const Manifest& m, const ModelSchema& model) {
  if (!m.pipeline) return Status::Ok();
  auto mismatch = [](const std::string& msg) {
    return Status(StatusCode::kFailedPrecondition, "manifest.json: " + msg, "pipeline_mismatch");
  };
  auto is_float = [](DType t) {
    return t == DType::kFp16 || t == DType::kFp32 || t == DType::kFp64;
  };
  auto is_numeric = [](DType t) { return t != DType::kBytes && t != DType::kBool; };
  std::string tokenizer;
  for (const PipelineInput& in : m.pipeline->inputs) {
    std::string where = "pipeline input '" + in.name + "'";
    int idx = model.InputIndex(in.name);
    if (idx < 0) return mismatch(where + ": the model has no such input");
    const TensorSpec& spec = model.inputs[static_cast<size_t>(idx)];
    if (in.source == InputSource::kText) {
      if (spec.dtype != DType::kInt64 && spec.dtype != DType::kInt32) {
        return mismatch(where + ": a text input feeds token ids, but the model takes " +
                        DTypeName(spec.dtype) + " (INT64 or INT32 needed)");
      }
      if (spec.shape.size() != 2) {
        return mismatch(where + ": a text input feeds [batch, tokens], but the model's input has " +
                        std::to_string(spec.shape.size()) + " dimensions");
      }
      if (!tokenizer.empty() && tokenizer != in.tokenizer) {
        return mismatch(where + ": every text input must use the same tokenizer file ('" +
                        tokenizer + "' and '" + in.tokenizer + "')");
      }
      tokenizer = in.tokenizer;
    } else if (in.source == InputSource::kImage) {
      if (!is_float(spec.dtype) || spec.shape.size() != 4) {
        return mismatch(where + ": an image input feeds a rank-4 float tensor");
      }
    }
  }
  for (const PipelineOutput& out : m.pipeline->outputs) {
    std::string where = "pipeline output '" + out.name + "'";
    int idx = model.OutputIndex(out.name);
    if (idx < 0) return mismatch(where + ": the model has no such output");
    const TensorSpec& spec = model.outputs[static_cast<size_t>(idx)];
    switch (out.report) {
      case OutputReport::kTensor:
        break;
      case OutputReport::kSoftmax:
      case OutputReport::kArgmax:
      case OutputReport::kTopK:
        if (spec.shape.empty()) {
          return mismatch(where + ": " + OutputReportName(out.report) +
                          " works along the last dimension; the output is a scalar");
        }
        if (!(out.softmax || out.report == OutputReport::kSoftmax ? is_float(spec.dtype)
                                                                  : is_numeric(spec.dtype))) {
          return mismatch(where + ": " + OutputReportName(out.report) + " needs a " +
                          (out.softmax ? "float" : "numeric") + " output, the model's is " +
                          DTypeName(spec.dtype));
        }
        if (out.report == OutputReport::kTopK && spec.shape.back() >= 0 &&
            out.k > spec.shape.back()) {
          return mismatch(where + ": k = " + std::to_string(out.k) + " but the output has " +
                          std::to_string(spec.shape.back()) + " classes");
        }
        break;
      case OutputReport::kMeanPool: {
        if (!is_float(spec.dtype) || spec.shape.size() != 3) {
          return mismatch(where + ": mean_pool needs a float [batch, tokens, hidden] output");
        }
        int mask = model.InputIndex(out.mask);
        if (mask < 0) return mismatch(where + ": 'mask' names no model input ('" + out.mask + "')");
        const TensorSpec& ms = model.inputs[static_cast<size_t>(mask)];
        if (!is_numeric(ms.dtype) || ms.shape.size() != 2) {
          return mismatch(where + ": the mask input '" + out.mask +
                          "' must be a numeric [batch, tokens] tensor");
        }
        break;
      }
    }
  }
  return Status::Ok();
}

Status CheckSchemaMatches(const Manifest& m, const ModelSchema& model) {
  auto check = [](const std::vector<TensorSpec>& want, const std::vector<TensorSpec>& have,
                  const char* what) -> Status {
    if (want.size() != have.size()) {
      return Status(StatusCode::kFailedPrecondition,
                    std::string("manifest.json lists ") + std::to_string(want.size()) + " " + what +
                        " but the model has " + std::to_string(have.size()),
                    "manifest_mismatch");
    }
    for (size_t i = 0; i < want.size(); ++i) {
      if (want[i].name != have[i].name || want[i].dtype != have[i].dtype) {
        return Status(StatusCode::kFailedPrecondition,
                      std::string("manifest.json ") + what + " '" + want[i].name + "' (" +
                          DTypeName(want[i].dtype) + ") does not match the model's '" +
                          have[i].name + "' (" + DTypeName(have[i].dtype) + ")",
                      "manifest_mismatch");
      }
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(check(m.schema.inputs, model.inputs, "inputs"));
  return check(m.schema.outputs, model.outputs, "outputs");
}

}  // namespace modelfn

#include "optimize/optimizer.h"

#include <dirent.h>
#include <onnxruntime_cxx_api.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"
#include "engine/onnx_model_info.h"
#include "engine/ort_engine.h"
#include "function/inference.h"
#include "function/model_loader.h"
#include "optimize/quantizer.h"
#include "package/zip_writer.h"

namespace modelfn {
namespace {

constexpr size_t kTimedSamples = 16;

double Median(std::vector<double> xs) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

EngineFactory OrtFactory() {
  return [](const std::string& path, std::string_view bytes) -> StatusOr<std::unique_ptr<Engine>> {
    ASSIGN_OR_RETURN(auto e, OrtEngine::LoadFromBytes(bytes, path, OrtEngineOptions()));
    return std::unique_ptr<Engine>(std::move(e));
  };
}

Status CopyFile(const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(from));
  // Folders inside the version (a tokenizer under tok/) are made as needed.
  for (size_t slash = to.find('/', 1); slash != std::string::npos;
       slash = to.find('/', slash + 1)) {
    mkdir(to.substr(0, slash).c_str(), 0755);
  }
  return WriteFileAtomic(to, bytes);
}

// Removes what `dir` holds (files and folders), leaving it empty.
void EmptyFolder(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  for (const std::string& n : names) {
    std::string p = dir + "/" + n;
    if (unlink(p.c_str()) != 0) {
      EmptyFolder(p);
      rmdir(p.c_str());
    }
  }
}

struct TempDir {
  std::string path;
  TempDir() {
    const char* tmp = getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/modelfn-opt-XXXXXX";
    if (mkdtemp(templ.data()) != nullptr) path = templ;
  }
  ~TempDir() {
    if (!path.empty()) {
      EmptyFolder(path);
      rmdir(path.c_str());
    }
  }
};

// Session creation and Run time of the model at `path`, on the prepared sample inputs.
StatusOr<ModelCost> Measure(const std::string& path, const std::vector<std::string>& files,
                            const std::vector<PreparedInputs>& inputs, int rounds) {
  ModelCost c;
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(FileDigest d, Sha256File(f));
    c.bytes += d.size;
  }
  {
    TempDir zdir;
    ZipWriter zip(zdir.path + "/model.zip");
    RETURN_IF_ERROR(zip.status());
    for (const std::string& f : files) {
      RETURN_IF_ERROR(zip.AddFile(f.substr(f.rfind('/') + 1), f, 0644));
    }
    ASSIGN_OR_RETURN(c.zipped_bytes, zip.Finish());
  }
  std::vector<double> sessions, runs;
  std::unique_ptr<OrtEngine> engine;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(engine, OrtEngine::Load(path, OrtEngineOptions()));
    sessions.push_back(MsSince(t0));
  }
  for (const PreparedInputs& p : inputs)
    RETURN_IF_ERROR(RunPrepared(*engine, p, RunLimits()).status());
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (const PreparedInputs& p : inputs)
      RETURN_IF_ERROR(RunPrepared(*engine, p, RunLimits()).status());
    runs.push_back(MsSince(t0));
  }
  c.session_ms = Median(sessions);
  c.run_ms = Median(runs);
  return c;
}

Status Usage(const std::string& why) { return Status(StatusCode::kInvalidArgument, why, "usage"); }

}  // namespace

const char* GraphLevelName(int level) {
  switch (level) {
    case 0:
      return "none";
    case 1:
      return "basic";
    case 2:
      return "extended";
    default:
      return "all";
  }
}

int GraphLevelFromName(const std::string& name) {
  if (name == "none") return 0;
  if (name == "basic") return 1;
  if (name == "extended") return 2;
  if (name == "all") return 99;
  return -1;
}

StatusOr<OptimizeResult> OptimizeModelDir(const std::string& src_dir, const std::string& out_dir,
                                          const OptimizeOptions& o, const Clock& clock) {
  if (o.graph_level == 0 && o.quantize.empty()) {
    return Usage("nothing to do: give a graph level above none, or --quantize");
  }
  if (!o.quantize.empty() && o.quantize != "dynamic" && o.quantize != "static") {
    return Usage("--quantize takes dynamic or static");
  }
  if (o.samples.bodies.empty()) return Usage("no sample inputs");
  if (o.quantize == "static" && o.samples.synthetic) {
    return Usage("static quantisation takes the ranges of real inputs: give --samples");
  }
  RETURN_IF_ERROR(ValidateVersion(o.version));
  ASSIGN_OR_RETURN(LoadedModel original, LoadModelDir(src_dir, OrtFactory(), clock));
  const Manifest& src = original.manifest;
  const std::string src_model = src_dir + "/" + src.files[0].path;
  ASSIGN_OR_RETURN(std::string src_bytes, ReadFile(src_model));
  ASSIGN_OR_RETURN(OnnxModelInfo info, InspectOnnxModel(src_bytes));
  src_bytes.clear();
  const bool external = !info.external_files.empty();
  if (external && o.graph_level == 0) {
    return Usage("a model with external data is written by the graph optimiser: give a level");
  }
  // The samples, prepared once for the original's schema: the gate, the timing and the
  // calibration all feed the same tensors.
  std::vector<PreparedInputs> prepared;
  for (size_t s = 0; s < o.samples.bodies.size(); ++s) {
    auto body = Json::Parse(o.samples.bodies[s]);
    int64_t budget = int64_t{1} << 30;
    StatusOr<PreparedInputs> p = body.ok()
                                     ? PrepareSeedRequest(*body, original.engine->schema(), &budget,
                                                          original.engine->pipeline())
                                     : StatusOr<PreparedInputs>(body.status());
    if (p.ok() && p->text && original.engine->pipeline() != nullptr) {
      Status st = EncodeTextInputs(*original.engine->pipeline(), &*p, &budget);
      if (!st.ok()) p = st;
    }
    if (!p.ok()) {
      return Status(StatusCode::kInvalidArgument,
                    "sample " + std::to_string(s + 1) + " of " + o.samples.source + ": " +
                        p.status().message(),
                    "invalid_samples");
    }
    prepared.push_back(std::move(p).value());
  }

  TempDir work;
  if (work.path.empty()) return Status(StatusCode::kUnavailable, "cannot make a temporary folder");
  auto fail = [&](Status s) {
    EmptyFolder(out_dir);
    return s;
  };
  std::string current = src_model;
  std::string quantizer_version;
  if (!o.quantize.empty()) {
    QuantizeOptions q;
    q.mode = o.quantize;
    q.per_channel = o.per_channel;
    q.external_data = external;
    q.python = o.python.empty() ? QuantizerPython() : o.python;
    if (o.quantize == "static") {
      for (const PreparedInputs& p : prepared) {
        std::vector<Tensor> named = p.inputs;
        for (size_t k = 0; k < named.size(); ++k) {
          named[k].name = original.engine->schema().inputs[k].name;
        }
        q.calibration.push_back(std::move(named));
      }
    }
    auto version = QuantizerVersion(q.python, work.path);
    if (!version.ok()) return version.status();
    quantizer_version = *version;
    current = work.path + "/quantized.onnx";
    RETURN_IF_ERROR(Quantize(src_model, current, work.path, q));
  }
  const std::string out_model = out_dir + "/model.onnx";
  std::vector<std::string> model_files = {"model.onnx"};
  if (o.graph_level > 0) {
    if (Status s = OrtEngine::SaveOptimized(current, out_model, o.graph_level, external); !s.ok()) {
      return fail(s);
    }
    if (external && access((out_model + ".data").c_str(), F_OK) == 0) {
      model_files.push_back("model.onnx.data");
    }
  } else if (Status s = CopyFile(current, out_model); !s.ok()) {
    return fail(s);
  }
  // The manifest's other files (labels, tokenizer), not the source's external data.
  std::vector<std::string> others;
  for (size_t i = 1; i < src.files.size(); ++i) {
    const std::string& p = src.files[i].path;
    bool model_data = false;
    for (const std::string& e : info.external_files)
      model_data |= NormalizePath(e) == NormalizePath(p);
    if (model_data) continue;
    if (Status s = CopyFile(src_dir + "/" + p, out_dir + "/" + p); !s.ok()) return fail(s);
    others.push_back(p);
  }

  // The gate, on the optimised model as written.
  auto optimized = OrtEngine::Load(out_model, OrtEngineOptions());
  if (!optimized.ok()) return fail(optimized.status());
  Samples samples = o.samples;
  auto accuracy = CompareEngines(*original.engine, **optimized, samples);
  if (!accuracy.ok()) return fail(accuracy.status());
  if (Status s = CheckGate(*accuracy, o.gate); !s.ok()) return fail(s);
  optimized->reset();

  // The new version's manifest: the source's, with the new files and how they were made.
  Manifest m = src;
  m.version = o.version;
  m.created_at = FormatRfc3339(clock.WallNanos());
  // Quantisation changes the operators: whether rows may share a Run is decided again from them
  // (dynamic quantisation's DynamicQuantizeLinear makes rows depend on each other).
  if (!o.quantize.empty()) m.merge_batches.reset();
  m.files.clear();
  for (const std::string& p : model_files) {
    auto d = Sha256File(out_dir + "/" + p);
    if (!d.ok()) return fail(d.status());
    m.files.push_back(ManifestFile{p, d->sha256, d->size});
  }
  for (const std::string& p : others) {
    auto d = Sha256File(out_dir + "/" + p);
    if (!d.ok()) return fail(d.status());
    m.files.push_back(ManifestFile{p, d->sha256, d->size});
  }
  std::string record;
  JsonWriter w(&record);
  w.BeginObject().Key("from").String(o.from).Key("from_sha256").String(src.files[0].sha256);
  w.Key("graph_level").String(GraphLevelName(o.graph_level));
  w.Key("quantization");
  if (o.quantize.empty()) {
    w.Null();
  } else {
    w.String(o.quantize + "-int8" + (o.per_channel ? "-per-channel" : ""));
  }
  w.Key("onnxruntime").String(Ort::GetVersionString());
  w.Key("quantizer");
  if (quantizer_version.empty()) {
    w.Null();
  } else {
    w.String(quantizer_version);
  }
  w.Key("accuracy").Raw(AccuracyJson(*accuracy, samples.synthetic));
  w.EndObject();
  m.optimization = record;
  if (Status s = WriteFileAtomic(out_dir + "/manifest.json", SerializeManifest(m)); !s.ok()) {
    return fail(s);
  }
  // What was written loads as the function loads it (hashes, schema, external data).
  auto check = LoadModelDir(out_dir, OrtFactory(), clock);
  if (!check.ok()) return fail(check.status());

  OptimizeResult r;
  r.manifest = m;
  r.accuracy = std::move(accuracy).value();
  std::vector<PreparedInputs> timed(prepared.begin(),
                                    prepared.begin() + std::min(prepared.size(), kTimedSamples));
  std::vector<std::string> src_files = {src_model};
  for (const std::string& e : info.external_files) src_files.push_back(src_dir + "/" + e);
  std::vector<std::string> out_files;
  for (const std::string& p : model_files) out_files.push_back(out_dir + "/" + p);
  auto before = Measure(src_model, src_files, timed, o.timing_rounds);
  if (!before.ok()) return fail(before.status());
  auto after = Measure(out_model, out_files, timed, o.timing_rounds);
  if (!after.ok()) return fail(after.status());
  r.before = *before;
  r.after = *after;
  return r;
}

}  // namespace modelfn

#include "function/model_loader.h"

#include <future>

#include "common/files.h"
#include "common/sha256.h"
#include "engine/onnx_model_info.h"
#include "pipeline/pipeline.h"

namespace modelfn {

StatusOr<std::vector<Tensor>> ZeroInputs(const Engine& engine, int64_t rows) {
  const ModelSchema& s = engine.schema();
  std::vector<Tensor> inputs(s.inputs.size());
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    Tensor& t = inputs[i];
    t.name = s.inputs[i].name;
    t.dtype = s.inputs[i].dtype;
    for (size_t d = 0; d < s.inputs[i].shape.size(); ++d) {
      int64_t dim = s.inputs[i].shape[d];
      t.shape.push_back(dim >= 0 ? dim : d == 0 ? rows : 1);
    }
    // An image input runs at the size its images are prepared to, whatever the model allows.
    if (const ImageSpec* img = engine.pipeline() ? engine.pipeline()->ImageInput(i) : nullptr) {
      bool nchw = img->layout == "NCHW";
      t.shape = {t.shape[0], nchw ? 3 : img->height, nchw ? img->height : img->width,
                 nchw ? img->width : 3};
    }
    int64_t n = t.NumElements();
    // Large inputs: a zero run costs more (allocating and copying) than it saves the first request.
    if (n > (1 << 20)) {
      return Status(StatusCode::kResourceExhausted,
                    "input '" + t.name + "' has " + std::to_string(n) + " elements",
                    "warmup_skipped");
    }
    if (t.dtype == DType::kBytes) {
      t.strings.assign(static_cast<size_t>(n), "");
    } else {
      t.data.assign(static_cast<size_t>(n) * DTypeSize(t.dtype), 0);
    }
  }
  return inputs;
}

Status Warmup(Engine& engine) {
  ASSIGN_OR_RETURN(std::vector<Tensor> inputs, ZeroInputs(engine, 1));
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(&t);
  std::vector<size_t> outs;
  for (size_t i = 0; i < engine.schema().outputs.size(); ++i) outs.push_back(i);
  auto r = engine.Run(ptrs, outs);
  return r.ok() ? Status::Ok() : r.status();
}

StatusOr<LoadedModel> LoadModelDir(const std::string& dir, const EngineFactory& make_engine,
                                   const Clock& clock) {
  auto ms_since = [&](int64_t t0) {
    return static_cast<double>(clock.MonotonicNanos() - t0) / 1e6;
  };
  LoadedModel out;
  auto text = ReadFile(dir + "/manifest.json");
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return NotFoundError("no manifest.json in " + dir + " (write one with: modelfn manifest " +
                           dir + "/model.onnx --name NAME --version VERSION)");
    }
    return text.status();
  }
  ASSIGN_OR_RETURN(out.manifest, ParseManifest(*text));
  int64_t t0 = clock.MonotonicNanos();
  const ManifestFile& model_file = *out.manifest.model_file();
  std::string model_path = dir + "/" + model_file.path;
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(model_path));
  auto mismatch = [&](size_t found) {
    return Status(StatusCode::kDataLoss,
                  model_file.path + " does not match manifest.json (expected sha256 " +
                      model_file.sha256 + ", " + std::to_string(model_file.size) +
                      " bytes; found " + std::to_string(found) +
                      " bytes with another digest): refusing to load a modified or truncated file",
                  "checksum_mismatch");
  };
  if (bytes.size() != model_file.size) return mismatch(bytes.size());
  // Which files the graph reads besides itself (external weights) must all be in the manifest,
  // so that the digests below cover everything the session will read.
  ASSIGN_OR_RETURN(OnnxModelInfo info, InspectOnnxModel(bytes));
  RETURN_IF_ERROR(CheckExternalFilesListed(out.manifest, info, dir));
  double read_ms = ms_since(t0);
  // The digests (the model's bytes in memory, the other files on disk) are computed on another
  // thread while ONNX Runtime makes the session from those same bytes: a 23 MB model's sha256
  // costs about half of its session's creation. Nothing is served, and the session is dropped,
  // unless every digest matches.
  std::future<Status> verified = std::async(std::launch::async, [&] {
    int64_t start = clock.MonotonicNanos();
    Status st = Sha256Hex(bytes) == model_file.sha256 ? Status::Ok() : mismatch(bytes.size());
    if (st.ok()) {
      Manifest others = out.manifest;  // the remaining files (weights, tokenizers), on disk
      others.files.erase(others.files.begin());
      st = VerifyFiles(others, dir);
    }
    out.timings.model_digest_ms = ms_since(start);
    return st;
  });
  t0 = clock.MonotonicNanos();
  // A tokenizer needs no model schema: it loads on another thread while the session is made.
  std::future<StatusOr<std::shared_ptr<const TextTokenizer>>> tokenizer;
  bool has_text = false;
  if (out.manifest.pipeline) {
    for (const PipelineInput& in : out.manifest.pipeline->inputs)
      has_text = has_text || in.source == InputSource::kText;
  }
  if (has_text) {
    tokenizer = std::async(std::launch::async, [&m = out.manifest, &dir, &clock, &out] {
      int64_t start = clock.MonotonicNanos();
      auto t = Pipeline::LoadTokenizer(m, dir);
      out.timings.tokenizer_load_ms = static_cast<double>(clock.MonotonicNanos() - start) / 1e6;
      return t;
    });
  }
  auto engine = make_engine(model_path, bytes);
  int64_t wait_start = clock.MonotonicNanos();
  StatusOr<std::shared_ptr<const TextTokenizer>> tok =
      has_text ? tokenizer.get() : std::shared_ptr<const TextTokenizer>();
  if (has_text) out.timings.tokenizer_wait_ms = ms_since(wait_start);
  out.timings.model_load_ms = ms_since(t0);
  wait_start = clock.MonotonicNanos();
  Status digests = verified.get();
  // What verifying added to init: reading and inspecting, then what was left of the digests.
  out.timings.model_verify_ms = read_ms + ms_since(wait_start);
  // A file that fails its digest is the cause to report, whatever the session made of it.
  RETURN_IF_ERROR(digests);
  if (!engine.ok()) return engine.status();
  out.engine = std::move(engine).value();
  RETURN_IF_ERROR(CheckSchemaMatches(out.manifest, out.engine->schema()));
  if (!tok.ok()) return tok.status();
  ASSIGN_OR_RETURN(std::shared_ptr<const Pipeline> pipeline,
                   Pipeline::Load(out.manifest, out.engine->schema(), dir, std::move(tok).value()));
  out.engine->set_pipeline(std::move(pipeline));
  out.engine->set_input_limits(out.manifest.input_limits);
  out.batch_dependent_ops = BatchDependentOps(info);
  out.engine->set_merge_rows(out.manifest.merge_batches.value_or(out.batch_dependent_ops.empty()));
  t0 = clock.MonotonicNanos();
  Status warm = Warmup(*out.engine);
  out.timings.warmup_ms = ms_since(t0);
  out.warmup = warm;
  return out;
}

}  // namespace modelfn

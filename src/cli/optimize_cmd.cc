// modelfn optimize: a model version made faster to load and run, written as a new version
// (optimize/optimizer.h does the work; this file resolves the source, the output and the report).
#include "cli/optimize_cmd.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/json.h"
#include "function/model_source.h"
#include "optimize/optimizer.h"
#include "store/model_cache.h"

namespace modelfn {
namespace {

constexpr const char* kOptimizeUsage =
    "usage: modelfn optimize SOURCE (--version V | --out DIR) [--level none|basic|extended|all]\n"
    "                        [--quantize dynamic|static [--per-channel]] [--samples PATH]\n"
    "                        [--max-abs-error X] [--min-agreement P] [--promote] [--store URI]\n"
    "                        [--json]\n"
    "\n"
    "SOURCE is a model folder (manifest.json) or NAME[@VERSION] in the store. Writes a new "
    "version\n"
    "of the model: ONNX Runtime's graph optimisations applied once and saved in the model\n"
    "(--level, default extended: the highest whose result runs on any CPU; all may use this\n"
    "CPU's own instructions), after int8 quantisation with --quantize (ONNX Runtime's tool\n"
    "onnxruntime.quantization, run with MODELFN_PYTHON or python3: dynamic quantises weights,\n"
    "static activations too, calibrated on the samples). The original and the new model run the\n"
    "same samples; the version is refused (exit 1, accuracy_gate_failed) when the largest\n"
    "absolute difference of any float output exceeds --max-abs-error, or when the share of rows\n"
    "with the same answer (argmax of class scores; equal labels) is below --min-agreement.\n"
    "  --samples PATH  /v1/infer bodies: a .json (one body or an array), a .jsonl, or a folder of\n"
    "                  them (at most --max-samples, default 64); without it, 32 random inputs\n"
    "                  from the schema (they say little about accuracy on real data)\n"
    "  --version V     push the result to the store as NAME@V (--promote: and make it current)\n"
    "  --out DIR       write the version's folder there instead (push it later: modelfn push)\n"
    "The manifest of the new version records how it was made (\"optimization\"). Prints size,\n"
    "session creation and Run time before and after, and the accuracy measured.\n";

double Ratio(double after, double before) { return before > 0 ? after / before : 0; }

std::string ReportJson(const OptimizeResult& r, const std::string& written,
                       const std::string& where) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("name").String(r.manifest.name).Key("version").String(r.manifest.version);
  w.Key(written).String(where);
  w.Key("optimization").Raw(r.manifest.optimization);
  auto cost = [&w](const char* key, const ModelCost& c) {
    w.Key(key).BeginObject().Key("bytes").Uint(c.bytes).Key("zipped_bytes").Uint(c.zipped_bytes);
    w.Key("session_ms").Double(c.session_ms).Key("run_ms").Double(c.run_ms).EndObject();
  };
  cost("before", r.before);
  cost("after", r.after);
  w.Key("ratios").BeginObject();
  w.Key("bytes").Double(
      Ratio(static_cast<double>(r.after.bytes), static_cast<double>(r.before.bytes)));
  w.Key("zipped_bytes")
      .Double(Ratio(static_cast<double>(r.after.zipped_bytes),
                    static_cast<double>(r.before.zipped_bytes)));
  w.Key("session_ms").Double(Ratio(r.after.session_ms, r.before.session_ms));
  w.Key("run_ms").Double(Ratio(r.after.run_ms, r.before.run_ms));
  w.EndObject().EndObject();
  return out;
}

void PrintReport(const OptimizeResult& r, const std::string& from, const OptimizeOptions& o) {
  printf("%s -> %s@%s (graph %s%s)\n", from.c_str(), r.manifest.name.c_str(),
         r.manifest.version.c_str(), GraphLevelName(o.graph_level),
         o.quantize.empty() ? "" : (", " + o.quantize + " int8").c_str());
  auto mb = [](uint64_t b) { return static_cast<double>(b) / 1048576.0; };
  printf("  model size       %8.2f MB -> %8.2f MB  (%.2fx)\n", mb(r.before.bytes),
         mb(r.after.bytes),
         Ratio(static_cast<double>(r.after.bytes), static_cast<double>(r.before.bytes)));
  printf(
      "  in a Lambda zip  %8.2f MB -> %8.2f MB  (%.2fx)\n", mb(r.before.zipped_bytes),
      mb(r.after.zipped_bytes),
      Ratio(static_cast<double>(r.after.zipped_bytes), static_cast<double>(r.before.zipped_bytes)));
  printf("  session creation %8.2f ms -> %8.2f ms  (%.2fx)\n", r.before.session_ms,
         r.after.session_ms, Ratio(r.after.session_ms, r.before.session_ms));
  printf("  Run, %2zu samples  %8.3f ms -> %8.3f ms  (%.2fx)\n",
         std::min<size_t>(r.accuracy.samples, 16), r.before.run_ms, r.after.run_ms,
         Ratio(r.after.run_ms, r.before.run_ms));
  printf("  accuracy on %zu %ssamples: max abs error %g", r.accuracy.samples,
         o.samples.synthetic ? "synthetic " : "", r.accuracy.max_abs_error);
  if (r.accuracy.agreement) printf(", agreement %.4f", *r.accuracy.agreement);
  printf("\n");
  for (const OutputAccuracy& out : r.accuracy.outputs) {
    printf("    %-20s", out.name.c_str());
    if (out.floating)
      printf(" max abs error %g (largest |value| %g)", out.max_abs_error, out.max_abs_value);
    if (out.agreement)
      printf(" agreement %.4f of %llu", *out.agreement, static_cast<unsigned long long>(out.rows));
    printf("\n");
  }
  if (o.samples.synthetic) {
    printf("  (random inputs: give --samples with real requests to judge accuracy)\n");
  }
}

bool ParseNumber(const std::string& s, double* out) {
  char* end = nullptr;
  *out = strtod(s.c_str(), &end);
  return !s.empty() && end != nullptr && *end == '\0';
}

}  // namespace

StatusOr<OptimizeOptions> OptimizeOptionsFromArgs(const Args& a, const Manifest& src) {
  auto usage = [](const std::string& why) {
    return Status(StatusCode::kInvalidArgument, why, "usage");
  };
  OptimizeOptions o;
  o.graph_level = GraphLevelFromName(a.Get("level", "extended"));
  if (o.graph_level < 0) return usage("--level takes none, basic, extended or all");
  o.quantize = a.Get("quantize");
  if (!o.quantize.empty() && o.quantize != "dynamic" && o.quantize != "static") {
    return usage("--quantize takes dynamic or static");
  }
  o.per_channel = a.Has("per-channel");
  for (const std::string flag : {"max-abs-error", "min-agreement"}) {
    if (!a.Has(flag)) continue;
    double v;
    if (!ParseNumber(a.Get(flag), &v) || v < 0 || (flag == "min-agreement" && v > 1)) {
      return usage("--" + flag + " takes a number" +
                   (flag == "min-agreement" ? " in [0, 1]" : " >= 0"));
    }
    (flag == "max-abs-error" ? o.gate.max_abs_error : o.gate.min_agreement) = v;
  }
  double max_samples = 64;
  if (a.Has("max-samples") &&
      (!ParseNumber(a.Get("max-samples"), &max_samples) || max_samples < 1)) {
    return usage("--max-samples takes a positive number");
  }
  o.from = src.name + "@" + src.version;
  o.version = a.Get("version", src.version + (o.quantize.empty() ? "-opt" : "-int8"));
  if (a.Has("samples")) {
    ASSIGN_OR_RETURN(o.samples, LoadSamples(a.Get("samples"), static_cast<size_t>(max_samples)));
  } else {
    bool fed = false;
    if (src.pipeline) {
      for (const PipelineInput& in : src.pipeline->inputs) fed |= in.source != InputSource::kTensor;
    }
    ASSIGN_OR_RETURN(o.samples, SyntheticSamples(src.schema, fed, 32, 1));
  }
  return o;
}

StatusOr<std::string> OptimizeForPackage(const Args& a, const std::string& model_dir) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(model_dir + "/manifest.json"));
  ASSIGN_OR_RETURN(Manifest src, ParseManifest(text));
  ASSIGN_OR_RETURN(OptimizeOptions o, OptimizeOptionsFromArgs(a, src));
  char t[] = "/tmp/modelfn-package-opt-XXXXXX";
  if (mkdtemp(t) == nullptr) return Status(StatusCode::kUnavailable, "no temporary folder");
  auto r = OptimizeModelDir(model_dir, t, o, RealClock::Get());
  if (!r.ok()) {
    rmdir(t);
    return r.status();
  }
  // The report goes to stderr: stdout stays the package's own (its --json).
  fflush(stdout);
  int saved = dup(1);
  dup2(2, 1);
  PrintReport(*r, o.from, o);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  return std::string(t);
}

int CmdOptimize(int argc, char** argv) {
  std::set<std::string> values = kOptimizeValueFlags;
  values.insert({"version", "out", "store"});
  Args a(argc, argv, values, {"per-channel", "promote", "json", "help"});
  if (a.Has("help")) return fputs(kOptimizeUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 1 || (!a.Has("version") && !a.Has("out"))) {
    return Usage(kOptimizeUsage, a.ok() ? "" : a.error());
  }
  if (a.Has("promote") && a.Has("out")) return Usage(kOptimizeUsage, "--promote needs --version");
  const RealClock& clock = RealClock::Get();

  // The source: a folder, or NAME[@VERSION] fetched from the store into a scratch cache.
  const std::string source = a.positional()[0];
  std::string src_dir = source;
  struct stat st;
  std::string scratch;
  auto cleanup = [&scratch] {
    if (!scratch.empty()) (void)system(("rm -rf '" + scratch + "'").c_str());
  };
  std::optional<StoreHandle> store;
  if (stat(source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    auto h = OpenFromArgs(a);
    if (!h.ok()) return Fail(h.status());
    store = std::move(h).value();
    std::string name = source, version;
    if (size_t at = source.find('@'); at != std::string::npos) {
      name = source.substr(0, at);
      version = source.substr(at + 1);
    }
    if (Status s = ValidateModelName(name); !s.ok()) {
      return Fail(Status(StatusCode::kNotFound, "no folder " + source + ", and " + s.message()));
    }
    char t[] = "/tmp/modelfn-optimize-XXXXXX";
    if (mkdtemp(t) == nullptr) return Fail(Status(StatusCode::kUnavailable, "no temporary folder"));
    scratch = t;
    CacheOptions co;
    co.root = scratch + "/cache";
    ModelCache cache(co, &clock);
    auto fetched = FetchModel(*store->store, store->uri.ToString(), cache, name, version, clock);
    if (!fetched.ok()) {
      cleanup();
      return Fail(fetched.status());
    }
    src_dir = fetched->dir;
  }
  auto src_manifest_text = ReadFile(src_dir + "/manifest.json");
  if (!src_manifest_text.ok()) {
    cleanup();
    return Fail(src_manifest_text.status());
  }
  auto src_manifest = ParseManifest(*src_manifest_text);
  if (!src_manifest.ok()) {
    cleanup();
    return Fail(src_manifest.status());
  }
  auto opts = OptimizeOptionsFromArgs(a, *src_manifest);
  if (!opts.ok()) {
    cleanup();
    return opts.status().reason() == "usage" ? Usage(kOptimizeUsage, opts.status().message())
                                             : Fail(opts.status());
  }
  OptimizeOptions o = std::move(opts).value();

  // Where the version is written: --out, or a scratch folder pushed to the store.
  std::string out_dir = a.Get("out");
  if (out_dir.empty()) {
    if (scratch.empty()) {
      char t[] = "/tmp/modelfn-optimize-XXXXXX";
      if (mkdtemp(t) == nullptr)
        return Fail(Status(StatusCode::kUnavailable, "no temporary folder"));
      scratch = t;
    }
    out_dir = scratch + "/out";
  }
  mkdir(out_dir.c_str(), 0755);
  if (rmdir(out_dir.c_str()) != 0 || mkdir(out_dir.c_str(), 0755) != 0) {
    cleanup();
    return Fail(
        Status(StatusCode::kFailedPrecondition, out_dir + " is not an empty folder", "usage"));
  }
  auto r = OptimizeModelDir(src_dir, out_dir, o, clock);
  if (!r.ok()) {
    if (a.Has("out")) rmdir(out_dir.c_str());
    cleanup();
    return r.status().reason() == "usage" ? Usage(kOptimizeUsage, r.status().message())
                                          : Fail(r.status());
  }
  std::string written = "out", where = out_dir;
  if (!a.Has("out")) {
    if (!store) {
      auto h = OpenFromArgs(a);
      if (!h.ok()) {
        cleanup();
        return Fail(h.status());
      }
      store = std::move(h).value();
    }
    std::string json = SerializeManifest(r->manifest);
    auto pushed =
        store->registry->Push(out_dir, r->manifest, json, TerminalProgress("push " + o.version));
    if (!pushed.ok()) {
      cleanup();
      return Fail(pushed.status());
    }
    if (a.Has("promote")) {
      auto p = store->registry->Promote(r->manifest.name, r->manifest.version);
      if (!p.ok()) {
        cleanup();
        return Fail(p.status());
      }
    }
    written = "store";
    where = store->uri.ToString();
  }
  cleanup();
  if (a.Has("json")) {
    PrintJson(ReportJson(*r, written, where));
  } else {
    PrintReport(*r, o.from, o);
    printf("%s %s@%s %s %s%s\n", written == "out" ? "wrote" : "pushed", r->manifest.name.c_str(),
           r->manifest.version.c_str(), written == "out" ? "to" : "to", where.c_str(),
           a.Has("promote") ? " (now current)" : "");
  }
  return 0;
}

}  // namespace modelfn

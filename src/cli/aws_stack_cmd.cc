// `modelfn package --target aws-lambda-layer` (the runtime as a layer, a model-only function zip)
// and `modelfn deploy --target aws --config modelfn.yaml` (every function of a config in one SAM
// template on that layer).
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/files.h"
#include "common/json.h"
#include "package/lambda_layer.h"
#include "package/sam_stack.h"
#include "platform/config.h"
#include "platform/yaml.h"
#include "store/registry.h"
#include "store/store_uri.h"

namespace modelfn {
namespace {

constexpr const char* kLayerUsage =
    "usage: modelfn package --target aws-lambda-layer [--model DIR|s3://BUCKET/PREFIX/NAME[@V]]\n"
    "       [--out DIR] [--arch x86_64|arm64] [--runtime PATH] [--bootstrap PATH] [--json]\n"
    "\n"
    "Writes OUT/layer.zip, a Lambda layer holding the runtime (bootstrap, bin/modelfn-fn, lib/ "
    "with\n"
    "ONNX Runtime, the loader and every library it loads), which Lambda unpacks at /opt for every\n"
    "function that lists it; a provided.al2023 function without a bootstrap of its own runs\n"
    "/opt/bootstrap. With --model, also OUT/function.zip holding only that model (model/, read\n"
    "from /var/task/model), or for a store URI only a note naming it (set MODELFN_MODEL to it).\n"
    "OUT defaults to ./modelfn-layer.\n";

constexpr const char* kStackUsage =
    "usage: modelfn deploy --target aws --config modelfn.yaml [--out DIR] [--prefix NAME]\n"
    "       [--arch x86_64|arm64] [--ephemeral MB] [--log-retention-days D] [--canary-minutes M]\n"
    "       [--trigger-function FUNCTION --trigger-bucket NAME [--input-prefix incoming/]\n"
    "        [--output-prefix results/] [--failure-prefix failed/]] [--runtime PATH]\n"
    "       [--bootstrap PATH] [--dry-run] [--json]\n"
    "\n"
    "Writes OUT/template.yaml, one AWS SAM template for every function of the config: a REST API\n"
    "with the gateway's routes (/v1/models/FUNCTION/infer|batch, /v2/models/FUNCTION/...), its\n"
    "API keys and usage plans, CORS, one least-privilege role per function, provisioned\n"
    "concurrency from min_instances, a canary (traffic:) as a CodeDeploy DeploymentPreference, "
    "and\n"
    "the S3 trigger; OUT/layer.zip, the runtime layer every function uses; and\n"
    "OUT/functions/FUNCTION.zip, each holding only its model (models of a local store), or a note\n"
    "for a model in an s3:// store. Without --dry-run it then runs sam deploy. OUT defaults to\n"
    "./modelfn-aws.\n";

struct Report {
  std::string path;
  LambdaZipReport zip;
};

std::string Size(uint64_t bytes) {
  char buf[32];
  if (bytes < (1u << 20)) {
    snprintf(buf, sizeof buf, "%.1f KB", bytes / 1024.0);
  } else {
    snprintf(buf, sizeof buf, "%.1f MB", bytes / 1048576.0);
  }
  return buf;
}

void PrintReports(bool json, const std::vector<std::pair<std::string, Report>>& reports,
                  const std::vector<std::string>& notes) {
  if (json) {
    std::string j;
    JsonWriter w(&j);
    w.BeginObject();
    for (const auto& [key, r] : reports) {
      w.Key(key).BeginObject().Key("path").String(r.path);
      if (!r.zip.entries.empty()) {
        w.Key("zipped_bytes").Uint(r.zip.zipped_bytes);
        w.Key("unzipped_bytes").Uint(r.zip.unzipped_bytes);
      }
      w.EndObject();
    }
    w.Key("notes").BeginArray();
    for (const std::string& n : notes) w.String(n);
    w.EndArray().EndObject();
    PrintJson(j);
    return;
  }
  for (const auto& [key, r] : reports) {
    if (r.zip.entries.empty()) {
      printf("wrote %s\n", r.path.c_str());
    } else {
      printf("wrote %s (%s zipped, %s unzipped)\n", r.path.c_str(),
             Size(r.zip.zipped_bytes).c_str(), Size(r.zip.unzipped_bytes).c_str());
    }
  }
  for (const std::string& n : notes) printf("note: %s\n", n.c_str());
}

bool Int(const Args& a, const char* flag, int def, int* out) {
  std::string v = a.Get(flag);
  if (v.empty()) return *out = def, true;
  char* end = nullptr;
  long x = strtol(v.c_str(), &end, 10);
  if (*end != '\0' || x < -1000000 || x > 1000000) return false;
  *out = static_cast<int>(x);
  return true;
}

LambdaZipOptions RuntimeOptions(const Args& a, const std::string& out) {
  LambdaZipOptions z;
  z.arch = a.Get("arch", "x86_64");
  z.out = out;
  z.runtime_binary = a.Get("runtime", BinariesFor(z.arch) + "/modelfn-fn");
  z.bootstrap_binary = a.Get("bootstrap", BinariesFor(z.arch) + "/modelfn-bootstrap");
  return z;
}

// The folder of a function's model version in a local store: the pinned (or canary) version,
// else the one current.json names.
StatusOr<std::string> LocalModelDir(const std::string& store_dir, const std::string& name,
                                    std::string version) {
  if (version.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(store_dir + "/" + name + "/current.json"));
    ASSIGN_OR_RETURN(Pointer p, Pointer::Parse(text));
    version = p.current.version;
  }
  return store_dir + "/" + name + "/versions/" + version;
}

// The version a function deploys: its pin, or for a canary the smaller-weight version (as
// RenderSamStack chooses it).
std::string DeployedVersion(const FunctionConfig& f) {
  if (f.traffic.size() != 2) return f.version;
  return f.traffic[1].weight <= f.traffic[0].weight ? f.traffic[1].version : f.traffic[0].version;
}

}  // namespace

int CmdPackageLambdaLayer(int argc, char** argv) {
  Args a(argc, argv, {"target", "model", "out", "arch", "runtime", "bootstrap"}, {"json", "help"});
  if (a.Has("help")) return fputs(kLayerUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty()) return Usage(kLayerUsage, a.error());
  const std::string out = a.Get("out", "modelfn-layer");
  mkdir(out.c_str(), 0755);
  std::vector<std::pair<std::string, Report>> reports;
  auto layer = BuildLambdaLayer(RuntimeOptions(a, out + "/layer.zip"));
  if (!layer.ok()) return Fail(layer.status());
  reports.push_back({"layer", {out + "/layer.zip", *layer}});
  if (a.Has("model")) {
    const std::string model = a.Get("model");
    const bool remote = HasStoreScheme(model);
    if (remote) {
      auto src = ParseModelSource(model);
      if (!src.ok()) return Fail(src.status());
    }
    auto fn = BuildModelZip(remote ? "" : model, remote ? model : "", out + "/function.zip");
    if (!fn.ok()) return Fail(fn.status());
    reports.push_back({"function", {out + "/function.zip", *fn}});
  }
  PrintReports(a.Has("json"), reports, {});
  return 0;
}

int CmdDeployAwsStack(int argc, char** argv) {
  Args a(argc, argv,
         {"target", "config", "out", "prefix", "arch", "ephemeral", "log-retention-days",
          "canary-minutes", "trigger-function", "trigger-bucket", "input-prefix", "output-prefix",
          "failure-prefix", "runtime", "bootstrap"},
         {"dry-run", "json", "help"});
  if (a.Has("help")) return fputs(kStackUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty() || a.Get("config").empty())
    return Usage(kStackUsage, a.ok() ? "--config is required" : a.error());
  auto config = LoadPlatformConfig(a.Get("config"));
  if (!config.ok()) return Fail(config.status());
  SamStackOptions o;
  // The config parsed: its text is YAML a second parse reads the same way.
  auto text = ReadFile(a.Get("config"));
  auto doc = text.ok() ? ParseYaml(*text) : StatusOr<Json>(text.status());
  if (!doc.ok()) return Fail(doc.status());
  for (const FunctionConfig& f : config->functions) {
    const Json* fns = doc->Find("functions");
    const Json* fn = fns != nullptr ? fns->Find(f.name) : nullptr;
    if (fn != nullptr && fn->is_object() && fn->Find("max_instances") != nullptr)
      o.configured_max.insert(f.name);
  }
  if (!Int(a, "ephemeral", o.ephemeral_mb, &o.ephemeral_mb) ||
      !Int(a, "log-retention-days", o.log_retention_days, &o.log_retention_days) ||
      !Int(a, "canary-minutes", o.canary_minutes, &o.canary_minutes)) {
    return Usage(kStackUsage, "numeric options take whole numbers");
  }
  o.name_prefix = a.Get("prefix", o.name_prefix);
  o.arch = a.Get("arch", o.arch);
  o.trigger_function = a.Get("trigger-function");
  o.trigger_bucket = a.Get("trigger-bucket");
  o.input_prefix = a.Get("input-prefix", o.input_prefix);
  o.output_prefix = a.Get("output-prefix", o.output_prefix);
  o.failure_prefix = a.Get("failure-prefix", o.failure_prefix);
  auto stack = RenderSamStack(*config, o);
  if (!stack.ok()) return Fail(stack.status());
  auto store = ParseStoreUri(config->store);
  if (!store.ok()) return Fail(store.status());
  const std::string out = a.Get("out", "modelfn-aws");
  mkdir(out.c_str(), 0755);
  mkdir((out + "/" + o.code_dir).c_str(), 0755);
  std::vector<std::pair<std::string, Report>> reports;
  auto layer = BuildLambdaLayer(RuntimeOptions(a, out + "/" + o.layer_uri));
  if (!layer.ok()) return Fail(layer.status());
  reports.push_back({"layer", {out + "/" + o.layer_uri, *layer}});
  for (const FunctionConfig& f : config->functions) {
    const std::string zip = out + "/" + o.code_dir + "/" + f.name + ".zip";
    StatusOr<LambdaZipReport> r = LambdaZipReport();
    if (store->kind == StoreUri::Kind::kLocal) {
      auto dir = LocalModelDir(store->path, f.model, DeployedVersion(f));
      r = dir.ok() ? BuildModelZip(*dir, "", zip) : StatusOr<LambdaZipReport>(dir.status());
    } else {
      const std::string version = DeployedVersion(f);
      r = BuildModelZip("", config->store + "/" + f.model + (version.empty() ? "" : "@" + version),
                        zip);
    }
    if (!r.ok())
      return Fail(Status(r.status().code(), "functions." + f.name + ": " + r.status().message(),
                         r.status().reason()));
    reports.push_back({"function:" + f.name, {zip, *r}});
  }
  const std::string path = out + "/template.yaml";
  if (Status s = WriteFileAtomic(path, stack->yaml); !s.ok()) return Fail(s);
  reports.push_back({"template", {path, {}}});
  PrintReports(a.Has("json"), reports, stack->notes);
  if (a.Has("dry-run")) return 0;
  if (system("command -v sam >/dev/null 2>&1") != 0) {
    return Fail(FailedPreconditionError(
        "the AWS SAM CLI (sam) is not installed: install it, or use --dry-run and deploy " + path +
        " yourself"));
  }
  std::string cmd = "cd '" + out + "' && sam deploy --template-file template.yaml --stack-name '" +
                    o.name_prefix + "' --resolve-s3 --capabilities CAPABILITY_IAM";
  return system(cmd.c_str()) == 0 ? 0 : 1;
}

}  // namespace modelfn

// modelfn deploy: the target's artifacts (AWS in package_cmds.cc; Google Cloud Run, Azure
// Functions and Knative here) and, without --dry-run, the platform's own CLI to apply them.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/files.h"
#include "common/json.h"
#include "faces/azure/arm_template.h"
#include "faces/gcp/cloud_run_service.h"
#include "faces/knative/knative_service.h"
#include "manifest/manifest.h"
#include "store/store_uri.h"

namespace modelfn {

int CmdDeployAws(int argc, char** argv);

namespace {

constexpr const char* kGcpUsage =
    "usage: modelfn deploy --target gcp --model DIR|gs://BUCKET/PREFIX/NAME[@V] --image IMAGE\n"
    "       --project PROJECT [--region REGION] [--name SERVICE] [--min-instances N]\n"
    "       [--max-instances N] [--concurrency N] [--cpu VCPU] [--memory MiB] [--timeout S]\n"
    "       [--no-cpu-boost] [--trigger-bucket NAME [--input-prefix incoming/]\n"
    "       [--output-prefix results/] [--failure-prefix failed/]] [--out DIR] [--dry-run] "
    "[--json]\n"
    "\n"
    "Writes OUT/service.yaml (a Cloud Run service for `gcloud run services replace`), with a\n"
    "trigger bucket OUT/eventarc-trigger.yaml, and OUT/commands.sh, the gcloud commands that "
    "create\n"
    "the service account (read access to the model's prefix only, by an IAM condition), apply the\n"
    "service and create the Eventarc trigger. --image is the `modelfn package --target cloud-run`\n"
    "image once pushed. Without --dry-run it runs those commands. OUT defaults to ./modelfn-gcp.\n";

constexpr const char* kKnativeUsage =
    "usage: modelfn deploy --target knative --model DIR|STORE-URI/NAME[@V] --image IMAGE\n"
    "       [--name SERVICE] [--namespace NS] [--min-scale N] [--max-scale N] [--concurrency N]\n"
    "       [--target-utilization PERCENT] [--cpu QUANTITY] [--memory QUANTITY] [--timeout S]\n"
    "       [--trigger [--broker NAME] [--trigger-bucket NAME] [--input-prefix incoming/]\n"
    "        [--output-prefix results/] [--failure-prefix failed/]] [--out DIR] [--dry-run] "
    "[--json]\n"
    "\n"
    "Writes OUT/service.yaml (a Knative Service) and, with --trigger, OUT/trigger.yaml (a Knative\n"
    "Eventing Trigger delivering the broker's object-upload CloudEvents to it). Without --dry-run\n"
    "it runs kubectl apply -f on them. OUT defaults to ./modelfn-knative.\n";

constexpr const char* kAzureUsage =
    "usage: modelfn deploy --target azure --model DIR|az://CONTAINER/PREFIX/NAME[@V]|\n"
    "       https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX/NAME[@V] --resource-group RG\n"
    "       [--model-account ACCOUNT] [--name APP] [--location LOC] [--storage-account NAME]\n"
    "       [--min-instances N] [--max-instances N] [--memory 512|2048|4096] [--package ZIP]\n"
    "       [--out DIR] [--dry-run] [--json]\n"
    "\n"
    "Writes OUT/azuredeploy.json, an ARM template: a Flex Consumption function app running the\n"
    "custom handler (always-ready instances for --min-instances), its storage account, a\n"
    "user-assigned managed identity with Storage Blob Data Reader on the model's container only,\n"
    "and OUT/commands.sh, the az commands that deploy it (and zip-deploy --package, the output of\n"
    "`modelfn package --target azure-functions`). Without --dry-run it runs them. OUT defaults to\n"
    "./modelfn-azure.\n";

// --target's value, wherever it is in argv.
std::string TargetOf(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) return argv[i + 1];
    if (strncmp(argv[i], "--target=", 9) == 0) return argv[i] + 9;
  }
  return "";
}

bool Num(const Args& a, const char* flag, int def, int* out) {
  std::string v = a.Get(flag);
  if (v.empty()) return *out = def, true;
  char* end = nullptr;
  long x = strtol(v.c_str(), &end, 10);
  if (*end != '\0' || x < -1000000 || x > 1000000) return false;
  *out = static_cast<int>(x);
  return true;
}

// The model's name and, for a store, its URI.
Status ModelOf(const std::string& model, std::string* name, std::string* uri) {
  if (HasStoreScheme(model)) {
    ASSIGN_OR_RETURN(ModelSourceUri src, ParseModelSource(model));
    *name = src.name;
    *uri = model;
    return Status();
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(model + "/manifest.json"));
  ASSIGN_OR_RETURN(Manifest m, ParseManifest(text));
  *name = m.name;
  return Status();
}

// A DNS-label service name from a model name.
std::string ServiceName(const std::string& model_name) {
  std::string s;
  for (char c : model_name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    s.push_back((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '-');
  }
  return s;
}

void Report(const Args& a, const std::vector<std::pair<std::string, std::string>>& files,
            const std::vector<std::string>& commands) {
  if (a.Has("json")) {
    std::string j;
    JsonWriter w(&j);
    w.BeginObject();
    for (const auto& [k, v] : files) w.Key(k).String(v);
    w.Key("commands").BeginArray();
    for (const std::string& c : commands) w.String(c);
    w.EndArray().EndObject();
    PrintJson(j);
    return;
  }
  for (const auto& [k, v] : files) printf("wrote %s\n", v.c_str());
  if (!commands.empty()) printf("\n# to apply:\n");
  for (const std::string& c : commands) printf("%s\n", c.c_str());
}

int RunAll(const std::vector<std::string>& commands, const char* tool) {
  std::string probe = std::string("command -v ") + tool + " >/dev/null 2>&1";
  if (system(probe.c_str()) != 0) {
    return Fail(FailedPreconditionError(std::string(tool) +
                                        " is not installed: install it, or use --dry-run and "
                                        "run the printed commands yourself"));
  }
  for (const std::string& c : commands) {
    fprintf(stderr, "+ %s\n", c.c_str());
    if (system(c.c_str()) != 0) return Fail(UnavailableError("command failed: " + c));
  }
  return 0;
}

int DeployGcp(int argc, char** argv) {
  Args a(argc, argv,
         {"target", "model", "image", "project", "region", "name", "min-instances", "max-instances",
          "concurrency", "cpu", "memory", "timeout", "trigger-bucket", "input-prefix",
          "output-prefix", "failure-prefix", "out"},
         {"no-cpu-boost", "dry-run", "json", "help"});
  if (a.Has("help")) return fputs(kGcpUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty() || !a.Has("model"))
    return Usage(kGcpUsage, a.ok() ? "--model is required" : a.error());
  CloudRunOptions o;
  std::string model_name;
  if (Status s = ModelOf(a.Get("model"), &model_name, &o.model_uri); !s.ok()) return Fail(s);
  if (!Num(a, "min-instances", 0, &o.min_instances) ||
      !Num(a, "max-instances", 10, &o.max_instances) || !Num(a, "concurrency", 8, &o.concurrency) ||
      !Num(a, "memory", 1024, &o.memory_mb) || !Num(a, "timeout", 300, &o.timeout_s)) {
    return Usage(kGcpUsage, "numeric options take whole numbers");
  }
  o.service = a.Get("name", ServiceName(model_name));
  o.project = a.Get("project");
  o.region = a.Get("region", o.region);
  o.image = a.Get("image");
  o.cpu = a.Get("cpu", o.cpu);
  o.cpu_boost = !a.Has("no-cpu-boost");
  o.trigger_bucket = a.Get("trigger-bucket");
  o.input_prefix = a.Get("input-prefix", o.input_prefix);
  o.output_prefix = a.Get("output-prefix", o.output_prefix);
  o.failure_prefix = a.Get("failure-prefix", o.failure_prefix);
  std::string out = a.Get("out", "modelfn-gcp");
  auto service = RenderCloudRunService(o);
  if (!service.ok()) return Fail(service.status());
  auto trigger = RenderEventarcTrigger(o);
  if (!trigger.ok()) return Fail(trigger.status());
  auto commands = GcloudCommands(o, out + "/service.yaml");
  if (!commands.ok()) return Fail(commands.status());
  mkdir(out.c_str(), 0755);
  std::vector<std::pair<std::string, std::string>> files = {{"service", out + "/service.yaml"}};
  if (Status s = WriteFileAtomic(out + "/service.yaml", *service); !s.ok()) return Fail(s);
  if (!trigger->empty()) {
    files.push_back({"trigger", out + "/eventarc-trigger.yaml"});
    if (Status s = WriteFileAtomic(out + "/eventarc-trigger.yaml", *trigger); !s.ok())
      return Fail(s);
  }
  std::string script = "#!/bin/sh\n# Applies " + out + "/service.yaml on Cloud Run.\nset -e\n";
  for (const std::string& c : *commands) script += c + "\n";
  files.push_back({"commands", out + "/commands.sh"});
  if (Status s = WriteFileAtomic(out + "/commands.sh", script); !s.ok()) return Fail(s);
  chmod((out + "/commands.sh").c_str(), 0755);
  Report(a, files, *commands);
  if (a.Has("dry-run")) return 0;
  return RunAll(*commands, "gcloud");
}

int DeployKnative(int argc, char** argv) {
  Args a(argc, argv,
         {"target", "model", "image", "name", "namespace", "min-scale", "max-scale", "concurrency",
          "target-utilization", "cpu", "memory", "timeout", "broker", "trigger-bucket",
          "input-prefix", "output-prefix", "failure-prefix", "out"},
         {"trigger", "dry-run", "json", "help"});
  if (a.Has("help")) return fputs(kKnativeUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty() || !a.Has("model"))
    return Usage(kKnativeUsage, a.ok() ? "--model is required" : a.error());
  KnativeOptions o;
  std::string model_name;
  if (Status s = ModelOf(a.Get("model"), &model_name, &o.model_uri); !s.ok()) return Fail(s);
  if (!Num(a, "min-scale", 0, &o.min_scale) || !Num(a, "max-scale", 10, &o.max_scale) ||
      !Num(a, "concurrency", 8, &o.concurrency) ||
      !Num(a, "target-utilization", 70, &o.target_utilization) ||
      !Num(a, "timeout", 300, &o.timeout_s)) {
    return Usage(kKnativeUsage, "numeric options take whole numbers");
  }
  o.name = a.Get("name", ServiceName(model_name));
  o.namespace_ = a.Get("namespace", o.namespace_);
  o.image = a.Get("image");
  o.cpu = a.Get("cpu", o.cpu);
  o.memory = a.Get("memory", o.memory);
  o.trigger = a.Has("trigger") || a.Has("trigger-bucket");
  o.broker = a.Get("broker", o.broker);
  o.trigger_bucket = a.Get("trigger-bucket");
  o.input_prefix = a.Get("input-prefix", o.input_prefix);
  o.output_prefix = a.Get("output-prefix", o.output_prefix);
  o.failure_prefix = a.Get("failure-prefix", o.failure_prefix);
  auto service = RenderKnativeService(o);
  if (!service.ok()) return Fail(service.status());
  auto trigger = RenderKnativeTrigger(o);
  if (!trigger.ok()) return Fail(trigger.status());
  std::string out = a.Get("out", "modelfn-knative");
  mkdir(out.c_str(), 0755);
  std::vector<std::pair<std::string, std::string>> files = {{"service", out + "/service.yaml"}};
  std::vector<std::string> commands = {"kubectl apply -f '" + out + "/service.yaml'"};
  if (Status s = WriteFileAtomic(out + "/service.yaml", *service); !s.ok()) return Fail(s);
  if (!trigger->empty()) {
    files.push_back({"trigger", out + "/trigger.yaml"});
    commands.push_back("kubectl apply -f '" + out + "/trigger.yaml'");
    if (Status s = WriteFileAtomic(out + "/trigger.yaml", *trigger); !s.ok()) return Fail(s);
  }
  Report(a, files, commands);
  if (a.Has("dry-run")) return 0;
  return RunAll(commands, "kubectl");
}

// A storage account name from an app name: lowercase letters and digits, at most 24.
std::string StorageAccountName(const std::string& app) {
  std::string s;
  for (char c : app) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) s.push_back(c);
  }
  return (s + "fnstore").substr(0, 24);
}

int DeployAzure(int argc, char** argv) {
  Args a(argc, argv,
         {"target", "model", "model-account", "resource-group", "name", "location",
          "storage-account", "min-instances", "max-instances", "memory", "package", "out"},
         {"dry-run", "json", "help"});
  if (a.Has("help")) return fputs(kAzureUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty() || !a.Has("model"))
    return Usage(kAzureUsage, a.ok() ? "--model is required" : a.error());
  AzureDeployOptions o;
  std::string model_name;
  if (Status s = ModelOf(a.Get("model"), &model_name, &o.model_uri); !s.ok()) return Fail(s);
  if (!Num(a, "min-instances", 0, &o.min_instances) ||
      !Num(a, "max-instances", 100, &o.max_instances) ||
      !Num(a, "memory", 2048, &o.instance_memory_mb)) {
    return Usage(kAzureUsage, "numeric options take whole numbers");
  }
  o.app = a.Get("name", ServiceName(model_name) + "-fn");
  o.resource_group = a.Get("resource-group");
  o.location = a.Get("location", o.location);
  o.storage_account = a.Get("storage-account", StorageAccountName(o.app));
  o.model_account = a.Get("model-account");
  o.package_zip = a.Get("package");
  std::string out = a.Get("out", "modelfn-azure");
  const std::string path = out + "/azuredeploy.json";
  auto arm = RenderAzureArmTemplate(o);
  if (!arm.ok()) return Fail(arm.status());
  auto commands = AzCommands(o, path);
  if (!commands.ok()) return Fail(commands.status());
  mkdir(out.c_str(), 0755);
  if (Status s = WriteFileAtomic(path, *arm); !s.ok()) return Fail(s);
  std::string script = "#!/bin/sh\n# Deploys " + path + " with the Azure CLI.\nset -e\n";
  for (const std::string& c : *commands) script += c + "\n";
  if (Status s = WriteFileAtomic(out + "/commands.sh", script); !s.ok()) return Fail(s);
  chmod((out + "/commands.sh").c_str(), 0755);
  Report(a, {{"template", path}, {"commands_file", out + "/commands.sh"}}, *commands);
  if (a.Has("dry-run")) return 0;
  return RunAll(*commands, "az");
}

}  // namespace

int CmdDeploy(int argc, char** argv) {
  std::string target = TargetOf(argc, argv);
  if (target == "gcp") return DeployGcp(argc, argv);
  if (target == "knative") return DeployKnative(argc, argv);
  if (target == "azure") return DeployAzure(argc, argv);
  return CmdDeployAws(argc, argv);
}

}  // namespace modelfn

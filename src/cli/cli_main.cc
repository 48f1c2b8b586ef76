// modelfn: the command-line tool. Model versions (manifest, push, promote, rollback, list, show,
// verify), least-privilege policies for a model store, packages, and the local platform. Each
// command group lives in its own file (commands.h, up_cmd.h); this one dispatches.
#include <cstdio>
#include <string>
#include <string_view>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/up_cmd.h"
#include "common/build_info.h"
#include "engine/ort_engine.h"

namespace modelfn {
namespace {

constexpr const char* kUsage =
    "usage: modelfn <command> [options]\n"
    "\n"
    "Model versions (store: --store URI or MODELFN_STORE; default ./models):\n"
    "  manifest MODEL.onnx --name N --version V   write manifest.json beside the model\n"
    "  push PATH --name N --version V            upload a model folder (or .onnx file) as a "
    "version\n"
    "  promote N V                               point N's current.json at version V\n"
    "  rollback N                                point it back at the previous version\n"
    "  list [N]                                  models, or the versions of N\n"
    "  show N[@V]                                a version's manifest and the pointer\n"
    "  verify N[@V]                              download and re-hash every file\n"
    "  policy N --provider aws|gcp|azure         least-privilege read-only policy for N\n"
    "  plan [profile] MODEL --traffic P   cost and latency on each cloud, from measurements\n"
    "  optimize N[@V]|DIR --version V2 [--quantize dynamic|static]   a faster version, checked\n"
    "                                            for accuracy on sample inputs\n"
    "\n"
    "Deployment:\n"
    "  package --target aws-lambda-zip --model DIR   self-contained Lambda zip (function.zip)\n"
    "  package --target cloud-run --model M          OCI image for Cloud Run and Knative\n"
    "  deploy --target aws --model M [--dry-run]     package + AWS SAM template (then sam deploy)\n"
    "  deploy --target gcp --model M --image I ...   Cloud Run service, Eventarc trigger, gcloud\n"
    "  deploy --target knative --model M --image I   Knative Service and Eventing Trigger\n"
    "\n"
    "Events:\n"
    "  generate-event s3 put --bucket B --key K  an event as a cloud sends it (also sqs,\n"
    "                                            apigateway, cloudevent storage, azure blob)\n"
    "  invoke --model DIR --event FILE           one cold run in the Lambda face, with timings\n"
    "  invoke FUNCTION --platform --event FILE   the same through a running modelfn up\n"
    "\n"
    "Local platform (modelfn.yaml):\n"
    "  init DIR [--template digits|sentiment|image]  a new project that modelfn up runs as it is\n"
    "  up [-f modelfn.yaml]                          gateway + instances on demand, scale to zero\n"
    "  status [--json]                               functions, instances, latency, cold starts\n"
    "  keys create|list|revoke                       API keys for the gateway\n"
    "  logs [-f] [--function F] [--since 10m]        the instances' logs, merged, followed\n"
    "\n"
    "modelfn --version [--json]: version, git revision, build type, ONNX Runtime version.\n"
    "Every command takes --help; data commands take --json. Store URIs: a path, file:///path,\n"
    "s3://bucket/prefix, gs://bucket/prefix, az://container/prefix.\n"
    "Exit codes: 0 success, 1 failure, 2 usage error.\n";

struct Command {
  std::string_view name;
  int (*run)(int argc, char** argv);
};

constexpr Command kCommands[] = {
    {"manifest", CmdManifest}, {"push", CmdPush},     {"promote", CmdPromote},
    {"rollback", CmdRollback}, {"list", CmdList},     {"show", CmdShow},
    {"verify", CmdVerify},     {"policy", CmdPolicy}, {"package", CmdPackage},
    {"deploy", CmdDeploy},     {"up", CmdUp},         {"status", CmdStatus},
    {"keys", CmdKeys},         {"logs", CmdLogs},     {"init", CmdInit},
    {"optimize", CmdOptimize}, {"invoke", CmdInvoke}, {"generate-event", CmdGenerateEvent},
    {"plan", CmdPlan},
};

int Main(int argc, char** argv) {
  OrtEngine::PrepareProcess();
  if (argc < 2) return Usage(kUsage);
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") return fputs(kUsage, stdout), 0;
  if (cmd == "--version" || cmd == "-V") {
    bool json = argc > 2 && std::string_view(argv[2]) == "--json";
    std::string ort = OrtEngine::RuntimeVersion();
    puts((json ? VersionJson("modelfn", ort) : VersionText("modelfn", ort)).c_str());
    return 0;
  }
  for (const Command& c : kCommands) {
    if (c.name == cmd) return c.run(argc - 2, argv + 2);
  }
  return Usage(kUsage, "unknown command '" + cmd + "'");
}

}  // namespace
}  // namespace modelfn

int main(int argc, char** argv) { return modelfn::Main(argc, argv); }

// `modelfn package --target azure-functions`: the Azure Functions app zip
// (faces/azure/function_app.h).
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/json.h"
#include "faces/azure/function_app.h"

namespace modelfn {
namespace {

constexpr const char* kUsage =
    "usage: modelfn package --target azure-functions --model DIR [--out function-app.zip]\n"
    "           [--container NAME] [--input-prefix P/] [--queue NAME] [--runtime PATH]\n"
    "           [--bootstrap PATH] [--json]\n"
    "  An Azure Functions app for the custom handler, zipped for zip deploy: host.json (extension\n"
    "  bundle, customHandler, enableForwardingHttpRequest), infer/ (HTTP, /api/...), BlobInfer/\n"
    "  (blob trigger on CONTAINER/P{name}, default workitems/incoming/), QueueInfer/ (queue\n"
    "  trigger on NAME, default infer-requests, answers to NAME-results), the runtime with its\n"
    "  libraries and the model folder (verified against its manifest).\n";

}  // namespace

int CmdPackageAzureFunctions(int argc, char** argv) {
  Args a(argc, argv,
         {"target", "model", "out", "container", "input-prefix", "queue", "runtime", "bootstrap"},
         {"json", "help"});
  if (a.Has("help")) return fputs(kUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty() || !a.Has("model"))
    return Usage(kUsage, a.ok() ? "" : a.error());
  AzureAppOptions o;
  o.files.model_dir = a.Get("model");
  o.files.out = a.Get("out", "function-app.zip");
  o.files.runtime_binary = a.Get("runtime", SelfDir() + "/modelfn-fn");
  o.files.bootstrap_binary = a.Get("bootstrap", SelfDir() + "/modelfn-bootstrap");
  o.container = a.Get("container", o.container);
  o.input_prefix = a.Get("input-prefix", o.input_prefix);
  o.queue = a.Get("queue", o.queue);
  auto r = BuildAzureFunctionApp(o);
  if (!r.ok()) return Fail(r.status());
  if (a.Has("json")) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Key("out").String(o.files.out).Key("zipped_bytes").Uint(r->zipped_bytes);
    w.Key("unzipped_bytes").Uint(r->unzipped_bytes).Key("functions").BeginArray();
    for (const auto& f : r->functions) w.String(f);
    w.EndArray().Key("files").BeginArray();
    for (const auto& f : r->entries) w.String(f);
    w.EndArray().EndObject();
    PrintJson(out);
  } else {
    printf("wrote %s: %.1f MB zipped, %.1f MB unzipped, functions infer, BlobInfer, QueueInfer\n",
           o.files.out.c_str(), r->zipped_bytes / 1048576.0, r->unzipped_bytes / 1048576.0);
  }
  return 0;
}

}  // namespace modelfn

// `modelfn package --target azure-functions`: an Azure Functions app folder for the custom
// handler, zipped for zip deploy / run-from-package.
//
//   host.json                the extension bundle, customHandler (defaultExecutablePath
//                            "bootstrap", arguments --model model) and
//                            enableForwardingHttpRequest
//   infer/function.json      HTTP trigger (forwarded: /api/infer, /api/v1/..., /api/v2/...)
//   BlobInfer/function.json  blob trigger on <container>/<input prefix>{name} (batch inference;
//                            results written beside the blob by modelfn-fn)
//   QueueInfer/function.json queue trigger on <queue>, the answer to <queue>-results ($return)
//   bootstrap, bin/, lib/, model/   as in the Lambda zip (package/lambda_zip.h): the runtime with
//                            its own loader and libraries, the verified model
// The JSON files are shaped after Microsoft's custom handler, blob and queue trigger documents.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "package/lambda_zip.h"

namespace modelfn {

struct AzureAppOptions {
  LambdaZipOptions files;  // runtime, bootstrap, model, arch; files.out is the zip to write
  std::string container = "workitems";  // watched by the blob trigger
  std::string input_prefix = "incoming/";
  std::string queue = "infer-requests";  // the queue trigger's queue; answers to <queue>-results
};

struct AzureAppReport {
  uint64_t zipped_bytes = 0;
  uint64_t unzipped_bytes = 0;
  std::vector<std::string> functions;  // the function folders
  std::vector<std::string> entries;    // every file's name in the zip
};

// The app's generated files, (name in the app, contents): host.json and one function.json per
// trigger. Pure.
std::vector<std::pair<std::string, std::string>> AzureAppFiles(const AzureAppOptions& options);

// Builds the zip. InvalidArgument for a container, prefix or queue name Azure does not accept;
// DataLoss when the model folder does not match its manifest.
StatusOr<AzureAppReport> BuildAzureFunctionApp(const AzureAppOptions& options);

}  // namespace modelfn

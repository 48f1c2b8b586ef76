// libFuzzer target: an Azure Functions invocation payload never crashes the parser; every refusal
// carries a problem code, an accepted payload has a Data member for its trigger, and what each
// trigger reads from it (blob name, message text, HTTP request) is read without a crash, an
// HTTP request's path always absolute.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "faces/azure/invocation.h"

using namespace modelfn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto inv = ParseAzureInvocation(body);
  if (!inv.ok()) {
    if (inv.status().reason().empty()) abort();  // every refusal is typed
    return 0;
  }
  if (inv->data.Find(inv->binding) == nullptr) abort();
  switch (inv->trigger) {
    case AzureTrigger::kBlob: {
      auto blob = BlobOf(*inv);
      if (blob.ok() && (blob->container.empty() || blob->name.empty())) abort();
      break;
    }
    case AzureTrigger::kMessage:
      (void)MessageOf(*inv);
      break;
    case AzureTrigger::kHttp: {
      auto req = HttpRequestOf(*inv);
      if (!req.ok() && req.status().reason().empty()) abort();
      if (req.ok() && (req->path.empty() || req->path[0] != '/')) abort();
      break;
    }
  }
  (void)ForwardedRoute(body, "api");
  (void)IsInvocationPath(body, "api");
  return 0;
}

// libFuzzer target: the handler core with the real ONNX Runtime engine (tests/models/add2) never
// crashes and always answers a well-formed JSON body with a status in 200-599, whatever the request
// body. The first byte picks the route; for the binary extension the second byte splits the body.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "add2_core.h"
#include "common/json.h"

using namespace modelfn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const char* kPaths[] = {"/v1/infer", "/v1/batch", "/v2/models/add2/infer",
                                 "/v2/models/add2/infer"};
  int route = data[0] % 4;
  std::string body(reinterpret_cast<const char*>(data + 2), size - 2);
  std::string ihcl = std::to_string(data[1] < body.size() ? data[1] : body.size());
  Invocation inv;
  inv.method = "POST";
  inv.path = kPaths[route];
  inv.body = body;
  if (route == 3) inv.inference_header_length = &ihcl;
  Outcome o = fuzz::Add2Core().Handle(inv);
  if (o.status < 200 || o.status > 599) abort();
  bool binary = false;
  for (const auto& [k, v] : o.headers) binary |= k == "Inference-Header-Content-Length";
  if (!binary && !Json::Parse(o.body).ok()) abort();
  return 0;
}

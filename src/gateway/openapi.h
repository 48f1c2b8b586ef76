// /openapi.json of the gateway: OpenAPI 3.1, one infer and one batch operation per function, with
// request and response schemas built from the function's manifest (input and output names,
// datatypes as JSON types, fixed dimensions as item counts), problem+json errors, and the security
// schemes the gateway enforces.
#pragma once

#include <string>
#include <vector>

#include "manifest/manifest.h"

namespace modelfn {

struct OpenApiFunction {
  std::string name;
  const Manifest* manifest;  // its (first) version's manifest
  bool lambda_mode = false;  // Lambda's Invoke API applies to it
};

std::string BuildOpenApi(const std::vector<OpenApiFunction>& functions, const std::string& url,
                         bool api_keys, bool jwt);

}  // namespace modelfn

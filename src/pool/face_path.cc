#include "pool/face_path.h"

#include "pool/forward_types.h"

namespace modelfn {

std::string InstancePath(InstanceFace face, std::string_view path) {
  if (face != InstanceFace::kAzure) return std::string(path);
  const std::string_view invoke = kAzureInvokePrefix;
  if (path.substr(0, invoke.size()) == invoke) return "/" + std::string(path.substr(invoke.size()));
  for (std::string_view short_route : {"/v1/infer", "/v1/batch", "/v1/health", "/v1/models"}) {
    if (path == short_route) return "/api" + std::string(path.substr(3));
  }
  return "/api" + std::string(path);
}

}  // namespace modelfn

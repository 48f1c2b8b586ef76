#include "pool/face_path.h"

namespace modelfn {

std::string InstancePath(InstanceFace face, std::string_view path) {
  if (face != InstanceFace::kAzure) return std::string(path);
  for (std::string_view short_route : {"/v1/infer", "/v1/batch", "/v1/health", "/v1/models"}) {
    if (path == short_route) return "/api" + std::string(path.substr(3));
  }
  return "/api" + std::string(path);
}

}  // namespace modelfn

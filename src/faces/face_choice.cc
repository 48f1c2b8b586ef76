#include "faces/face_choice.h"

namespace modelfn {
namespace {

std::optional<std::string> NonEmpty(const EnvFn& env, const char* name) {
  auto v = env(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

Status Bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}

}  // namespace

const char* FaceName(Face face) {
  switch (face) {
    case Face::kLambda:
      return "lambda";
    case Face::kHttp:
      return "http";
    case Face::kCloudEvents:
      return "cloudevents";
    case Face::kAzure:
      return "azure";
  }
  return "http";
}

StatusOr<FaceChoice> ChooseFace(const std::optional<std::string>& flag, const EnvFn& env) {
  auto lambda_api = NonEmpty(env, "AWS_LAMBDA_RUNTIME_API");
  auto azure_port = NonEmpty(env, "FUNCTIONS_CUSTOMHANDLER_PORT");
  FaceChoice c;
  if (flag) {
    c.reason = "flag --face " + *flag;
    if (*flag == "lambda") {
      if (!lambda_api) return Bad("--face lambda needs AWS_LAMBDA_RUNTIME_API (host:port)");
      c.face = Face::kLambda;
      c.endpoint = *lambda_api;
    } else if (*flag == "azure") {
      if (!azure_port) return Bad("--face azure needs FUNCTIONS_CUSTOMHANDLER_PORT");
      c.face = Face::kAzure;
      c.endpoint = *azure_port;
    } else if (*flag == "http") {
      c.face = Face::kHttp;
    } else if (*flag == "cloudevents") {
      c.face = Face::kCloudEvents;
    } else {
      return Bad("unknown face '" + *flag + "' (lambda, http, cloudevents or azure)");
    }
    return c;
  }
  if (lambda_api) {
    c.face = Face::kLambda;
    c.endpoint = *lambda_api;
    c.reason = "env AWS_LAMBDA_RUNTIME_API";
  } else if (azure_port) {
    c.face = Face::kAzure;
    c.endpoint = *azure_port;
    c.reason = "env FUNCTIONS_CUSTOMHANDLER_PORT";
  } else if (NonEmpty(env, "K_SERVICE")) {
    c.face = Face::kCloudEvents;
    c.reason = "env K_SERVICE";
  } else if (NonEmpty(env, "PORT")) {
    c.face = Face::kHttp;
    c.reason = "env PORT";
  } else {
    c.face = Face::kHttp;
    c.reason = "default";
  }
  return c;
}

}  // namespace modelfn

// Which face modelfn-fn serves: the platform it runs on, told by its environment or a flag.
//
//   --face NAME                    wins over the environment (lambda | http | cloudevents | azure);
//   AWS_LAMBDA_RUNTIME_API         lambda: the Runtime API loop (faces/aws/lambda_runtime.h);
//   FUNCTIONS_CUSTOMHANDLER_PORT   azure: HTTP on that port (Azure Functions custom handler);
//   K_SERVICE                      cloudevents: HTTP on $PORT plus CloudEvents (Cloud Run, Cloud
//                                  Functions 2nd gen, Knative set it);
//   PORT, or nothing               http: HTTP on $PORT (default 8080).
// The first that applies, in this order, is chosen.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "store/aws_auth.h"

namespace modelfn {

enum class Face { kLambda, kHttp, kCloudEvents, kAzure };

// "lambda", "http", "cloudevents", "azure".
const char* FaceName(Face face);

struct FaceChoice {
  Face face = Face::kHttp;
  std::string reason;  // for the init log line, e.g. "env K_SERVICE"
  // lambda: the Runtime API address; azure: the port from FUNCTIONS_CUSTOMHANDLER_PORT.
  std::string endpoint;
};

// Pure: the environment in, the face out. InvalidArgument (reason "invalid_request") for an
// unknown --face name, for --face lambda without AWS_LAMBDA_RUNTIME_API, and for --face azure
// without FUNCTIONS_CUSTOMHANDLER_PORT (nothing to serve on).
StatusOr<FaceChoice> ChooseFace(const std::optional<std::string>& flag, const EnvFn& env);

}  // namespace modelfn

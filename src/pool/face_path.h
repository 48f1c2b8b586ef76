// The path an http-mode instance is sent a request on, by the face it runs (platform/config.h
// InstanceFace): the gateway speaks the function's own routes ("/v1/infer"); an Azure Functions
// host forwards an HTTP trigger's request under its route prefix ("/api/infer"), which the azure
// face maps back (faces/azure/invocation.h ForwardedRoute). Pure.
#pragma once

#include <string>
#include <string_view>

#include "platform/config.h"

namespace modelfn {

// kAzure: "/v1/infer" -> "/api/infer" (also /v1/batch, /v1/health, /v1/models), any other path P ->
// "/api" + P, and an invocation kAzureInvokePrefix + NAME (forward_types.h) -> "/NAME", where the
// host posts invocation payloads. Other faces: `path` unchanged.
std::string InstancePath(InstanceFace face, std::string_view path);

}  // namespace modelfn

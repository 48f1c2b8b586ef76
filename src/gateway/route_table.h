// The routes the gateway answers itself (health, models, OpenAPI, dashboard, metrics, status):
// a fixed table built at start, read by the route, authenticate and local-route stages.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "http/request_parser.h"
#include "http/response_writer.h"

namespace modelfn::gateway {

struct LocalRoute {
  std::string path;          // exact match
  std::string content_type;  // of the answer
  // Renders the answer's body. Called from any thread; must be thread-safe.
  std::function<std::string()> body;
  // False for routes served to anyone when auth is on (health, the dashboard page, and
  // gateway.public_routes).
  bool needs_auth = true;
  // When set, renders instead from the request (content negotiation), setting the type.
  std::function<std::string(const HttpRequest&, std::string* content_type)> negotiated = nullptr;
  // When set, answers later (work too slow for an event loop, such as a plan): called on the
  // loop, it must call `done` exactly once, from any thread, with the whole response.
  std::function<void(const HttpRequest&, std::function<void(HttpResponse)> done)> deferred =
      nullptr;
};

class RouteTable {
 public:
  explicit RouteTable(std::vector<LocalRoute> routes) : routes_(std::move(routes)) {}
  // The route for `path`, or nullptr. The pointer lives as long as the table.
  const LocalRoute* Find(std::string_view path) const;
  // Whether `path` needs credentials when auth is on: everything but the open local routes.
  bool NeedsAuth(std::string_view path) const;

 private:
  std::vector<LocalRoute> routes_;
};

}  // namespace modelfn::gateway

#include "gateway/route_table.h"

namespace modelfn::gateway {

const LocalRoute* RouteTable::Find(std::string_view path) const {
  for (const auto& r : routes_) {
    if (r.path == path) return &r;
  }
  return nullptr;
}

bool RouteTable::NeedsAuth(std::string_view path) const {
  const LocalRoute* r = Find(path);
  return r == nullptr || r->needs_auth;
}

}  // namespace modelfn::gateway

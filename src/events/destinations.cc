#include "events/destinations.h"

#include <sys/stat.h>

#include "store/open_store.h"
#include "store/store_uri.h"

namespace modelfn::events {

Status StoreDestinations::Write(const std::string& destination, const std::string& name,
                                const std::string& json) {
  ObjectStore* store = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = stores_.find(destination);
    if (it == stores_.end()) {
      ASSIGN_OR_RETURN(StoreUri uri, ParseStoreUri(destination));
      if (uri.kind == StoreUri::Kind::kLocal) mkdir(uri.path.c_str(), 0755);
      ASSIGN_OR_RETURN(auto opened, OpenStore(uri, clock_));
      it = stores_.emplace(destination, std::move(opened)).first;
    }
    store = it->second.get();
  }
  PutOptions options;
  options.content_type = "application/json";
  return store->Put(name, json, options).status();
}

}  // namespace modelfn::events

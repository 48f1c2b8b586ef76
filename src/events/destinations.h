// Destinations of ended asynchronous invocations: a folder or a store URI prefix (file://, s3://,
// gs://, az://), each opened once with credentials from the environment (store/open_store.h).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "events/async_dispatcher.h"
#include "store/object_store.h"

namespace modelfn::events {

class StoreDestinations final : public DestinationWriter {
 public:
  explicit StoreDestinations(const Clock* clock) : clock_(clock) {}
  // Writes `json` as `name` under `destination`. Errors: the URI's (InvalidArgument), the
  // store's.
  Status Write(const std::string& destination, const std::string& name,
               const std::string& json) override;

 private:
  const Clock* clock_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<ObjectStore>> stores_;
};

// A destination that records writes in memory, for tests.
class MemoryDestinations final : public DestinationWriter {
 public:
  Status Write(const std::string& destination, const std::string& name,
               const std::string& json) override {
    std::lock_guard<std::mutex> lock(mu_);
    written[destination + "/" + name] = json;
    return Status::Ok();
  }
  std::map<std::string, std::string> Written() {
    std::lock_guard<std::mutex> lock(mu_);
    return written;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> written;
};

}  // namespace modelfn::events

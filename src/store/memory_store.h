// An in-memory ObjectStore for unit tests. Thread-safe. Etags count writes.
#pragma once

#include <map>
#include <mutex>

#include "store/object_store.h"

namespace modelfn {

class MemoryStore final : public ObjectStore {
 public:
  StatusOr<std::string> Get(const std::string& key) override;
  StatusOr<ObjectInfo> GetToFile(const std::string& key, const std::string& path,
                                 const ProgressFn& progress) override;
  StatusOr<ObjectInfo> Head(const std::string& key) override;
  StatusOr<ObjectInfo> Put(const std::string& key, std::string_view data,
                           const PutOptions& options) override;
  StatusOr<ObjectInfo> PutFile(const std::string& key, const std::string& path,
                               const PutOptions& options) override;
  StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  std::string Describe() const override { return "memory://"; }

  // Test access: replaces bytes without changing the etag (simulates tampering at rest).
  void Tamper(const std::string& key, std::string data);

 private:
  struct Object {
    std::string data;
    std::string etag;
  };
  std::mutex mu_;
  std::map<std::string, Object> objects_;
  uint64_t next_etag_ = 1;
};

}  // namespace modelfn

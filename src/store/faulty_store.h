// Wraps an ObjectStore and injects faults, for tests of what callers do when the store fails:
// every call can be made to fail after N successes, and reads can be truncated or corrupted.
#pragma once

#include <atomic>
#include <memory>

#include "store/object_store.h"

namespace modelfn {

class FaultyStore final : public ObjectStore {
 public:
  explicit FaultyStore(ObjectStore* base) : base_(base) {}

  // After `n` more successful calls (of any kind), every call fails with `error` until Heal().
  void FailAfter(int n, Status error);
  void Heal() { fail_after_ = -1; }
  // Reads return only the first half of the bytes (GetToFile writes half, reports success).
  void TruncateReads(bool on) { truncate_ = on; }
  // Reads flip one bit in the middle of the bytes.
  void CorruptReads(bool on) { corrupt_ = on; }
  int calls() const { return calls_; }

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
  std::string Describe() const override { return base_->Describe(); }

 private:
  Status Check();
  std::string Mangle(std::string data) const;

  ObjectStore* base_;
  std::atomic<int> fail_after_{-1};
  Status error_;
  std::atomic<int> calls_{0};
  std::atomic<bool> truncate_{false};
  std::atomic<bool> corrupt_{false};
};

}  // namespace modelfn

#include "store/memory_store.h"

#include "common/files.h"

namespace modelfn {

StatusOr<std::string> MemoryStore::Get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return NotFoundError("no object " + key);
  return it->second.data;
}

StatusOr<ObjectInfo> MemoryStore::GetToFile(const std::string& key, const std::string& path,
                                            const ProgressFn& progress) {
  ASSIGN_OR_RETURN(ObjectInfo info, Head(key));
  ASSIGN_OR_RETURN(std::string data, Get(key));
  RETURN_IF_ERROR(WriteFileAtomic(path, data));
  if (progress) progress(data.size(), data.size());
  return info;
}

StatusOr<ObjectInfo> MemoryStore::Head(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return NotFoundError("no object " + key);
  return ObjectInfo{key, it->second.data.size(), it->second.etag};
}

StatusOr<ObjectInfo> MemoryStore::Put(const std::string& key, std::string_view data,
                                      const PutOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(key);
  if (options.condition == PutOptions::Condition::kIfAbsent && it != objects_.end()) {
    return PreconditionFailed(key + " already exists");
  }
  if (options.condition == PutOptions::Condition::kIfMatch &&
      (it == objects_.end() || it->second.etag != options.if_match)) {
    return PreconditionFailed(key + " changed since it was read");
  }
  Object& o = objects_[key];
  o.data = std::string(data);
  o.etag = "m" + std::to_string(next_etag_++);
  return ObjectInfo{key, o.data.size(), o.etag};
}

StatusOr<ObjectInfo> MemoryStore::PutFile(const std::string& key, const std::string& path,
                                          const PutOptions& options) {
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  return Put(key, data, options);
}

StatusOr<std::vector<ObjectInfo>> MemoryStore::List(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ObjectInfo> out;
  for (auto it = objects_.lower_bound(prefix); it != objects_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back({it->first, it->second.data.size(), it->second.etag});
  }
  return out;
}

Status MemoryStore::Delete(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  objects_.erase(key);
  return Status::Ok();
}

void MemoryStore::Tamper(const std::string& key, std::string data) {
  std::lock_guard<std::mutex> lock(mu_);
  objects_[key].data = std::move(data);
}

}  // namespace modelfn

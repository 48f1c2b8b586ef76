#include "store/faulty_store.h"

#include "common/files.h"

namespace modelfn {

void FaultyStore::FailAfter(int n, Status error) {
  error_ = std::move(error);
  fail_after_ = n;
}

Status FaultyStore::Check() {
  ++calls_;
  int left = fail_after_.load();
  if (left < 0) return Status::Ok();
  if (left == 0) return error_;
  fail_after_ = left - 1;
  return Status::Ok();
}

std::string FaultyStore::Mangle(std::string data) const {
  if (truncate_) data.resize(data.size() / 2);
  if (corrupt_ && !data.empty()) data[data.size() / 2] ^= 0x10;
  return data;
}

StatusOr<std::string> FaultyStore::Get(const std::string& key) {
  RETURN_IF_ERROR(Check());
  ASSIGN_OR_RETURN(std::string data, base_->Get(key));
  return Mangle(std::move(data));
}

StatusOr<ObjectInfo> FaultyStore::GetToFile(const std::string& key, const std::string& path,
                                            const ProgressFn& progress) {
  RETURN_IF_ERROR(Check());
  ASSIGN_OR_RETURN(ObjectInfo info, base_->GetToFile(key, path, progress));
  if (truncate_ || corrupt_) {
    ASSIGN_OR_RETURN(std::string data, ReadFile(path));
    RETURN_IF_ERROR(WriteFileAtomic(path, Mangle(std::move(data))));
  }
  return info;
}

StatusOr<ObjectInfo> FaultyStore::Head(const std::string& key) {
  RETURN_IF_ERROR(Check());
  return base_->Head(key);
}

StatusOr<ObjectInfo> FaultyStore::Put(const std::string& key, std::string_view data,
                                      const PutOptions& options) {
  RETURN_IF_ERROR(Check());
  return base_->Put(key, data, options);
}

StatusOr<ObjectInfo> FaultyStore::PutFile(const std::string& key, const std::string& path,
                                          const PutOptions& options) {
  RETURN_IF_ERROR(Check());
  return base_->PutFile(key, path, options);
}

StatusOr<std::vector<ObjectInfo>> FaultyStore::List(const std::string& prefix) {
  RETURN_IF_ERROR(Check());
  return base_->List(prefix);
}

Status FaultyStore::Delete(const std::string& key) {
  RETURN_IF_ERROR(Check());
  return base_->Delete(key);
}

}  // namespace modelfn

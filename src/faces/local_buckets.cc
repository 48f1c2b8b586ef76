#include "faces/local_buckets.h"

#include "store/local_store.h"

namespace modelfn {

std::map<std::string, std::string> ParseLocalBuckets(const std::string& value) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    std::string entry =
        value.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t eq = entry.find('=');
    if (eq != std::string::npos && eq > 0 && eq + 1 < entry.size() && entry[eq + 1] == '/')
      out[entry.substr(0, eq)] = entry.substr(eq + 1);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

BucketOpener WithLocalBuckets(
    const std::function<std::optional<std::string>(const std::string&)>& env, BucketOpener cloud) {
  auto value = env("MODELFN_LOCAL_BUCKETS");
  auto folders = ParseLocalBuckets(value.value_or(""));
  if (folders.empty()) return cloud;
  return [folders, cloud](const std::string& bucket) -> StatusOr<std::unique_ptr<ObjectStore>> {
    if (auto it = folders.find(bucket); it != folders.end())
      return std::unique_ptr<ObjectStore>(new LocalStore(it->second));
    return cloud(bucket);
  };
}

}  // namespace modelfn

#include "store/store_uri.h"

#include <climits>
#include <cstdlib>

namespace modelfn {
namespace {

Status Bad(std::string_view uri, const std::string& why) {
  return Status(StatusCode::kInvalidArgument,
                "invalid store URI '" + std::string(uri) + "': " + why, "invalid_request");
}

std::string Trim(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == '/') ++i;
  return s.substr(i);
}

}  // namespace

bool HasStoreScheme(std::string_view s) {
  for (const char* p : {"file://", "s3://", "gs://", "az://", "https://", "http://"}) {
    if (s.rfind(p, 0) == 0) return true;
  }
  return false;
}

std::string StoreUri::ToString() const {
  switch (kind) {
    case Kind::kLocal:
      return "file://" + path;
    case Kind::kS3:
      return "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix);
    case Kind::kGcs:
      return "gs://" + bucket + (prefix.empty() ? "" : "/" + prefix);
    case Kind::kAzure:
      return (account.empty() ? "az://" : "https://" + account + ".blob.core.windows.net/") +
             bucket + (prefix.empty() ? "" : "/" + prefix);
  }
  return "";
}

StatusOr<StoreUri> ParseStoreUri(std::string_view uri) {
  StoreUri u;
  auto bucket_and_prefix = [&](std::string_view rest) -> Status {
    size_t slash = rest.find('/');
    u.bucket = std::string(rest.substr(0, slash));
    u.prefix = slash == std::string_view::npos ? "" : Trim(std::string(rest.substr(slash + 1)));
    if (u.bucket.empty()) return Bad(uri, "no bucket or container");
    if (u.prefix.find("//") != std::string::npos || u.prefix.find("..") != std::string::npos) {
      return Bad(uri, "the prefix has an empty or '..' segment");
    }
    return Status::Ok();
  };
  if (uri.rfind("s3://", 0) == 0) {
    u.kind = StoreUri::Kind::kS3;
    RETURN_IF_ERROR(bucket_and_prefix(uri.substr(5)));
  } else if (uri.rfind("gs://", 0) == 0) {
    u.kind = StoreUri::Kind::kGcs;
    RETURN_IF_ERROR(bucket_and_prefix(uri.substr(5)));
  } else if (uri.rfind("az://", 0) == 0) {
    u.kind = StoreUri::Kind::kAzure;
    RETURN_IF_ERROR(bucket_and_prefix(uri.substr(5)));
  } else if (uri.rfind("https://", 0) == 0) {
    std::string_view rest = uri.substr(8);
    size_t slash = rest.find('/');
    std::string_view host = rest.substr(0, slash);
    const std::string_view suffix = ".blob.core.windows.net";
    if (host.size() <= suffix.size() || host.substr(host.size() - suffix.size()) != suffix) {
      return Bad(uri,
                 "https URLs are accepted for Azure Blob (ACCOUNT.blob.core.windows.net) only");
    }
    u.kind = StoreUri::Kind::kAzure;
    u.account = std::string(host.substr(0, host.size() - suffix.size()));
    if (slash == std::string_view::npos) return Bad(uri, "no container");
    RETURN_IF_ERROR(bucket_and_prefix(rest.substr(slash + 1)));
  } else if (uri.rfind("file://", 0) == 0) {
    u.kind = StoreUri::Kind::kLocal;
    u.path = std::string(uri.substr(7));
    if (u.path.empty() || u.path[0] != '/') return Bad(uri, "file:// needs an absolute path");
  } else if (uri.find("://") != std::string_view::npos) {
    return Bad(uri, "unknown scheme (use a path, file://, s3://, gs:// or az://)");
  } else {
    u.kind = StoreUri::Kind::kLocal;
    u.path = std::string(uri);
    if (u.path.empty()) return Bad(uri, "empty path");
  }
  if (u.kind == StoreUri::Kind::kLocal) {
    char real[PATH_MAX];
    if (realpath(u.path.c_str(), real) != nullptr) u.path = real;  // may not exist yet: keep as is
    while (u.path.size() > 1 && u.path.back() == '/') u.path.pop_back();
  }
  return u;
}

StatusOr<ModelSourceUri> ParseModelSource(std::string_view uri) {
  std::string s(uri);
  ModelSourceUri out;
  size_t at = s.rfind('@');
  size_t last_slash = s.rfind('/');
  if (at != std::string::npos && (last_slash == std::string::npos || at > last_slash)) {
    out.version = s.substr(at + 1);
    s = s.substr(0, at);
  }
  while (!s.empty() && s.back() == '/') s.pop_back();
  last_slash = s.rfind('/');
  if (last_slash == std::string::npos || last_slash + 1 >= s.size()) {
    return Bad(uri, "expected STORE/NAME[@VERSION], e.g. s3://bucket/models/digits@1.0.0");
  }
  out.name = s.substr(last_slash + 1);
  std::string store = s.substr(0, last_slash);
  if (store.size() >= 2 && store.compare(store.size() - 2, 2, ":/") == 0) {
    return Bad(uri, "expected STORE/NAME[@VERSION]: the bucket itself cannot be the model");
  }
  if (store.size() > 1 && store.back() == ':') return Bad(uri, "malformed URI");
  ASSIGN_OR_RETURN(out.store, ParseStoreUri(store));
  return out;
}

}  // namespace modelfn

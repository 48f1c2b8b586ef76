// SHA-256 of bytes and of files (OpenSSL's libcrypto), as lowercase hex.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelfn {

std::string Sha256Hex(std::string_view bytes);

struct FileDigest {
  std::string sha256;  // lowercase hex
  uint64_t size = 0;
};
// Streams the file through SHA-256. NotFound if it does not exist, Unavailable on read errors.
StatusOr<FileDigest> Sha256File(const std::string& path);

}  // namespace modelfn

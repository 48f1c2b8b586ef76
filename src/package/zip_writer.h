// Writes ZIP archives (deflate via zlib, Unix permissions in the external attributes, so an
// executable `bootstrap` stays executable when Lambda unpacks it). No ZIP64: entries and the
// archive stay under 4 GiB, far above Lambda's limits.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {

class ZipWriter {
 public:
  // Creates or truncates `path`. Check status() before use.
  explicit ZipWriter(const std::string& path);
  ~ZipWriter();
  Status status() const { return status_; }

  // Adds an entry; `mode` is the Unix mode (0644, 0755). Directories are implied by names.
  Status Add(const std::string& name, std::string_view data, uint32_t mode);
  Status AddFile(const std::string& name, const std::string& path, uint32_t mode);
  // Adds a file stored without compression, read in blocks (twice: its CRC, then its bytes), so
  // memory stays bounded whatever its size.
  Status AddStoredFile(const std::string& name, const std::string& path, uint32_t mode);
  // Writes the central directory and closes the file. Returns the archive's size in bytes.
  StatusOr<uint64_t> Finish();

  uint64_t uncompressed_bytes() const { return uncompressed_; }

 private:
  struct Entry {
    std::string name;
    uint32_t crc = 0;
    uint32_t compressed = 0;
    uint32_t size = 0;
    uint32_t offset = 0;
    uint32_t mode = 0;
    uint16_t method = 8;
  };
  Status Write(const void* p, size_t n);
  Status WriteLocalHeader(const Entry& e);

  FILE* f_ = nullptr;
  Status status_;
  std::vector<Entry> entries_;
  uint64_t offset_ = 0;
  uint64_t uncompressed_ = 0;
};

}  // namespace modelfn

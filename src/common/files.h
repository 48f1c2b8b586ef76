// Small file helpers with Status errors.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace modelfn {

// Reads a whole file. NotFound when missing; Unavailable on other I/O errors.
StatusOr<std::string> ReadFile(const std::string& path);

// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename, fsync of
// the directory. Readers see the old content or the new, never a partial file.
Status WriteFileAtomic(const std::string& path, std::string_view data);

}  // namespace modelfn

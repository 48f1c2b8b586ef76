// Small file helpers with Status errors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {

// Reads a whole file. NotFound when missing; Unavailable on other I/O errors.
StatusOr<std::string> ReadFile(const std::string& path);

// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename, fsync of
// the directory. Readers see the old content or the new, never a partial file.
Status WriteFileAtomic(const std::string& path, std::string_view data);

// Lexically normalised absolute or relative path: no "//", "/./" or "x/.."; symlinks untouched.
std::string NormalizePath(const std::string& path);

// The entries of a PATH-style list ("a:b:c"), empty entries dropped.
std::vector<std::string> SplitPathList(std::string_view list);

// The process's working directory ("/" if it cannot be read).
std::string CurrentDir();

}  // namespace modelfn

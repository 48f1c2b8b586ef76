// What a dynamically linked ELF file asks of the loader, read from the file itself rather than by
// running ldd (which cannot run a binary of another architecture): its machine, its interpreter
// (PT_INTERP), the libraries it needs (DT_NEEDED) and where it looks for them (DT_RUNPATH/RPATH).
// ELF64 little-endian only (x86_64, aarch64).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace modelfn {

inline constexpr uint16_t kElfMachineX86_64 = 62;
inline constexpr uint16_t kElfMachineAarch64 = 183;

struct ElfInfo {
  uint16_t machine = 0;
  std::string interp;                // "" for a static binary or a library
  std::vector<std::string> needed;   // DT_NEEDED sonames, in order
  std::vector<std::string> runpath;  // DT_RUNPATH (or DT_RPATH) entries, $ORIGIN not expanded
};

// Errors: NotFound (no file), InvalidArgument (not an ELF64 little-endian file, or truncated).
StatusOr<ElfInfo> ReadElf(const std::string& path);

// "x86_64" / "arm64" (Lambda's names) for an ELF machine, "" for others.
std::string LambdaArchOf(uint16_t machine);

// Every shared library `binary` loads, transitively, as (soname, real path), the loader included
// (named by its file name), found in the binaries' RUNPATHs ($ORIGIN expanded) and then in
// `search_dirs`, like the loader does. NotFound names a library that is in none of them.
StatusOr<std::vector<std::pair<std::string, std::string>>> ResolveElfLibraries(
    const std::string& binary, const std::vector<std::string>& search_dirs);

// Where a Debian machine keeps libraries of `arch` ("x86_64", "arm64"): the multiarch folders and
// the cross toolchain's.
std::vector<std::string> LibraryDirsFor(const std::string& arch);

}  // namespace modelfn

// `modelfn package --target aws-lambda-zip`: a self-contained Lambda deployment package.
//
//   bootstrap              static launcher (no shell): execs lib/ld-linux-*.so.2 --library-path lib
//                          bin/modelfn-fn, so the bundled glibc and libraries are used on
//                          provided.al2023 whatever the build machine's glibc is
//   bin/modelfn-fn         the function runtime (debug info stripped)
//   lib/                   every shared library it loads (from ldd), the dynamic loader and libc,
//                          and those it opens at run time (libcurl and its dependencies)
//   model/                 manifest.json and the files it lists, verified before packaging
//
// Sizes are checked against Lambda's limits (50 MiB zipped for direct upload, 250 MiB unzipped).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace modelfn {

inline constexpr uint64_t kLambdaZipLimit = 50ull << 20;
inline constexpr uint64_t kLambdaUnzippedLimit = 250ull << 20;

struct LambdaZipOptions {
  std::string runtime_binary;    // modelfn-fn
  std::string bootstrap_binary;  // modelfn-bootstrap (static)
  std::string model_dir;         // empty: no model inside (fetched from a store at init)
  std::string out = "function.zip";
  std::string arch = "x86_64";
};

struct LambdaZipReport {
  uint64_t zipped_bytes = 0;
  uint64_t unzipped_bytes = 0;
  std::vector<std::pair<std::string, uint64_t>> entries;  // name, uncompressed size
};

// Shared libraries a binary loads, as (soname, resolved path), the dynamic loader included,
// read from ldd(1). Unavailable when ldd cannot run; InvalidArgument for a static binary.
StatusOr<std::vector<std::pair<std::string, std::string>>> SharedLibraries(
    const std::string& binary);

struct PackageEntry {
  std::string name;  // path inside the package
  std::string path;  // source file
  uint32_t mode;
};
// What goes into the package, checked (model verified, libraries resolved). `scratch` names a
// temp file (the stripped runtime) the caller removes.
StatusOr<std::vector<PackageEntry>> PlanLambdaPackage(const LambdaZipOptions& options,
                                                      std::string* scratch);

// Copies the package's files into `dir` (for image builds).
Status StageLambdaPackage(const LambdaZipOptions& options, const std::string& dir);

// Builds the package. FailedPrecondition (reason "package_too_large") above the limits (the
// archive is removed); DataLoss when the model folder does not match its manifest.
StatusOr<LambdaZipReport> BuildLambdaZip(const LambdaZipOptions& options);

}  // namespace modelfn

// `modelfn package --target aws-lambda-image`: a container image for Lambda, without a daemon.
//
//   OUT/context/            the package's files, a Dockerfile on
//   public.ecr.aws/lambda/provided:al2023
//                           and Dockerfile.scratch (everything is bundled, so `FROM scratch` works)
//   OUT/image.tar           the scratch image as an OCI image layout in a tar (oci-archive),
//   written
//                           directly: one gzip layer with /var/task, config, manifest, index
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace modelfn {

struct OciImageReport {
  std::string image_tar;
  uint64_t image_bytes = 0;  // compressed layer + config + manifest
  uint64_t uncompressed_bytes = 0;
  std::string manifest_digest;  // sha256:...
};

// Builds the context and the image from an unpacked package folder (bootstrap, bin/, lib/,
// model/). `arch` is the OCI architecture ("amd64", "arm64").
StatusOr<OciImageReport> BuildLambdaImage(const std::string& package_dir,
                                          const std::string& out_dir, const std::string& arch);

// Writes a POSIX ustar archive of the files under `root` (paths prefixed with `prefix`), sorted,
// with zero timestamps and owners, so equal inputs give equal bytes.
StatusOr<std::string> TarDirectory(const std::string& root, const std::string& prefix);

}  // namespace modelfn

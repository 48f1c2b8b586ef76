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
#include <vector>

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

// `modelfn package --target cloud-run`: the same package under /app, its entrypoint the bootstrap,
// MODELFN_MODEL set to /app/model (the model inside) or to `model_uri` (a store, fetched at start).
// modelfn-fn then serves HTTP and CloudEvents on $PORT (Cloud Run, Knative). OUT/context holds a
// FROM-scratch Dockerfile with the same content, OUT/image.tar the image.
StatusOr<OciImageReport> BuildCloudRunImage(const std::string& package_dir,
                                            const std::string& out_dir, const std::string& arch,
                                            const std::string& model_uri);

// What the image's config says and where the package goes in its one layer.
struct ImageConfig {
  std::string root;  // folder of the layer the package is unpacked into, e.g. "var/task"
  std::vector<std::string> entrypoint;
  std::vector<std::string> env;  // NAME=VALUE
  std::string workdir;
  std::string created_by;  // history entry
};

// Writes OUT/oci (an OCI image layout: one gzip layer, config, manifest, index) and OUT/image.tar
// (that layout as an oci-archive) from an unpacked package folder, without a container engine.
StatusOr<OciImageReport> BuildOciImage(const std::string& package_dir, const std::string& out_dir,
                                       const std::string& arch, const ImageConfig& cfg);

// Writes a POSIX ustar archive of the files under `root` (paths prefixed with `prefix`), sorted,
// with zero timestamps and owners, so equal inputs give equal bytes.
StatusOr<std::string> TarDirectory(const std::string& root, const std::string& prefix);

}  // namespace modelfn

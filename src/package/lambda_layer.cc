#include "package/lambda_layer.h"

#include <unistd.h>

#include "common/files.h"
#include "manifest/manifest.h"
#include "package/zip_writer.h"

namespace modelfn {

StatusOr<LambdaZipReport> BuildLambdaLayer(const LambdaZipOptions& options) {
  if (!options.model_dir.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "a layer holds the runtime only; the model goes in the function zip",
                  "invalid_request");
  }
  return BuildLambdaZip(options);
}

StatusOr<LambdaZipReport> BuildModelZip(const std::string& model_dir, const std::string& store_uri,
                                        const std::string& out) {
  LambdaZipReport report;
  ZipWriter zip(out);
  RETURN_IF_ERROR(zip.status());
  Status s;
  if (model_dir.empty()) {
    std::string note = "The model is fetched at init from " + store_uri + " (MODELFN_MODEL).\n";
    report.entries.emplace_back(kModelSourceEntry, note.size());
    s = zip.Add(kModelSourceEntry, note, 0644);
  } else {
    auto text = ReadFile(model_dir + "/manifest.json");
    auto manifest = text.ok() ? ParseManifest(*text) : StatusOr<Manifest>(text.status());
    s = manifest.ok() ? VerifyFiles(*manifest, model_dir) : manifest.status();
    if (s.ok()) {
      report.entries.emplace_back("model/manifest.json", text->size());
      s = zip.AddFile("model/manifest.json", model_dir + "/manifest.json", 0644);
    }
    for (size_t i = 0; s.ok() && i < manifest->files.size(); ++i) {
      const ManifestFile& f = manifest->files[i];
      report.entries.emplace_back("model/" + f.path, f.size);
      s = zip.AddFile("model/" + f.path, model_dir + "/" + f.path, 0644);
    }
  }
  if (!s.ok()) {
    unlink(out.c_str());
    return s;
  }
  report.unzipped_bytes = zip.uncompressed_bytes();
  ASSIGN_OR_RETURN(report.zipped_bytes, zip.Finish());
  if (report.zipped_bytes > kLambdaZipLimit || report.unzipped_bytes > kLambdaUnzippedLimit) {
    unlink(out.c_str());
    return Status(StatusCode::kFailedPrecondition,
                  "the model zip is " + std::to_string(report.zipped_bytes) +
                      " bytes zipped; Lambda allows 52428800 zipped (direct upload) and 262144000 "
                      "unzipped with its layers: keep the model in a store (s3://...) instead",
                  "package_too_large");
  }
  return report;
}

}  // namespace modelfn

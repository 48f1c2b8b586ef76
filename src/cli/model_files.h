// Which files make up a model version on disk, for `modelfn manifest` and `modelfn push`: the
// model file, the external-data files its tensors name (found in the model itself, so they are
// always listed and verified), and any extra files the user adds. Every path is relative to the
// model's folder and must stay inside it.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace modelfn {

struct ModelFilesOptions {
  // Extra files (--file), each relative to the model folder, taken as given exactly once.
  std::vector<std::string> extra;
  // Add every other regular file at the top of the folder (push of a folder), except dot files
  // and manifest.json.
  bool whole_folder = false;
  // Accept files that are symlinks leading out of the folder (push --follow-links). External data
  // is never followed out: the function would refuse to load it.
  bool follow_links = false;
};

// The folder's files, model file first, then external data in the order the model names it, then
// the rest sorted; no duplicates. Errors: NotFound (a file is missing), InvalidArgument with
// reason "unsafe_path" naming the file (absolute, "..", a symlink out of the folder) or
// "unsafe_external_data" (see ResolveExternalFile), or the model's own parse error.
StatusOr<std::vector<std::string>> ListModelFiles(const std::string& dir,
                                                  const std::string& model_file,
                                                  const ModelFilesOptions& options);

}  // namespace modelfn

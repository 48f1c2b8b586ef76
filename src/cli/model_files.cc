#include "cli/model_files.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/files.h"
#include "engine/onnx_model_info.h"

namespace modelfn {
namespace {

Status Unsafe(const std::string& path, const std::string& why) {
  return Status(StatusCode::kInvalidArgument, "'" + path + "' " + why, "unsafe_path");
}

std::string RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&free)> real(realpath(path.c_str(), nullptr), &free);
  return real ? std::string(real.get()) : std::string();
}

// `rel` normalised, after checking it names a regular file whose real location is inside `dir`
// (unless follow_links).
StatusOr<std::string> CheckInside(const std::string& dir, const std::string& real_dir,
                                  const std::string& rel, bool follow_links) {
  if (rel.empty() || rel[0] == '/') return Unsafe(rel, "must be a path relative to " + dir);
  std::string norm = NormalizePath(rel);
  if (norm == ".." || norm.rfind("../", 0) == 0 || rel.find("/../") != std::string::npos ||
      rel.rfind("../", 0) == 0) {
    return Unsafe(rel, "leaves the model folder " + dir + " ('..')");
  }
  std::string path = dir + "/" + norm;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return NotFoundError("no file '" + norm + "' in " + dir + ": " + strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Unsafe(norm, "is not a regular file");
  std::string real = RealPath(path);
  std::string inside = real_dir == "/" ? "/" : real_dir + "/";
  if (!follow_links && real.compare(0, inside.size(), inside) != 0) {
    return Unsafe(norm, "is a symlink leading out of " + dir + " (to " + real +
                            "): refusing to upload it (pass --follow-links to include it)");
  }
  return norm;
}

}  // namespace

StatusOr<std::vector<std::string>> ListModelFiles(const std::string& dir,
                                                  const std::string& model_file,
                                                  const ModelFilesOptions& options) {
  std::string real_dir = RealPath(dir);
  if (real_dir.empty()) return NotFoundError("no such folder: " + dir);
  std::vector<std::string> files;
  auto add = [&](const std::string& f) {
    if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
  };
  ASSIGN_OR_RETURN(std::string model, CheckInside(dir, real_dir, model_file, options.follow_links));
  add(model);
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(dir + "/" + model));
  ASSIGN_OR_RETURN(OnnxModelInfo info, InspectOnnxModel(bytes));
  for (const std::string& location : info.external_files) {
    ASSIGN_OR_RETURN(std::string rel, ResolveExternalFile(dir, location));
    add(rel);
  }
  std::vector<std::string> rest;
  for (const std::string& f : options.extra) {
    ASSIGN_OR_RETURN(std::string rel, CheckInside(dir, real_dir, f, options.follow_links));
    rest.push_back(rel);
  }
  if (options.whole_folder) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return UnavailableError("cannot list " + dir + ": " + strerror(errno));
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n[0] == '.' || n == "manifest.json") continue;
      struct stat st;
      if (stat((dir + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(n);
    }
    closedir(d);
    for (const std::string& n : names) {
      ASSIGN_OR_RETURN(std::string rel, CheckInside(dir, real_dir, n, options.follow_links));
      rest.push_back(rel);
    }
  }
  std::sort(rest.begin(), rest.end());
  for (const std::string& f : rest) add(f);
  return files;
}

}  // namespace modelfn

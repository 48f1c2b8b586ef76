#include "package/lambda_zip.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/files.h"
#include "manifest/manifest.h"
#include "package/elf.h"
#include "package/zip_writer.h"

namespace modelfn {
namespace {

std::string Basename(const std::string& p) { return p.substr(p.rfind('/') + 1); }

// Runs a command, returning its standard output.
StatusOr<std::string> Capture(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return UnavailableError("cannot run: " + cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) return UnavailableError("'" + cmd + "' failed (" + std::to_string(rc) + "): " + out);
  return out;
}

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

StatusOr<std::vector<std::pair<std::string, std::string>>> SharedLibraries(
    const std::string& binary) {
  ASSIGN_OR_RETURN(std::string out, Capture("ldd " + Quote(binary) + " 2>&1"));
  std::vector<std::pair<std::string, std::string>> libs;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t eol = out.find('\n', pos);
    std::string line = out.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? out.size() : eol + 1;
    if (line.find("not a dynamic executable") != std::string::npos) {
      return InvalidArgumentError(binary + " is not dynamically linked");
    }
    if (line.find("not found") != std::string::npos) {
      return NotFoundError("a library of " + binary + " is missing: " + line);
    }
    size_t arrow = line.find(" => ");
    std::string name, path;
    if (arrow != std::string::npos) {
      name = line.substr(0, arrow);
      path = line.substr(arrow + 4);
    } else {
      path = line;  // the loader: "\t/lib64/ld-linux-x86-64.so.2 (0x...)"
    }
    auto trim = [](std::string s) {
      size_t b = s.find_first_not_of(" \t");
      return b == std::string::npos ? std::string() : s.substr(b);
    };
    name = trim(name);
    path = trim(path);
    path = path.substr(0, path.find(" ("));
    if (path.empty() || path[0] != '/') continue;  // linux-vdso.so.1 has no file
    if (name.empty()) name = Basename(path);
    char real[4096];
    if (realpath(path.c_str(), real) == nullptr) return NotFoundError("cannot resolve " + path);
    libs.emplace_back(name, real);
  }
  return libs;
}

StatusOr<std::vector<PackageEntry>> PlanLambdaPackage(const LambdaZipOptions& o,
                                                      std::string* scratch) {
  if (o.arch != "x86_64" && o.arch != "arm64") {
    return Status(StatusCode::kInvalidArgument,
                  "Lambda runs x86_64 and arm64; got --arch " + o.arch, "invalid_request");
  }
  // The binaries must be built for the architecture asked for.
  for (const std::string* bin : {&o.runtime_binary, &o.bootstrap_binary}) {
    ASSIGN_OR_RETURN(ElfInfo info, ReadElf(*bin));
    std::string arch = LambdaArchOf(info.machine);
    if (arch != o.arch) {
      return Status(StatusCode::kInvalidArgument,
                    *bin + " is built for " + (arch.empty() ? "another machine" : arch) + ", not " +
                        o.arch +
                        (o.arch == "arm64" ? " (scripts/build.sh --arch arm64 cross-builds it "
                                             "into build/arm64/)"
                                           : ""),
                    "invalid_request");
    }
  }
#if defined(__x86_64__)
  const bool native = o.arch == "x86_64";
#elif defined(__aarch64__)
  const bool native = o.arch == "arm64";
#else
  const bool native = false;
#endif
  Manifest manifest;
  if (!o.model_dir.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(o.model_dir + "/manifest.json"));
    ASSIGN_OR_RETURN(manifest, ParseManifest(text));
    RETURN_IF_ERROR(VerifyFiles(manifest, o.model_dir));
    // A model whose external data is not listed would be packaged without it and refused at init.
    ASSIGN_OR_RETURN(std::string model, ReadFile(o.model_dir + "/" + manifest.files[0].path));
    ASSIGN_OR_RETURN(OnnxModelInfo info, InspectOnnxModel(model));
    RETURN_IF_ERROR(CheckExternalFilesListed(manifest, info, o.model_dir));
  }
  // A binary of this machine: what its loader resolves (ldd). Another architecture's: read from
  // the ELF files, found in that architecture's library folders (cross toolchain, multiarch).
  const std::vector<std::string> dirs = LibraryDirsFor(o.arch);
  auto libraries = [&](const std::string& bin) {
    return native ? SharedLibraries(bin) : ResolveElfLibraries(bin, dirs);
  };
  // Found by searching the folders, not by dlopen: loading libcurl's dependency tree into the
  // packager only to ask where it came from left stale thread-local blocks behind after dlclose
  // (LeakSanitizer crashed scanning them).
  std::vector<std::string> search = dirs;
  if (const char* lp = getenv("LD_LIBRARY_PATH"); lp != nullptr && native) {
    std::vector<std::string> first = SplitPathList(lp);
    search.insert(search.begin(), first.begin(), first.end());
  }
  auto locate = [&](const std::string& soname) -> StatusOr<std::string> {
    for (const auto& dir : search) {
      std::string cand = dir + "/" + soname;
      auto info = ReadElf(cand);
      if (info.ok() && LambdaArchOf(info->machine) == o.arch) {
        char real[4096];
        if (realpath(cand.c_str(), real) != nullptr) return std::string(real);
      }
    }
    return NotFoundError("cannot find " + soname + " for " + o.arch + " to bundle (install the " +
                         o.arch + " library, e.g. libcurl4:" + o.arch + ")");
  };
  ASSIGN_OR_RETURN(auto libs, libraries(o.runtime_binary));
  // Libraries the runtime loads with dlopen, and theirs: libcurl (store backends).
  for (const char* soname : {"libcurl.so.4"}) {
    ASSIGN_OR_RETURN(std::string path, locate(soname));
    std::vector<std::pair<std::string, std::string>> more = {{soname, path}};
    ASSIGN_OR_RETURN(auto deps, libraries(path));
    more.insert(more.end(), deps.begin(), deps.end());
    for (auto& lib : more) {
      bool have = false;
      for (const auto& l : libs) have = have || l.first == lib.first;
      if (!have) libs.push_back(std::move(lib));
    }
  }
  std::string runtime = o.runtime_binary;
  *scratch = o.out + ".modelfn-fn.tmp";
  std::string strip = native ? "strip" : (o.arch == "arm64" ? "aarch64-linux-gnu-strip" : "");
  if (!strip.empty() &&
      Capture("command -v " + strip + " >/dev/null && " + strip + " --strip-debug -o " +
              Quote(*scratch) + " " + Quote(o.runtime_binary))
          .ok()) {
    runtime = *scratch;
  }
  std::vector<PackageEntry> plan = {{"bootstrap", o.bootstrap_binary, 0755},
                                    {"bin/modelfn-fn", runtime, 0755}};
  for (const auto& [name, path] : libs) plan.push_back({"lib/" + name, path, 0755});
  if (!o.model_dir.empty()) {
    plan.push_back({"model/manifest.json", o.model_dir + "/manifest.json", 0644});
    for (const ManifestFile& f : manifest.files)
      plan.push_back({"model/" + f.path, o.model_dir + "/" + f.path, 0644});
  }
  return plan;
}

StatusOr<LambdaZipReport> BuildLambdaZip(const LambdaZipOptions& o) {
  std::string scratch;
  auto plan = PlanLambdaPackage(o, &scratch);
  if (!plan.ok()) {
    if (!scratch.empty()) unlink(scratch.c_str());
    return plan.status();
  }
  ZipWriter zip(o.out);
  RETURN_IF_ERROR(zip.status());
  LambdaZipReport report;
  Status s;
  for (const PackageEntry& e : *plan) {
    struct stat st;
    if (stat(e.path.c_str(), &st) != 0) {
      s = NotFoundError("no such file: " + e.path);
      break;
    }
    report.entries.emplace_back(e.name, static_cast<uint64_t>(st.st_size));
    s = zip.AddFile(e.name, e.path, e.mode);
    if (!s.ok()) break;
  }
  unlink(scratch.c_str());
  if (!s.ok()) {
    unlink(o.out.c_str());
    return s;
  }
  report.unzipped_bytes = zip.uncompressed_bytes();
  ASSIGN_OR_RETURN(report.zipped_bytes, zip.Finish());
  if (report.zipped_bytes > kLambdaZipLimit || report.unzipped_bytes > kLambdaUnzippedLimit) {
    unlink(o.out.c_str());
    return Status(
        StatusCode::kFailedPrecondition,
        "the package is " + std::to_string(report.zipped_bytes) + " bytes zipped and " +
            std::to_string(report.unzipped_bytes) +
            " bytes unzipped; Lambda allows 52428800 zipped (direct upload) and 262144000 "
            "unzipped: keep the model in a store (--model s3://...) instead of the package",
        "package_too_large");
  }
  return report;
}

Status StageLambdaPackage(const LambdaZipOptions& o, const std::string& dir) {
  std::string scratch;
  auto plan = PlanLambdaPackage(o, &scratch);
  if (!plan.ok()) {
    if (!scratch.empty()) unlink(scratch.c_str());
    return plan.status();
  }
  Status s;
  for (const PackageEntry& e : *plan) {
    std::string dest = dir + "/" + e.name;
    std::string parent = dest.substr(0, dest.rfind('/'));
    std::string mk = "mkdir -p " + Quote(parent);
    if (system(mk.c_str()) != 0) {
      s = UnavailableError("cannot create " + parent);
      break;
    }
    auto data = ReadFile(e.path);
    if (!data.ok()) {
      s = data.status();
      break;
    }
    s = WriteFileAtomic(dest, *data);
    if (!s.ok() || chmod(dest.c_str(), e.mode) != 0) break;
  }
  unlink(scratch.c_str());
  return s;
}

}  // namespace modelfn

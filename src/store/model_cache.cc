#include "store/model_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"

namespace modelfn {
namespace {

Status MakeDirs(const std::string& dir) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    std::string cur = dir.substr(0, pos);
    if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return UnavailableError("cannot create " + cur + ": " + strerror(errno));
    }
  }
  return Status::Ok();
}

int RemoveOne(const char* path, const struct stat*, int, struct FTW*) {
  remove(path);
  return 0;
}

void RemoveTree(const std::string& dir) { nftw(dir.c_str(), RemoveOne, 16, FTW_DEPTH | FTW_PHYS); }

std::vector<std::string> Subdirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (stat((dir + "/" + n).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(n);
  }
  closedir(d);
  return out;
}

uint64_t TreeBytes(const std::string& dir) {
  uint64_t total = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    struct stat st;
    if (stat((dir + "/" + e->d_name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_size);
    }
  }
  closedir(d);
  return total;
}

}  // namespace

std::string DefaultCacheRoot() {
  if (const char* d = getenv("MODELFN_CACHE_DIR"); d && *d) return d;
  const char* tmp = getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/modelfn-cache";
}

ModelCache::ModelCache(CacheOptions options, const Clock* clock)
    : options_(std::move(options)), clock_(clock) {
  if (options_.root.empty()) options_.root = DefaultCacheRoot();
}

std::string ModelCache::ModelDir(const std::string& store_id, const std::string& name) const {
  return options_.root + "/" + Sha256Hex(store_id).substr(0, 16) + "/" + name;
}

StatusOr<CacheFetch> ModelCache::Fetch(ObjectStore& store, const std::string& store_id,
                                       const ResolvedModel& model, const ProgressFn& progress) {
  std::string parent = ModelDir(store_id, model.name);
  std::string entry = parent + "/" + model.version + "-" + model.manifest_sha256.substr(0, 16);
  CacheFetch out;
  out.dir = entry;
  struct stat st;
  if (stat((entry + "/.complete").c_str(), &st) == 0) {
    utimensat(AT_FDCWD, (entry + "/.complete").c_str(), nullptr, 0);  // LRU: used now
    out.hit = true;
    return out;
  }
  RETURN_IF_ERROR(MakeDirs(parent));
  std::string tmpl = parent + "/.tmp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr)
    return UnavailableError("cannot create a folder in " + parent + ": " + strerror(errno));
  std::string tmp(buf.data());
  auto fail = [&](Status s) {
    RemoveTree(tmp);
    return s;
  };
  const std::string prefix = ModelRegistry::VersionPrefix(model.name, model.version);
  uint64_t total = 0, done = 0;
  for (const auto& f : model.manifest.files) total += f.size;
  for (const ManifestFile& f : model.manifest.files) {
    std::string path = tmp + "/" + f.path;
    size_t slash = f.path.rfind('/');
    if (slash != std::string::npos) RETURN_IF_ERROR(MakeDirs(tmp + "/" + f.path.substr(0, slash)));
    uint64_t base = done;
    ProgressFn p;
    if (progress) p = [&](uint64_t d, uint64_t) { progress(base + d, total); };
    auto got = store.GetToFile(prefix + f.path, path, p);
    if (!got.ok())
      return fail(
          got.status().WithContext("fetching " + model.name + "@" + model.version + "/" + f.path));
    auto digest = Sha256File(path);
    if (!digest.ok()) return fail(digest.status());
    if (digest->size != f.size || digest->sha256 != f.sha256) {
      return fail(Status(StatusCode::kDataLoss,
                         model.name + "@" + model.version + "/" + f.path + " from " +
                             store.Describe() + " does not match its manifest (expected sha256 " +
                             f.sha256 + ", " + std::to_string(f.size) + " bytes; got " +
                             digest->sha256 + ", " + std::to_string(digest->size) +
                             " bytes): not cached, not loaded",
                         "checksum_mismatch"));
    }
    done += f.size;
    out.bytes_downloaded += digest->size;
  }
  Status s = WriteFileAtomic(tmp + "/manifest.json", model.manifest_bytes);
  if (s.ok()) s = WriteFileAtomic(tmp + "/.complete", model.manifest_sha256 + "\n");
  if (!s.ok()) return fail(s);
  if (rename(tmp.c_str(), entry.c_str()) != 0) {
    RemoveTree(tmp);
    if (stat((entry + "/.complete").c_str(), &st) != 0) {
      return UnavailableError("cannot move the fetched model into " + entry + ": " +
                              strerror(errno));
    }
    // Another instance filled the same entry first: use it.
  }
  Evict(entry);
  return out;
}

StatusOr<std::string> ModelCache::Lookup(const std::string& store_id, const std::string& name,
                                         const std::string& version) {
  std::string parent = ModelDir(store_id, name);
  std::string best;
  int64_t best_time = -1;
  for (const std::string& d : Subdirs(parent)) {
    if (d.rfind(version + "-", 0) != 0 || d.size() != version.size() + 17) continue;
    struct stat st;
    std::string marker = parent + "/" + d + "/.complete";
    if (stat(marker.c_str(), &st) != 0) continue;
    int64_t t = static_cast<int64_t>(st.st_mtim.tv_sec);
    if (t > best_time) {
      best_time = t;
      best = parent + "/" + d;
    }
  }
  if (best.empty()) return NotFoundError("no cached copy of " + name + "@" + version);
  utimensat(AT_FDCWD, (best + "/.complete").c_str(), nullptr, 0);
  return best;
}

Status ModelCache::RememberPointer(const std::string& store_id, const std::string& name,
                                   const PointerEntry& p) {
  std::string dir = ModelDir(store_id, name);
  RETURN_IF_ERROR(MakeDirs(dir));
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("version").String(p.version).Key("sha256").String(p.sha256);
  w.Key("resolved_at").String(FormatRfc3339(clock_->WallNanos())).EndObject();
  return WriteFileAtomic(dir + "/current.json", out);
}

StatusOr<PointerEntry> ModelCache::RecallPointer(const std::string& store_id,
                                                 const std::string& name) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(ModelDir(store_id, name) + "/current.json"));
  auto doc = Json::Parse(text);
  if (!doc.ok() || !doc->Find("version") || !doc->Find("sha256")) {
    return DataLossError("cached pointer of " + name + " is unreadable");
  }
  return PointerEntry{doc->Find("version")->AsString(), doc->Find("sha256")->AsString()};
}

Status ModelCache::Invalidate(const std::string& dir) {
  // <root>/<store>/<name>/<entry>: exactly three levels below the root, no dot components.
  std::string norm = NormalizePath(dir);
  std::string root = NormalizePath(options_.root);
  std::string rest = norm.rfind(root + "/", 0) == 0 ? norm.substr(root.size() + 1) : "";
  size_t a = rest.find('/');
  size_t b = a == std::string::npos ? a : rest.find('/', a + 1);
  if (rest.empty() || b == std::string::npos || rest.find('/', b + 1) != std::string::npos ||
      rest[b + 1] == '.' || rest.find("..") != std::string::npos) {
    return InvalidArgumentError(dir + " is not an entry of the model cache " + options_.root);
  }
  std::string trash = norm.substr(0, norm.rfind('/')) + "/.trash-" + std::to_string(getpid()) +
                      "-" + std::to_string(clock_->MonotonicNanos());
  if (rename(norm.c_str(), trash.c_str()) != 0) {
    if (errno == ENOENT) return Status::Ok();  // another instance dropped it first
    return UnavailableError("cannot remove the cache entry " + norm + ": " + strerror(errno));
  }
  RemoveTree(trash);
  return Status::Ok();
}

void ModelCache::Evict(const std::string& keep) {
  struct Entry {
    std::string dir;
    int64_t used;
    uint64_t bytes;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  for (const std::string& store : Subdirs(options_.root)) {
    std::string sdir = options_.root + "/" + store;
    for (const std::string& name : Subdirs(sdir)) {
      std::string ndir = sdir + "/" + name;
      for (const std::string& v : Subdirs(ndir)) {
        std::string dir = ndir + "/" + v;
        struct stat st;
        if (v[0] == '.' || stat((dir + "/.complete").c_str(), &st) != 0) continue;
        uint64_t bytes = TreeBytes(dir);
        total += bytes;
        entries.push_back(
            {dir, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
             bytes});
      }
    }
  }
  if (total <= options_.max_bytes) return;
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  for (const Entry& e : entries) {
    if (total <= options_.max_bytes) break;
    if (e.dir == keep) continue;
    // Move aside first so no reader ever sees a half-deleted entry as complete.
    std::string trash = e.dir.substr(0, e.dir.rfind('/')) + "/.trash-" + std::to_string(getpid()) +
                        "-" + std::to_string(clock_->MonotonicNanos());
    if (rename(e.dir.c_str(), trash.c_str()) == 0) {
      RemoveTree(trash);
      total -= e.bytes;
    }
  }
}

}  // namespace modelfn

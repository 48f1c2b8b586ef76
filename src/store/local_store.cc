#include "store/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <string_view>

#include "common/files.h"
#include "common/sha256.h"

namespace modelfn {
namespace {

constexpr const char* kOwnPrefix = ".modelfn-";

Status MakeDirs(const std::string& dir) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return UnavailableError("cannot create " + cur + ": " + strerror(errno));
    }
  }
  return Status::Ok();
}

std::string EtagOf(const struct stat& st) {
  return std::to_string(st.st_ino) + "-" + std::to_string(st.st_size) + "-" +
         std::to_string(static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL +
                        st.st_mtim.tv_nsec);
}

Status WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return UnavailableError(std::string("write failed: ") + strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status CopyFd(int in, int out, uint64_t total, const ProgressFn& progress) {
  std::string buf(1 << 20, '\0');
  uint64_t done = 0;
  while (true) {
    ssize_t r = read(in, buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      return UnavailableError(std::string("read failed: ") + strerror(errno));
    }
    if (r == 0) break;
    RETURN_IF_ERROR(WriteAll(out, buf.data(), static_cast<size_t>(r)));
    done += static_cast<uint64_t>(r);
    if (progress) progress(done, total);
  }
  return Status::Ok();
}

void Walk(const std::string& dir, const std::string& rel, std::vector<std::string>* out) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name.rfind(kOwnPrefix, 0) == 0) continue;
    std::string full = dir + "/" + name;
    struct stat st;
    if (stat(full.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      Walk(full, rel + name + "/", out);
    } else if (S_ISREG(st.st_mode)) {
      out->push_back(rel + name);
    }
  }
  closedir(d);
}

// A temp file this old was left by a writer that died (a live one writes to it continuously).
constexpr time_t kStaleTempSeconds = 3600;

// Removes the temp files in `dir` that writers killed mid-write left behind.
void SweepStaleTemps(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  const std::string prefix = std::string(kOwnPrefix) + "tmp-";
  time_t now = time(nullptr);
  while (dirent* e = readdir(d)) {
    if (std::string_view(e->d_name).rfind(prefix, 0) != 0) continue;
    std::string full = dir + "/" + e->d_name;
    struct stat st;
    if (lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        now - st.st_mtime > kStaleTempSeconds)
      unlink(full.c_str());
  }
  closedir(d);
}

}  // namespace

LocalStore::LocalStore(std::string root) : root_(std::move(root)) {
  // The folder is made by the first write, not here: reading a mistyped store path (`modelfn
  // list --store ...`) must not leave a folder behind.
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

StatusOr<std::string> LocalStore::PathOf(const std::string& key) const {
  if (key.empty() || key[0] == '/' || key.find("..") != std::string::npos ||
      key.find("/" + std::string(kOwnPrefix)) != std::string::npos ||
      key.rfind(kOwnPrefix, 0) == 0) {
    return InvalidArgumentError("invalid object key '" + key + "'");
  }
  return root_ + "/" + key;
}

StatusOr<int> LocalStore::OpenObject(const std::string& key, struct stat* st) const {
  ASSIGN_OR_RETURN(std::string src, PathOf(key));
  // Whoever can write to the store's folder could leave a symlink to any file this process may
  // read (the model would then serve its bytes), or a device that never ends. An object must be
  // a regular file inside the store; the folder itself may be reached through a link. The check
  // resolves the name again after the open, so a writer replacing the object in between (a
  // promote renames current.json over itself) makes the two differ: then the read starts over.
  constexpr int kAttempts = 16;
  std::unique_ptr<char, decltype(&free)> real_root(realpath(root_.c_str(), nullptr), &free);
  for (int attempt = 1;; ++attempt) {
    // O_NONBLOCK: opening a FIFO placed in the store must not hang the reader.
    int fd = open(src.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return NotFoundError("no object " + key + " in " + Describe());
      }
      return UnavailableError("cannot open " + src + ": " + strerror(errno));
    }
    std::unique_ptr<char, decltype(&free)> real(realpath(src.c_str(), nullptr), &free);
    struct stat named;
    bool regular_inside =
        real_root && real && fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
        stat(real.get(), &named) == 0 && S_ISREG(named.st_mode) &&
        std::string_view(real.get()).rfind(std::string(real_root.get()) + "/", 0) == 0;
    bool same = regular_inside && named.st_dev == st->st_dev && named.st_ino == st->st_ino;
    if (same) return fd;
    close(fd);
    if (!regular_inside || attempt == kAttempts) {
      return Status(StatusCode::kInvalidArgument,
                    "object " + key + " in " + Describe() +
                        " is not a regular file inside the store (a symlink out of it, a folder "
                        "or a device): refused",
                    "unsafe_store_object");
    }
  }
}

StatusOr<std::string> LocalStore::Get(const std::string& key) {
  struct stat st;
  ASSIGN_OR_RETURN(int fd, OpenObject(key, &st));
  std::string data;
  data.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  while (true) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      close(fd);
      return UnavailableError("cannot read object " + key + ": " + strerror(errno));
    }
    if (r == 0) break;
    data.append(buf, static_cast<size_t>(r));
  }
  close(fd);
  return data;
}

StatusOr<ObjectInfo> LocalStore::GetToFile(const std::string& key, const std::string& path,
                                           const ProgressFn& progress) {
  struct stat st;
  ASSIGN_OR_RETURN(int in, OpenObject(key, &st));
  int out = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    close(in);
    return UnavailableError("cannot create " + path + ": " + strerror(errno));
  }
  Status s = CopyFd(in, out, static_cast<uint64_t>(st.st_size), progress);
  if (s.ok() && fsync(out) != 0) s = UnavailableError("cannot flush " + path);
  close(in);
  close(out);
  RETURN_IF_ERROR(s);
  return ObjectInfo{key, static_cast<uint64_t>(st.st_size), EtagOf(st)};
}

StatusOr<ObjectInfo> LocalStore::Head(const std::string& key) {
  ASSIGN_OR_RETURN(std::string path, PathOf(key));
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return NotFoundError("no object " + key + " in " + Describe());
  }
  return ObjectInfo{key, static_cast<uint64_t>(st.st_size), EtagOf(st)};
}

template <typename WriteFn>
StatusOr<std::string> LocalStore::WriteTemp(const std::string& path, WriteFn write_fn) {
  static std::atomic<uint64_t> counter{0};
  size_t slash = path.rfind('/');
  std::string dir = path.substr(0, slash);
  RETURN_IF_ERROR(MakeDirs(dir));
  SweepStaleTemps(dir);
  std::string tmp = dir + "/" + kOwnPrefix + "tmp-" + std::to_string(getpid()) + "-" +
                    std::to_string(counter.fetch_add(1));
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return UnavailableError("cannot create " + tmp + ": " + strerror(errno));
  Status s = write_fn(fd);
  if (s.ok()) {
    // The etag includes the modification time. The file system's own stamp is coarse (one
    // clock tick: two writes in a tick get the same), so an inode reused within a tick for
    // content of the same size would repeat an etag and let a stale If-Match through. The
    // time set here has the real clock's nanoseconds.
    struct timespec times[2];
    times[0].tv_nsec = UTIME_OMIT;
    clock_gettime(CLOCK_REALTIME, &times[1]);
    if (futimens(fd, times) != 0)
      s = UnavailableError("cannot stamp " + tmp + ": " + strerror(errno));
  }
  if (s.ok() && fsync(fd) != 0)
    s = UnavailableError("cannot flush " + tmp + ": " + strerror(errno));
  close(fd);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  return tmp;
}

StatusOr<ObjectInfo> LocalStore::Commit(const std::string& key, const std::string& path,
                                        const std::string& tmp, const PutOptions& options) {
  auto cleanup = [&](Status s) {
    unlink(tmp.c_str());
    return s;
  };
  if (options.condition == PutOptions::Condition::kIfAbsent) {
    if (link(tmp.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST)
        return cleanup(PreconditionFailed(key + " already exists in " + Describe()));
      return cleanup(UnavailableError("cannot create " + path + ": " + strerror(errno)));
    }
    unlink(tmp.c_str());
  } else if (options.condition == PutOptions::Condition::kIfMatch) {
    std::string lock_dir = root_ + "/" + kOwnPrefix + "locks";
    RETURN_IF_ERROR(MakeDirs(lock_dir));
    std::string lock_path = lock_dir + "/" + Sha256Hex(key);
    int lfd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0) return cleanup(UnavailableError("cannot open lock " + lock_path));
    while (flock(lfd, LOCK_EX) != 0 && errno == EINTR) {
    }
    struct stat st;
    bool match = stat(path.c_str(), &st) == 0 && EtagOf(st) == options.if_match;
    Status s = Status::Ok();
    if (!match) {
      s = PreconditionFailed(key + " changed since it was read");
    } else if (rename(tmp.c_str(), path.c_str()) != 0) {
      s = UnavailableError("cannot rename into " + path + ": " + strerror(errno));
    }
    flock(lfd, LOCK_UN);
    close(lfd);
    if (!s.ok()) return cleanup(s);
  } else if (rename(tmp.c_str(), path.c_str()) != 0) {
    return cleanup(UnavailableError("cannot rename into " + path + ": " + strerror(errno)));
  }
  int dfd = open(path.substr(0, path.rfind('/')).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return Head(key);
}

StatusOr<ObjectInfo> LocalStore::Put(const std::string& key, std::string_view data,
                                     const PutOptions& options) {
  ASSIGN_OR_RETURN(std::string path, PathOf(key));
  ASSIGN_OR_RETURN(std::string tmp, WriteTemp(path, [&](int fd) {
                     Status s = WriteAll(fd, data.data(), data.size());
                     if (s.ok() && options.progress) options.progress(data.size(), data.size());
                     return s;
                   }));
  return Commit(key, path, tmp, options);
}

StatusOr<ObjectInfo> LocalStore::PutFile(const std::string& key, const std::string& src,
                                         const PutOptions& options) {
  ASSIGN_OR_RETURN(std::string path, PathOf(key));
  int in = open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) return NotFoundError("no such file: " + src);
    return UnavailableError("cannot open " + src + ": " + strerror(errno));
  }
  struct stat st;
  fstat(in, &st);
  auto tmp = WriteTemp(path, [&](int fd) {
    return CopyFd(in, fd, static_cast<uint64_t>(st.st_size), options.progress);
  });
  close(in);
  if (!tmp.ok()) return tmp.status();
  return Commit(key, path, *tmp, options);
}

StatusOr<std::vector<ObjectInfo>> LocalStore::List(const std::string& prefix) {
  // Walk only the deepest folder the prefix names.
  size_t slash = prefix.rfind('/');
  std::string dir_rel = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
  std::vector<std::string> keys;
  Walk(dir_rel.empty() ? root_ : root_ + "/" + dir_rel.substr(0, dir_rel.size() - 1), dir_rel,
       &keys);
  std::sort(keys.begin(), keys.end());
  std::vector<ObjectInfo> out;
  for (const std::string& k : keys) {
    if (k.compare(0, prefix.size(), prefix) != 0) continue;
    auto info = Head(k);
    if (info.ok()) out.push_back(*info);
  }
  return out;
}

Status LocalStore::Delete(const std::string& key) {
  ASSIGN_OR_RETURN(std::string path, PathOf(key));
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return UnavailableError("cannot delete " + path + ": " + strerror(errno));
  }
  return Status::Ok();
}

}  // namespace modelfn

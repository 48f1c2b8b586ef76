// ObjectStore on a local folder (the embedded default): key "a/b/c" is the file ROOT/a/b/c; reads
// refuse an object that is not a regular file inside ROOT (a symlink out, a FIFO, a device).
// Writes go to a temp file in the same folder, are fsynced and renamed into place; "if absent"
// uses link(2), which fails atomically when the target exists; "if match" holds an flock(2) on a
// lock file while it compares and swaps, so concurrent processes on one host serialise. Etags
// name a file's identity (inode, size, mtime): every write changes them. Names starting with
// ".modelfn-" are the store's own and never listed. A temp file left by a writer that was killed
// is removed by the next write into its folder once it is an hour old (a live writer's is
// written to continuously).
#pragma once

#include <sys/stat.h>

#include <string>

#include "store/object_store.h"

namespace modelfn {

class LocalStore final : public ObjectStore {
 public:
  // `root` is created if missing.
  explicit LocalStore(std::string root);

  StatusOr<std::string> Get(const std::string& key) override;
  StatusOr<ObjectInfo> GetToFile(const std::string& key, const std::string& path,
                                 const ProgressFn& progress) override;
  StatusOr<ObjectInfo> Head(const std::string& key) override;
  StatusOr<ObjectInfo> Put(const std::string& key, std::string_view data,
                           const PutOptions& options) override;
  StatusOr<ObjectInfo> PutFile(const std::string& key, const std::string& path,
                               const PutOptions& options) override;
  StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  std::string Describe() const override { return "file://" + root_; }

 private:
  StatusOr<std::string> PathOf(const std::string& key) const;
  // Opens object `key` for reading and fills *st. NotFound when absent; InvalidArgument (reason
  // "unsafe_store_object") when it is not a regular file whose real path is inside the store.
  // The caller owns (closes) the descriptor.
  StatusOr<int> OpenObject(const std::string& key, struct stat* st) const;
  // Writes a temp file next to `path` through `write(fd)`; returns its name.
  template <typename WriteFn>
  StatusOr<std::string> WriteTemp(const std::string& path, WriteFn write);
  StatusOr<ObjectInfo> Commit(const std::string& key, const std::string& path,
                              const std::string& tmp, const PutOptions& options);

  std::string root_;
};

}  // namespace modelfn

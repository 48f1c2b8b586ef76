// Versioned models in an ObjectStore, in the seed's layout:
//
//   <name>/versions/<version>/model.onnx, manifest.json, extra files (tokenizer.json, ...)
//   <name>/current.json   {"version": "1.2.0", "sha256": "<sha256 of that version's
//   manifest.json>",
//                          "history": [{"version": "1.1.0", "sha256": "..."}, ...],
//                          "updated_at": "2026-11-28T16:04:00.000Z"}
//
// A version exists once its manifest.json does: push uploads every other file first and the
// manifest last, so an interrupted push leaves nothing visible. Versions are immutable. The
// pointer names the manifest by its sha256, and the manifest names every file by its sha256, so a
// resolved model is checked end to end. Promote and rollback swap current.json with a conditional
// write: of concurrent swaps that read the same pointer, exactly one wins and the others get
// reason "promote_conflict".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "manifest/manifest.h"
#include "store/object_store.h"

namespace modelfn {

struct PointerEntry {
  std::string version;
  std::string sha256;  // of the version's manifest.json bytes
};

struct Pointer {
  PointerEntry current;
  std::vector<PointerEntry> history;  // newest first, without current
  std::string updated_at;
  std::string etag;  // of current.json when read

  std::string ToJson() const;
  static StatusOr<Pointer> Parse(std::string_view json);
};

struct ResolvedModel {
  std::string name;
  std::string version;
  std::string manifest_bytes;  // exactly as stored
  std::string manifest_sha256;
  Manifest manifest;
  bool via_pointer = false;
};

struct PushResult {
  bool created = false;  // false: the identical version was already there
  uint64_t bytes = 0;    // uploaded
};

class ModelRegistry {
 public:
  // `store` and `clock` must outlive the registry.
  ModelRegistry(ObjectStore* store, const Clock* clock) : store_(store), clock_(clock) {}

  static std::string VersionPrefix(const std::string& name, const std::string& version) {
    return name + "/versions/" + version + "/";
  }
  static std::string PointerKey(const std::string& name) { return name + "/current.json"; }

  // Uploads `manifest.files` from `dir`, then manifest.json (as `manifest_json`, whose parse is
  // `manifest`). A version already stored with the same manifest is left alone (created=false); a
  // different one is AlreadyExists (reason "version_exists"): versions are immutable.
  StatusOr<PushResult> Push(const std::string& dir, const Manifest& manifest,
                            const std::string& manifest_json, const ProgressFn& progress);

  // Points current.json at `version`, which must exist. Returns the new pointer.
  StatusOr<Pointer> Promote(const std::string& name, const std::string& version);
  // Points current.json back at the newest history entry. FailedPrecondition when there is none.
  StatusOr<Pointer> Rollback(const std::string& name);

  // NotFound when the model has no current.json.
  StatusOr<Pointer> ReadPointer(const std::string& name);
  // The model's versions (those with a manifest), sorted.
  StatusOr<std::vector<std::string>> Versions(const std::string& name);
  // Names of models with at least one version.
  StatusOr<std::vector<std::string>> Models();

  // Resolves name@version, or name via its pointer when version is empty. DataLoss (reason
  // "checksum_mismatch") when the manifest's sha256 differs from the pointer's.
  StatusOr<ResolvedModel> Resolve(const std::string& name, const std::string& version);

  struct FileCheck {
    std::string path;
    bool ok = false;
    std::string detail;
  };
  // Downloads and re-hashes every file of the version into `scratch_dir` (deleted after).
  StatusOr<std::vector<FileCheck>> Verify(const ResolvedModel& model,
                                          const std::string& scratch_dir);

 private:
  StatusOr<Pointer> Swap(const std::string& name, const std::optional<Pointer>& old, Pointer next);

  ObjectStore* store_;
  const Clock* clock_;
};

// "digits" or "digits@1.2.0" -> (name, version or "").
std::pair<std::string, std::string> SplitModelRef(const std::string& ref);

}  // namespace modelfn

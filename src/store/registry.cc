#include "store/registry.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"

namespace modelfn {
namespace {

constexpr size_t kMaxHistory = 20;

Status BadPointer(const std::string& why) {
  return Status(StatusCode::kDataLoss, "current.json: " + why, "invalid_pointer");
}

StatusOr<PointerEntry> ParseEntry(const Json& j) {
  const Json* v = j.Find("version");
  const Json* s = j.Find("sha256");
  if (!v || !v->is_string() || !s || !s->is_string() || s->AsString().size() != 64) {
    return BadPointer("an entry needs 'version' and a 64-hex 'sha256'");
  }
  return PointerEntry{v->AsString(), s->AsString()};
}

}  // namespace

std::pair<std::string, std::string> SplitModelRef(const std::string& ref) {
  size_t at = ref.rfind('@');
  if (at == std::string::npos) return {ref, ""};
  return {ref.substr(0, at), ref.substr(at + 1)};
}

std::string Pointer::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("version").String(current.version);
  w.Key("sha256").String(current.sha256);
  w.Key("history").BeginArray();
  for (const auto& e : history) {
    w.BeginObject().Key("version").String(e.version).Key("sha256").String(e.sha256).EndObject();
  }
  w.EndArray();
  w.Key("updated_at").String(updated_at);
  w.EndObject();
  out.push_back('\n');
  return out;
}

StatusOr<Pointer> Pointer::Parse(std::string_view json) {
  auto doc = Json::Parse(json);
  if (!doc.ok() || !doc->is_object()) return BadPointer("not a JSON object");
  Pointer p;
  ASSIGN_OR_RETURN(p.current, ParseEntry(*doc));
  if (const Json* h = doc->Find("history"); h && h->is_array()) {
    for (const Json& e : h->AsArray()) {
      ASSIGN_OR_RETURN(PointerEntry entry, ParseEntry(e));
      p.history.push_back(std::move(entry));
    }
  }
  if (const Json* u = doc->Find("updated_at"); u && u->is_string()) p.updated_at = u->AsString();
  return p;
}

StatusOr<PushResult> ModelRegistry::Push(const std::string& dir, const Manifest& manifest,
                                         const std::string& manifest_json,
                                         const ProgressFn& progress) {
  const std::string prefix = VersionPrefix(manifest.name, manifest.version);
  PushResult result;
  // An existing version: identical is fine (idempotent retries), different is refused.
  auto existing = store_->Get(prefix + "manifest.json");
  if (existing.ok()) {
    auto old = ParseManifest(*existing);
    bool same = old.ok() && old->files.size() == manifest.files.size();
    for (size_t i = 0; same && i < manifest.files.size(); ++i) {
      same = old->files[i].path == manifest.files[i].path &&
             old->files[i].sha256 == manifest.files[i].sha256;
    }
    if (same) return result;
    return Status(StatusCode::kAlreadyExists,
                  manifest.name + "@" + manifest.version + " already exists in " +
                      store_->Describe() +
                      " with other content; versions are immutable, push a new version",
                  "version_exists");
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();

  uint64_t total = 0, done = 0;
  for (const auto& f : manifest.files) total += f.size;
  for (const ManifestFile& f : manifest.files) {
    PutOptions opts;
    opts.condition = PutOptions::Condition::kIfAbsent;
    uint64_t base = done;
    if (progress) opts.progress = [&](uint64_t d, uint64_t) { progress(base + d, total); };
    auto put = store_->PutFile(prefix + f.path, dir + "/" + f.path, opts);
    if (!put.ok() && put.status().reason() == "precondition_failed") {
      // Left by an earlier, interrupted push of this version (or a racing one): keep it only if
      // it holds exactly our bytes.
      std::string scratch = dir + "/.modelfn-check-" + std::to_string(getpid());
      auto got = store_->GetToFile(prefix + f.path, scratch, nullptr);
      auto digest = got.ok() ? Sha256File(scratch) : StatusOr<FileDigest>(got.status());
      unlink(scratch.c_str());
      if (!digest.ok()) return digest.status();
      if (digest->sha256 != f.sha256) {
        return Status(StatusCode::kAlreadyExists,
                      "another " + f.path + " is already stored for " + manifest.name + "@" +
                          manifest.version + " (a concurrent push with other content?)",
                      "version_exists");
      }
    } else if (!put.ok()) {
      return put.status().WithContext("uploading " + f.path);
    } else {
      result.bytes += f.size;
    }
    done += f.size;
  }
  PutOptions opts;
  opts.condition = PutOptions::Condition::kIfAbsent;
  opts.content_type = "application/json";
  auto put = store_->Put(prefix + "manifest.json", manifest_json, opts);
  if (!put.ok()) {
    if (put.status().reason() == "precondition_failed") {
      return Status(StatusCode::kAlreadyExists,
                    manifest.name + "@" + manifest.version + " was pushed concurrently",
                    "version_exists");
    }
    return put.status().WithContext("uploading manifest.json");
  }
  result.created = true;
  result.bytes += manifest_json.size();
  return result;
}

StatusOr<Pointer> ModelRegistry::ReadPointer(const std::string& name) {
  RETURN_IF_ERROR(ValidateModelName(name));
  ASSIGN_OR_RETURN(ObjectInfo info, store_->Head(PointerKey(name)));
  ASSIGN_OR_RETURN(std::string text, store_->Get(PointerKey(name)));
  ASSIGN_OR_RETURN(Pointer p, Pointer::Parse(text));
  p.etag = info.etag;
  return p;
}

StatusOr<Pointer> ModelRegistry::Swap(const std::string& name, const std::optional<Pointer>& old,
                                      Pointer next) {
  next.updated_at = FormatRfc3339(clock_->WallNanos());
  PutOptions opts;
  opts.content_type = "application/json";
  if (old) {
    opts.condition = PutOptions::Condition::kIfMatch;
    opts.if_match = old->etag;
  } else {
    opts.condition = PutOptions::Condition::kIfAbsent;
  }
  auto put = store_->Put(PointerKey(name), next.ToJson(), opts);
  if (!put.ok()) {
    if (put.status().reason() == "precondition_failed") {
      return Status(StatusCode::kFailedPrecondition,
                    "current.json of " + name +
                        " changed while it was being updated; nothing was "
                        "changed by this command, read the new state and retry",
                    "promote_conflict");
    }
    return put.status();
  }
  next.etag = put->etag;
  return next;
}

StatusOr<Pointer> ModelRegistry::Promote(const std::string& name, const std::string& version) {
  RETURN_IF_ERROR(ValidateModelName(name));
  RETURN_IF_ERROR(ValidateVersion(version));
  auto manifest = store_->Get(VersionPrefix(name, version) + "manifest.json");
  if (!manifest.ok()) {
    if (manifest.status().code() == StatusCode::kNotFound) {
      return Status(StatusCode::kNotFound,
                    name + "@" + version + " does not exist in " + store_->Describe(), "not_found");
    }
    return manifest.status();
  }
  RETURN_IF_ERROR(ParseManifest(*manifest).status());
  std::optional<Pointer> old;
  auto current = ReadPointer(name);
  if (current.ok()) {
    old = std::move(current).value();
  } else if (current.status().code() != StatusCode::kNotFound) {
    return current.status();
  }
  Pointer next;
  next.current = {version, Sha256Hex(*manifest)};
  if (old) {
    if (old->current.version != version) next.history.push_back(old->current);
    for (const auto& e : old->history) {
      if (next.history.size() >= kMaxHistory) break;
      next.history.push_back(e);
    }
  }
  return Swap(name, old, std::move(next));
}

StatusOr<Pointer> ModelRegistry::Rollback(const std::string& name) {
  ASSIGN_OR_RETURN(Pointer old, ReadPointer(name));
  if (old.history.empty()) {
    return Status(
        StatusCode::kFailedPrecondition,
        name + " has no earlier version to roll back to (current is " + old.current.version + ")",
        "no_history");
  }
  Pointer next;
  next.current = old.history[0];
  next.history.assign(old.history.begin() + 1, old.history.end());
  auto manifest = store_->Get(VersionPrefix(name, next.current.version) + "manifest.json");
  if (!manifest.ok())
    return manifest.status().WithContext("rollback target " + next.current.version);
  if (Sha256Hex(*manifest) != next.current.sha256) {
    return Status(
        StatusCode::kDataLoss,
        "manifest.json of " + name + "@" + next.current.version + " changed since it was promoted",
        "checksum_mismatch");
  }
  return Swap(name, old, std::move(next));
}

StatusOr<std::vector<std::string>> ModelRegistry::Versions(const std::string& name) {
  RETURN_IF_ERROR(ValidateModelName(name));
  ASSIGN_OR_RETURN(auto objects, store_->List(name + "/versions/"));
  std::vector<std::string> out;
  const std::string suffix = "/manifest.json";
  size_t base = name.size() + std::string("/versions/").size();
  for (const auto& o : objects) {
    if (o.key.size() <= base + suffix.size() ||
        o.key.compare(o.key.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    std::string v = o.key.substr(base, o.key.size() - base - suffix.size());
    if (v.find('/') == std::string::npos) out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

StatusOr<std::vector<std::string>> ModelRegistry::Models() {
  ASSIGN_OR_RETURN(auto objects, store_->List(""));
  std::set<std::string> names;
  for (const auto& o : objects) {
    size_t slash = o.key.find("/versions/");
    if (slash == std::string::npos || slash == 0) continue;
    const std::string suffix = "/manifest.json";
    if (o.key.size() > suffix.size() &&
        o.key.compare(o.key.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        o.key.find('/') == slash) {
      names.insert(o.key.substr(0, slash));
    }
  }
  return std::vector<std::string>(names.begin(), names.end());
}

StatusOr<ResolvedModel> ModelRegistry::Resolve(const std::string& name,
                                               const std::string& version) {
  RETURN_IF_ERROR(ValidateModelName(name));
  ResolvedModel r;
  r.name = name;
  std::string want_sha;
  if (version.empty()) {
    auto p = ReadPointer(name);
    if (!p.ok()) {
      if (p.status().code() == StatusCode::kNotFound) {
        return Status(StatusCode::kNotFound,
                      name + " has no current.json in " + store_->Describe() +
                          " (promote a version, or pin one with " + name + "@VERSION)",
                      "not_found");
      }
      return p.status();
    }
    r.version = p->current.version;
    want_sha = p->current.sha256;
    r.via_pointer = true;
  } else {
    RETURN_IF_ERROR(ValidateVersion(version));
    r.version = version;
  }
  auto manifest = store_->Get(VersionPrefix(name, r.version) + "manifest.json");
  if (!manifest.ok()) {
    if (manifest.status().code() == StatusCode::kNotFound) {
      return Status(StatusCode::kNotFound,
                    name + "@" + r.version + " does not exist in " + store_->Describe(),
                    "not_found");
    }
    return manifest.status();
  }
  r.manifest_bytes = std::move(manifest).value();
  r.manifest_sha256 = Sha256Hex(r.manifest_bytes);
  if (!want_sha.empty() && want_sha != r.manifest_sha256) {
    return Status(StatusCode::kDataLoss,
                  "manifest.json of " + name + "@" + r.version +
                      " does not match current.json's sha256: "
                      "refusing a modified manifest",
                  "checksum_mismatch");
  }
  ASSIGN_OR_RETURN(r.manifest, ParseManifest(r.manifest_bytes));
  if (r.manifest.name != name || r.manifest.version != r.version) {
    return Status(StatusCode::kDataLoss,
                  "manifest.json at " + name + "@" + r.version + " describes " + r.manifest.name +
                      "@" + r.manifest.version,
                  "invalid_manifest");
  }
  return r;
}

StatusOr<std::vector<ModelRegistry::FileCheck>> ModelRegistry::Verify(
    const ResolvedModel& model, const std::string& scratch_dir) {
  std::vector<FileCheck> out;
  const std::string prefix = VersionPrefix(model.name, model.version);
  for (const ManifestFile& f : model.manifest.files) {
    FileCheck c;
    c.path = f.path;
    std::string tmp = scratch_dir + "/.modelfn-verify-" + std::to_string(getpid());
    auto got = store_->GetToFile(prefix + f.path, tmp, nullptr);
    if (!got.ok()) {
      c.detail = got.status().message();
      if (got.status().code() == StatusCode::kUnavailable) return got.status();
    } else {
      auto d = Sha256File(tmp);
      if (!d.ok()) {
        c.detail = d.status().message();
      } else if (d->size != f.size || d->sha256 != f.sha256) {
        c.detail = "expected sha256 " + f.sha256 + " (" + std::to_string(f.size) +
                   " bytes), found " + d->sha256 + " (" + std::to_string(d->size) + " bytes)";
      } else {
        c.ok = true;
      }
    }
    unlink(tmp.c_str());
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace modelfn

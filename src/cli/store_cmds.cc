// modelfn push, promote, rollback and list: versions in a model store.
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/model_files.h"
#include "common/json.h"
#include "common/sha256.h"
#include "manifest/manifest.h"
#include "store/registry.h"

namespace modelfn {

// ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kPushUsage =
    "usage: modelfn push PATH --name N --version V [--store URI] [--follow-links] [--json]\n"
    "\n"
    "PATH is a folder holding model.onnx (every other regular file in it, e.g. tokenizer.json, is\n"
    "pushed too; an existing manifest.json is ignored and rewritten) or a single .onnx file; the\n"
    "external-data files the model names are always pushed. A symlink leading out of the folder\n"
    "is refused unless --follow-links.\n"
    "Uploads the files first and manifest.json last: an interrupted push leaves no visible "
    "version.\n"
    "Pushing the same content again is a no-op; other content under an existing version is "
    "refused.\n";

}  // namespace

int CmdPush(int argc, char** argv) {
  Args a(argc, argv, {"name", "version", "store"}, {"json", "help", "follow-links"});
  if (a.Has("help")) return fputs(kPushUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 1 || !a.Has("name") || !a.Has("version")) {
    return Usage(kPushUsage, a.ok() ? "" : a.error());
  }
  std::string path = a.positional()[0];
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Fail(NotFoundError("no such file or folder: " + path));
  std::string dir;
  std::string model_file;
  ModelFilesOptions fo;
  fo.follow_links = a.Has("follow-links");
  if (S_ISDIR(st.st_mode)) {
    dir = path;
    model_file = "model.onnx";
    if (stat((dir + "/model.onnx").c_str(), &st) != 0)
      return Fail(NotFoundError("no model.onnx in " + dir));
    fo.whole_folder = true;
  } else {
    size_t slash = path.rfind('/');
    dir = slash == std::string::npos ? "." : path.substr(0, slash);
    model_file = slash == std::string::npos ? path : path.substr(slash + 1);
  }
  auto listed = ListModelFiles(dir, model_file, fo);
  if (!listed.ok()) return Fail(listed.status());
  const std::vector<std::string>& files = *listed;
  auto m = ManifestFor(dir, files, a.Get("name"), a.Get("version"));
  if (!m.ok()) return Fail(m.status());
  auto h = OpenFromArgs(a);
  if (!h.ok()) return Fail(h.status());
  std::string json = SerializeManifest(*m);
  auto r = h->registry->Push(dir, *m, json,
                             TerminalProgress("push " + m->name + "@" + m->version, a.Has("json")));
  if (!r.ok()) return Fail(r.status());
  if (a.Has("json")) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Key("name").String(m->name).Key("version").String(m->version);
    w.Key("store").String(h->uri.ToString()).Key("created").Bool(r->created);
    w.Key("bytes_uploaded").Uint(r->bytes).Key("files").Int(static_cast<int64_t>(files.size()));
    w.Key("manifest_sha256").String(Sha256Hex(json)).EndObject();
    PrintJson(out);
  } else if (r->created) {
    printf("pushed %s@%s to %s (%zu files, %llu bytes)\n", m->name.c_str(), m->version.c_str(),
           h->uri.ToString().c_str(), files.size(), static_cast<unsigned long long>(r->bytes));
  } else {
    printf("%s@%s is already in %s with the same content\n", m->name.c_str(), m->version.c_str(),
           h->uri.ToString().c_str());
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
namespace {

std::string PointerJson(const std::string& name, const Pointer& p) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("name").String(name).Key("version").String(p.current.version);
  w.Key("sha256").String(p.current.sha256).Key("updated_at").String(p.updated_at);
  w.Key("history").BeginArray();
  for (const auto& e : p.history) w.String(e.version);
  w.EndArray().EndObject();
  return out;
}

constexpr const char* kPromoteUsage =
    "usage: modelfn promote N V [--store URI] [--json]\n"
    "       modelfn rollback N [--store URI] [--json]\n"
    "\n"
    "Swaps N's current.json with a conditional write: if another promote changed it meanwhile,\n"
    "nothing is changed and the command fails (exit 1); run it again.\n";

int PromoteOrRollback(int argc, char** argv, bool rollback) {
  Args a(argc, argv, {"store"}, {"json", "help"});
  if (a.Has("help")) return fputs(kPromoteUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != (rollback ? 1u : 2u))
    return Usage(kPromoteUsage, a.ok() ? "" : a.error());
  auto h = OpenFromArgs(a);
  if (!h.ok()) return Fail(h.status());
  const std::string& name = a.positional()[0];
  auto p = rollback ? h->registry->Rollback(name) : h->registry->Promote(name, a.positional()[1]);
  if (!p.ok()) return Fail(p.status());
  if (a.Has("json")) {
    PrintJson(PointerJson(name, *p));
  } else {
    printf("%s: current is now %s%s\n", name.c_str(), p->current.version.c_str(),
           p->history.empty() ? "" : (" (previous: " + p->history[0].version + ")").c_str());
  }
  return 0;
}

}  // namespace

int CmdPromote(int argc, char** argv) { return PromoteOrRollback(argc, argv, false); }
int CmdRollback(int argc, char** argv) { return PromoteOrRollback(argc, argv, true); }

// ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kListUsage = "usage: modelfn list [N] [--store URI] [--json]\n";

}  // namespace

int CmdList(int argc, char** argv) {
  Args a(argc, argv, {"store"}, {"json", "help"});
  if (a.Has("help")) return fputs(kListUsage, stdout), 0;
  if (!a.ok() || a.positional().size() > 1) return Usage(kListUsage, a.ok() ? "" : a.error());
  auto h = OpenFromArgs(a);
  if (!h.ok()) return Fail(h.status());
  std::vector<std::string> names;
  if (a.positional().empty()) {
    auto models = h->registry->Models();
    if (!models.ok()) return Fail(models.status());
    names = *models;
  } else {
    names.push_back(a.positional()[0]);
  }
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("store").String(h->uri.ToString()).Key("models").BeginArray();
  for (const std::string& name : names) {
    auto versions = h->registry->Versions(name);
    if (!versions.ok()) return Fail(versions.status());
    auto pointer = h->registry->ReadPointer(name);
    std::string current = pointer.ok() ? pointer->current.version : "";
    if (!a.Has("json")) {
      if (a.positional().empty()) {
        printf("%-24s current %-12s %zu version(s)\n", name.c_str(),
               current.empty() ? "-" : current.c_str(), versions->size());
      } else {
        for (const auto& v : *versions) printf("%s %s\n", v == current ? "*" : " ", v.c_str());
      }
    }
    w.BeginObject().Key("name").String(name);
    if (current.empty()) {
      w.Key("current").Null();
    } else {
      w.Key("current").String(current);
    }
    w.Key("versions").BeginArray();
    for (const auto& v : *versions) w.String(v);
    w.EndArray().EndObject();
  }
  w.EndArray().EndObject();
  if (a.Has("json")) PrintJson(out);
  return 0;
}

}  // namespace modelfn

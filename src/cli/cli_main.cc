// modelfn: the command-line tool. Model versions (manifest, push, promote, rollback, list, show,
// verify) and least-privilege policies for a model store.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/model_files.h"
#include "cli/up_cmd.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"
#include "engine/ort_engine.h"
#include "manifest/manifest.h"
#include "package/lambda_zip.h"
#include "package/oci_image.h"
#include "package/sam_template.h"
#include "store/open_store.h"
#include "store/registry.h"
#include "store/store_uri.h"

namespace modelfn {
namespace {

constexpr const char* kUsage =
    "usage: modelfn <command> [options]\n"
    "\n"
    "Model versions (store: --store URI or MODELFN_STORE; default ./models):\n"
    "  manifest MODEL.onnx --name N --version V   write manifest.json beside the model\n"
    "  push PATH --name N --version V            upload a model folder (or .onnx file) as a "
    "version\n"
    "  promote N V                               point N's current.json at version V\n"
    "  rollback N                                point it back at the previous version\n"
    "  list [N]                                  models, or the versions of N\n"
    "  show N[@V]                                a version's manifest and the pointer\n"
    "  verify N[@V]                              download and re-hash every file\n"
    "  policy N --provider aws|gcp|azure         least-privilege read-only policy for N\n"
    "\n"
    "Deployment:\n"
    "  package --target aws-lambda-zip --model DIR   self-contained Lambda zip (function.zip)\n"
    "  deploy --target aws --model M [--dry-run]     package + AWS SAM template (then sam deploy)\n"
    "\n"
    "Local platform (modelfn.yaml):\n"
    "  up [-f modelfn.yaml]                          gateway + instances on demand, scale to zero\n"
    "  status [--json]                               functions, instances, latency, cold starts\n"
    "  keys create|list|revoke                       API keys for the gateway\n"
    "\n"
    "Every command takes --help; data commands take --json. Store URIs: a path, file:///path,\n"
    "s3://bucket/prefix, gs://bucket/prefix, az://container/prefix.\n"
    "Exit codes: 0 success, 1 failure, 2 usage error.\n";

int Fail(const Status& s) { return ::modelfn::Fail(s.message()); }

void PrintJson(const std::string& json) { printf("%s\n", json.c_str()); }

// Progress on stderr when it is a terminal: "[#####     ] 48% 12.0/25.0 MB".
ProgressFn TerminalProgress(const std::string& label) {
  if (!isatty(STDERR_FILENO)) return nullptr;
  return [label, last = -1](uint64_t done, uint64_t total) mutable {
    if (total == 0) return;
    int pct = static_cast<int>(done * 100 / total);
    if (pct == last) return;
    last = pct;
    char bar[21];
    for (int i = 0; i < 20; ++i) bar[i] = i < pct / 5 ? '#' : ' ';
    bar[20] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %.1f/%.1f MB", label.c_str(), bar, pct, done / 1e6,
            total / 1e6);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
  };
}

struct StoreHandle {
  StoreUri uri;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<ModelRegistry> registry;
};

StatusOr<StoreHandle> OpenFromArgs(const Args& args) {
  std::string uri = args.Get("store");
  if (uri.empty()) {
    const char* env = getenv("MODELFN_STORE");
    uri = env && *env ? env : "./models";
  }
  StoreHandle h;
  ASSIGN_OR_RETURN(h.uri, ParseStoreUri(uri));
  ASSIGN_OR_RETURN(h.store, OpenStore(h.uri, &RealClock::Get()));
  h.registry = std::make_unique<ModelRegistry>(h.store.get(), &RealClock::Get());
  return h;
}

// The manifest of the model `files[0]` in `dir` (the files as ListModelFiles found them).
// What the author declared in an existing manifest.json there ("batching", inputs' "max_shape"
// and "range") is kept; an unreadable one is ignored, as before.
StatusOr<Manifest> ManifestFor(const std::string& dir, const std::vector<std::string>& files,
                               const std::string& name, const std::string& version) {
  auto engine = OrtEngine::Load(dir + "/" + files[0], OrtEngineOptions());
  if (!engine.ok()) return engine.status();
  ASSIGN_OR_RETURN(Manifest m,
                   BuildManifest(dir, name, version, files, (*engine)->schema(), RealClock::Get()));
  if (auto text = ReadFile(dir + "/manifest.json"); text.ok()) {
    if (auto old = ParseManifest(*text); old.ok()) {
      m.merge_batches = old->merge_batches;
      for (const InputLimits& l : old->input_limits) {
        if (m.schema.InputIndex(l.input) >= 0) m.input_limits.push_back(l);
      }
    }
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
constexpr const char* kManifestUsage =
    "usage: modelfn manifest MODEL.onnx --name N --version V [--file EXTRA]... [--out PATH] "
    "[--json]\n"
    "\n"
    "Reads the model's inputs and outputs with ONNX Runtime, hashes the model, the external-data\n"
    "files it names (found in the model: no --file needed) and extra files (--file, relative to\n"
    "the model's folder, e.g. tokenizer.json), and writes manifest.json beside it.\n"
    "  --out PATH   where to write (default: manifest.json beside the model; '-' for stdout)\n"
    "  --json       print the manifest on stdout as well\n";

int CmdManifest(int argc, char** argv) {
  Args a(argc, argv, {"name", "version", "file", "out"}, {"json", "help"});
  if (a.Has("help")) return fputs(kManifestUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 1 || !a.Has("name") || !a.Has("version")) {
    return Usage(kManifestUsage, a.ok() ? "" : a.error());
  }
  std::string model = a.positional()[0];
  size_t slash = model.rfind('/');
  std::string dir = slash == std::string::npos ? "." : model.substr(0, slash);
  ModelFilesOptions fo;
  for (const auto& f : a.GetAll("file")) fo.extra.push_back(f);
  auto files =
      ListModelFiles(dir, slash == std::string::npos ? model : model.substr(slash + 1), fo);
  if (!files.ok()) return Fail(files.status());
  auto m = ManifestFor(dir, *files, a.Get("name"), a.Get("version"));
  if (!m.ok()) return Fail(m.status());
  std::string text = SerializeManifest(*m);
  std::string out = a.Get("out", dir + "/manifest.json");
  if (out == "-") return fputs(text.c_str(), stdout), 0;
  if (Status s = WriteFileAtomic(out, text); !s.ok()) return Fail(s);
  if (a.Has("json")) {
    fputs(text.c_str(), stdout);
  } else {
    printf("wrote %s (%s@%s, sha256 %s)\n", out.c_str(), m->name.c_str(), m->version.c_str(),
           m->files[0].sha256.c_str());
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
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
  auto r = h->registry->Push(dir, *m, json, TerminalProgress("push " + m->name + "@" + m->version));
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

int CmdPromote(int argc, char** argv, bool rollback) {
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

// ---------------------------------------------------------------------------------------------
constexpr const char* kListUsage = "usage: modelfn list [N] [--store URI] [--json]\n";

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

// ---------------------------------------------------------------------------------------------
constexpr const char* kShowUsage =
    "usage: modelfn show N[@V] [--store URI] [--json]\n"
    "       modelfn verify N[@V] [--store URI] [--json]\n";

int CmdShow(int argc, char** argv, bool verify) {
  Args a(argc, argv, {"store"}, {"json", "help"});
  if (a.Has("help")) return fputs(kShowUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 1) return Usage(kShowUsage, a.ok() ? "" : a.error());
  auto h = OpenFromArgs(a);
  if (!h.ok()) return Fail(h.status());
  auto [name, version] = SplitModelRef(a.positional()[0]);
  auto r = h->registry->Resolve(name, version);
  if (!r.ok()) return Fail(r.status());
  if (!verify) {
    auto pointer = h->registry->ReadPointer(name);
    if (a.Has("json")) {
      std::string out;
      JsonWriter w(&out);
      w.BeginObject().Key("name").String(name).Key("version").String(r->version);
      w.Key("current").Bool(pointer.ok() && pointer->current.version == r->version);
      w.Key("manifest_sha256").String(r->manifest_sha256);
      auto doc = Json::Parse(r->manifest_bytes);
      w.Key("manifest").Value(*doc);
      w.EndObject();
      PrintJson(out);
    } else {
      printf("%s@%s%s in %s\nmanifest sha256 %s\n%s", name.c_str(), r->version.c_str(),
             pointer.ok() && pointer->current.version == r->version ? " (current)" : "",
             h->uri.ToString().c_str(), r->manifest_sha256.c_str(), r->manifest_bytes.c_str());
    }
    return 0;
  }
  char tmpl[] = "/tmp/modelfn-verify-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return Fail(UnavailableError("cannot create a scratch folder"));
  auto checks = h->registry->Verify(*r, tmpl);
  rmdir(tmpl);
  if (!checks.ok()) return Fail(checks.status());
  bool all_ok = true;
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("name")
      .String(name)
      .Key("version")
      .String(r->version)
      .Key("files")
      .BeginArray();
  for (const auto& c : *checks) {
    all_ok = all_ok && c.ok;
    w.BeginObject().Key("path").String(c.path).Key("ok").Bool(c.ok);
    if (!c.ok) w.Key("detail").String(c.detail);
    w.EndObject();
    if (!a.Has("json"))
      printf("%s %s%s%s\n", c.ok ? "ok  " : "FAIL", c.path.c_str(), c.ok ? "" : ": ",
             c.detail.c_str());
  }
  w.EndArray().Key("ok").Bool(all_ok).EndObject();
  if (a.Has("json"))
    PrintJson(out);
  else
    printf("%s@%s: %s\n", name.c_str(), r->version.c_str(), all_ok ? "verified" : "CORRUPT");
  return all_ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
constexpr const char* kPolicyUsage =
    "usage: modelfn policy N --provider aws|gcp|azure [--store URI]\n"
    "\n"
    "Prints the least-privilege read-only policy a function needs for model N: read the objects\n"
    "under the model's prefix and list that prefix, nothing else.\n";

int CmdPolicy(int argc, char** argv) {
  Args a(argc, argv, {"store", "provider"}, {"help", "json"});
  if (a.Has("help")) return fputs(kPolicyUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 1 || !a.Has("provider"))
    return Usage(kPolicyUsage, a.ok() ? "" : a.error());
  const std::string name = a.positional()[0];
  if (Status s = ValidateModelName(name); !s.ok()) return Fail(s);
  std::string uri = a.Get("store");
  if (uri.empty() && getenv("MODELFN_STORE")) uri = getenv("MODELFN_STORE");
  auto parsed = ParseStoreUri(uri.empty() ? "./models" : uri);
  if (!parsed.ok()) return Fail(parsed.status());
  std::string provider = a.Get("provider");
  std::string prefix = (parsed->prefix.empty() ? "" : parsed->prefix + "/") + name + "/";
  std::string out;
  JsonWriter w(&out);
  if (provider == "aws") {
    if (parsed->kind != StoreUri::Kind::kS3)
      return Fail(InvalidArgumentError("--provider aws needs an s3:// store"));
    w.BeginObject().Key("Version").String("2012-10-17").Key("Statement").BeginArray();
    w.BeginObject().Key("Sid").String("ReadModelObjects").Key("Effect").String("Allow");
    w.Key("Action").BeginArray().String("s3:GetObject").EndArray();
    w.Key("Resource")
        .BeginArray()
        .String("arn:aws:s3:::" + parsed->bucket + "/" + prefix + "*")
        .EndArray()
        .EndObject();
    w.BeginObject().Key("Sid").String("ListModelPrefix").Key("Effect").String("Allow");
    w.Key("Action").BeginArray().String("s3:ListBucket").EndArray();
    w.Key("Resource").BeginArray().String("arn:aws:s3:::" + parsed->bucket).EndArray();
    w.Key("Condition").BeginObject().Key("StringLike").BeginObject().Key("s3:prefix").BeginArray();
    w.String(prefix + "*").EndArray().EndObject().EndObject().EndObject();
    w.EndArray().EndObject();
  } else if (provider == "gcp") {
    if (parsed->kind != StoreUri::Kind::kGcs)
      return Fail(InvalidArgumentError("--provider gcp needs a gs:// store"));
    w.BeginObject().Key("bindings").BeginArray().BeginObject();
    w.Key("role").String("roles/storage.objectViewer");
    w.Key("members").BeginArray().String("serviceAccount:FUNCTION_SERVICE_ACCOUNT").EndArray();
    w.Key("condition").BeginObject().Key("title").String("modelfn-read-" + name);
    w.Key("description").String("read-only access to model " + name);
    w.Key("expression")
        .String("resource.name.startsWith(\"projects/_/buckets/" + parsed->bucket + "/objects/" +
                prefix + "\")");
    w.EndObject().EndObject().EndArray().EndObject();
  } else if (provider == "azure") {
    if (parsed->kind != StoreUri::Kind::kAzure)
      return Fail(InvalidArgumentError("--provider azure needs an az:// store"));
    std::string account = parsed->account.empty() ? "STORAGE_ACCOUNT" : parsed->account;
    w.BeginObject().Key("roleDefinitionName").String("Storage Blob Data Reader");
    w.Key("principalId").String("FUNCTION_PRINCIPAL_ID");
    w.Key("scope").String(
        "/subscriptions/SUBSCRIPTION_ID/resourceGroups/RESOURCE_GROUP/providers/"
        "Microsoft.Storage/storageAccounts/" +
        account + "/blobServices/default/containers/" + parsed->bucket);
    w.Key("conditionVersion").String("2.0");
    w.Key("condition")
        .String(
            "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/"
            "read'})) OR "
            "(@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] "
            "StringStartsWith '" +
            prefix + "'))");
    w.EndObject();
  } else {
    return Usage(kPolicyUsage, "unknown provider '" + provider + "'");
  }
  PrintJson(out);
  return 0;
}

// ---------------------------------------------------------------------------------------------
constexpr const char* kPackageUsage =
    "usage: modelfn package --target aws-lambda-zip --model DIR [--out function.zip] [--arch "
    "x86_64|arm64]\n"
    "                       [--runtime PATH] [--bootstrap PATH] [--json]\n"
    "\n"
    "Writes a self-contained Lambda package: a static bootstrap, modelfn-fn, every shared library\n"
    "it loads (the dynamic loader and libc included) and the model folder (verified against its\n"
    "manifest). Runs on provided.al2023 whatever glibc this machine has. Fails above Lambda's "
    "size\n"
    "limits (50 MiB zipped, 250 MiB unzipped). --runtime and --bootstrap default to the binaries\n"
    "installed beside this modelfn (for another --arch, in its arm64/ or x86_64/ folder, where\n"
    "scripts/build.sh --arch arm64 puts the cross-built ones).\n"
    "aws-lambda-image writes OUT/context (Dockerfile on provided:al2023 and Dockerfile.scratch) "
    "and\n"
    "OUT/image.tar, the scratch image as an OCI image layout, built without a container engine.\n";

// Where the function binaries for `arch` are: beside modelfn for this machine's architecture,
// else in the arch's folder beside it.
std::string BinariesFor(const std::string& arch) {
#if defined(__x86_64__)
  const char* host = "x86_64";
#else
  const char* host = "arm64";
#endif
  return arch == host ? SelfDir() : SelfDir() + "/" + arch;
}

int CmdPackage(int argc, char** argv) {
  Args a(argc, argv, {"target", "model", "out", "arch", "runtime", "bootstrap"}, {"json", "help"});
  if (a.Has("help")) return fputs(kPackageUsage, stdout), 0;
  std::string target = a.Get("target");
  if (!a.ok() || !a.positional().empty() ||
      (target != "aws-lambda-zip" && target != "aws-lambda-image") || !a.Has("model")) {
    return Usage(kPackageUsage,
                 a.ok() ? (a.Has("target") ? "target '" + target + "' is not available yet" : "")
                        : a.error());
  }
  LambdaZipOptions o;
  o.model_dir = a.Get("model");
  o.out = a.Get("out", target == "aws-lambda-zip" ? "function.zip" : "modelfn-image");
  o.arch = a.Get("arch", "x86_64");
  o.runtime_binary = a.Get("runtime", BinariesFor(o.arch) + "/modelfn-fn");
  o.bootstrap_binary = a.Get("bootstrap", BinariesFor(o.arch) + "/modelfn-bootstrap");
  if (target == "aws-lambda-image") {
    std::string staged = o.out + "/package";
    LambdaZipOptions so = o;
    so.out = o.out + "/.stage";
    mkdir(o.out.c_str(), 0755);
    if (Status s = StageLambdaPackage(so, staged); !s.ok()) return Fail(s);
    auto img = BuildLambdaImage(staged, o.out, o.arch == "x86_64" ? "amd64" : "arm64");
    std::string cleanup = "rm -rf '" + staged + "'";
    if (system(cleanup.c_str()) != 0)
      fprintf(stderr, "modelfn: could not remove %s\n", staged.c_str());
    if (!img.ok()) return Fail(img.status());
    if (a.Has("json")) {
      std::string out;
      JsonWriter w(&out);
      w.BeginObject().Key("image").String(img->image_tar).Key("context").String(o.out + "/context");
      w.Key("image_bytes")
          .Uint(img->image_bytes)
          .Key("uncompressed_bytes")
          .Uint(img->uncompressed_bytes);
      w.Key("manifest_digest").String(img->manifest_digest).EndObject();
      PrintJson(out);
    } else {
      printf(
          "wrote %s (OCI image layout, %.1f MB compressed, %.1f MB uncompressed) and the build "
          "context %s/context\n",
          img->image_tar.c_str(), img->image_bytes / 1048576.0, img->uncompressed_bytes / 1048576.0,
          o.out.c_str());
    }
    return 0;
  }
  auto r = BuildLambdaZip(o);
  if (!r.ok()) return Fail(r.status());
  if (a.Has("json")) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Key("out").String(o.out).Key("zipped_bytes").Uint(r->zipped_bytes);
    w.Key("unzipped_bytes").Uint(r->unzipped_bytes).Key("zip_limit").Uint(kLambdaZipLimit);
    w.Key("unzipped_limit").Uint(kLambdaUnzippedLimit).Key("files").BeginArray();
    for (const auto& [name, size] : r->entries)
      w.BeginObject().Key("name").String(name).Key("bytes").Uint(size).EndObject();
    w.EndArray().EndObject();
    PrintJson(out);
  } else {
    printf(
        "wrote %s: %.1f MB zipped (limit %.0f MB), %.1f MB unzipped (limit %.0f MB), %zu files\n",
        o.out.c_str(), r->zipped_bytes / 1048576.0, kLambdaZipLimit / 1048576.0,
        r->unzipped_bytes / 1048576.0, kLambdaUnzippedLimit / 1048576.0, r->entries.size());
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
constexpr const char* kDeployUsage =
    "usage: modelfn deploy --target aws --model DIR|s3://BUCKET/PREFIX/NAME[@V] [--dry-run] [--out "
    "DIR]\n"
    "       [--name FUNCTION] [--arch x86_64|arm64] [--memory MB] [--timeout S] [--ephemeral MB]\n"
    "       [--reserved N] [--provisioned N] [--api http|url|none] [--auth none|iam|jwt]\n"
    "       [--jwt-issuer URL --jwt-audience AUD] [--log-retention-days D] [--json]\n"
    "       [--trigger-bucket NAME [--input-prefix incoming/] [--output-prefix results/]\n"
    "        [--failure-prefix failed/]]\n"
    "\n"
    "Writes OUT/function.zip (the model inside for a folder; fetched from S3 at init for an s3://\n"
    "model) and OUT/template.yaml, an AWS SAM template with a least-privilege role. Without\n"
    "--dry-run it then runs your AWS SAM CLI: sam deploy --template-file OUT/template.yaml\n"
    "--stack-name FUNCTION --resolve-s3 --capabilities CAPABILITY_IAM. OUT defaults to "
    "./modelfn-aws.\n";

int CmdDeploy(int argc, char** argv) {
  Args a(argc, argv, {"target",       "model",         "out",
                      "name",         "arch",          "memory",
                      "timeout",      "ephemeral",     "reserved",
                      "provisioned",  "api",           "auth",
                      "jwt-issuer",   "jwt-audience",  "log-retention-days",
                      "runtime",      "bootstrap",     "trigger-bucket",
                      "input-prefix", "output-prefix", "failure-prefix"},
         {"dry-run", "json", "help"});
  if (a.Has("help")) return fputs(kDeployUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty() || !a.Has("model"))
    return Usage(kDeployUsage, a.ok() ? "" : a.error());
  if (a.Get("target") != "aws") {
    return Usage(kDeployUsage, "target '" + a.Get("target") + "' is not available yet (aws is)");
  }
  auto num = [&](const char* flag, int def, int* out) -> bool {
    std::string v = a.Get(flag);
    if (v.empty()) return *out = def, true;
    char* end = nullptr;
    long x = strtol(v.c_str(), &end, 10);
    if (*end != '\0') return false;
    *out = static_cast<int>(x);
    return true;
  };
  SamOptions o;
  std::string model = a.Get("model");
  bool remote = HasStoreScheme(model);
  if (!num("memory", 1024, &o.memory_mb) || !num("timeout", 30, &o.timeout_s) ||
      !num("ephemeral", 1024, &o.ephemeral_mb) || !num("reserved", 0, &o.reserved) ||
      !num("provisioned", 0, &o.provisioned) ||
      !num("log-retention-days", 14, &o.log_retention_days)) {
    return Usage(kDeployUsage, "numeric options take whole numbers");
  }
  o.arch = a.Get("arch", "x86_64");
  o.api = a.Get("api", "http");
  o.auth = a.Get("auth", "none");
  o.jwt_issuer = a.Get("jwt-issuer");
  o.jwt_audience = a.Get("jwt-audience");
  o.trigger_bucket = a.Get("trigger-bucket");
  o.input_prefix = a.Get("input-prefix", o.input_prefix);
  o.output_prefix = a.Get("output-prefix", o.output_prefix);
  o.failure_prefix = a.Get("failure-prefix", o.failure_prefix);
  if (remote) {
    auto src = ParseModelSource(model);
    if (!src.ok()) return Fail(src.status());
    o.model_name = src->name;
    o.model_uri = model;
  } else {
    auto text = ReadFile(model + "/manifest.json");
    if (!text.ok()) return Fail(text.status());
    auto m = ParseManifest(*text);
    if (!m.ok()) return Fail(m.status());
    o.model_name = m->name + "@" + m->version;
  }
  o.function_name = a.Get("name", "modelfn-" + o.model_name.substr(0, o.model_name.find('@')));
  auto rendered = RenderSamTemplate(o);
  if (!rendered.ok()) return Fail(rendered.status());
  std::string out = a.Get("out", "modelfn-aws");
  mkdir(out.c_str(), 0755);
  LambdaZipOptions z;
  z.model_dir = remote ? "" : model;
  z.out = out + "/function.zip";
  z.arch = o.arch;
  z.runtime_binary = a.Get("runtime", BinariesFor(z.arch) + "/modelfn-fn");
  z.bootstrap_binary = a.Get("bootstrap", BinariesFor(z.arch) + "/modelfn-bootstrap");
  auto zip = BuildLambdaZip(z);
  if (!zip.ok()) return Fail(zip.status());
  if (Status s = WriteFileAtomic(out + "/template.yaml", *rendered); !s.ok()) return Fail(s);
  if (a.Has("json")) {
    std::string j;
    JsonWriter w(&j);
    w.BeginObject().Key("template").String(out + "/template.yaml").Key("package").String(z.out);
    w.Key("zipped_bytes")
        .Uint(zip->zipped_bytes)
        .Key("function")
        .String(o.function_name)
        .EndObject();
    PrintJson(j);
  } else {
    printf("wrote %s/template.yaml and %s (%.1f MB)\n", out.c_str(), z.out.c_str(),
           zip->zipped_bytes / 1048576.0);
  }
  if (a.Has("dry-run")) return 0;
  if (system("command -v sam >/dev/null 2>&1") != 0) {
    return Fail(FailedPreconditionError(
        "the AWS SAM CLI (sam) is not installed: install it, or use --dry-run and "
        "deploy " +
        out + "/template.yaml yourself"));
  }
  std::string cmd = "cd '" + out + "' && sam deploy --template-file template.yaml --stack-name '" +
                    o.function_name + "' --resolve-s3 --capabilities CAPABILITY_IAM";
  return system(cmd.c_str()) == 0 ? 0 : 1;
}

int Main(int argc, char** argv) {
  OrtEngine::PrepareProcess();
  if (argc < 2) return Usage(kUsage);
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") return fputs(kUsage, stdout), 0;
  int n = argc - 2;
  char** rest = argv + 2;
  if (cmd == "manifest") return CmdManifest(n, rest);
  if (cmd == "push") return CmdPush(n, rest);
  if (cmd == "promote") return CmdPromote(n, rest, false);
  if (cmd == "rollback") return CmdPromote(n, rest, true);
  if (cmd == "list") return CmdList(n, rest);
  if (cmd == "show") return CmdShow(n, rest, false);
  if (cmd == "verify") return CmdShow(n, rest, true);
  if (cmd == "policy") return CmdPolicy(n, rest);
  if (cmd == "package") return CmdPackage(n, rest);
  if (cmd == "deploy") return CmdDeploy(n, rest);
  if (cmd == "up") return CmdUp(n, rest);
  if (cmd == "status") return CmdStatus(n, rest);
  if (cmd == "keys") return CmdKeys(n, rest);
  return Usage(kUsage, "unknown command '" + cmd + "'");
}

}  // namespace
}  // namespace modelfn

int main(int argc, char** argv) { return modelfn::Main(argc, argv); }

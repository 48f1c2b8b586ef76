// modelfn: the command-line tool. Subcommands grow with the platform; today: manifest.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/files.h"
#include "engine/ort_engine.h"
#include "manifest/manifest.h"

namespace modelfn {
namespace {

constexpr const char* kUsage =
    "usage: modelfn <command> [options]\n"
    "\n"
    "commands:\n"
    "  manifest MODEL.onnx --name N --version V [--file EXTRA]... [--out PATH] [--json]\n"
    "      Reads the model's inputs and outputs with ONNX Runtime, hashes the model (and extra\n"
    "      files in the same folder, e.g. tokenizer.json) and writes manifest.json beside it.\n"
    "\n"
    "Exit codes: 0 success, 1 failure, 2 usage error.\n";

constexpr const char* kManifestUsage =
    "usage: modelfn manifest MODEL.onnx --name N --version V [--file EXTRA]... [--out PATH] "
    "[--json]\n"
    "\n"
    "  --name N       model name (a-z, 0-9, '.', '_', '-')\n"
    "  --version V    version (A-Z, a-z, 0-9, '.', '_', '+', '-')\n"
    "  --file EXTRA   another file of the version, relative to the model's folder (repeatable)\n"
    "  --out PATH     where to write (default: manifest.json beside the model; '-' for stdout)\n"
    "  --json         print the manifest on stdout as well\n";

int Manifest(int argc, char** argv) {
  std::string model, name, version, out;
  std::vector<std::string> extra;
  bool json = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= argc) return false;
      *dst = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      fputs(kManifestUsage, stdout);
      return 0;
    } else if (a == "--name") {
      if (!value(&name)) goto usage;
    } else if (a == "--version") {
      if (!value(&version)) goto usage;
    } else if (a == "--out") {
      if (!value(&out)) goto usage;
    } else if (a == "--file") {
      if (!value(&v)) goto usage;
      extra.push_back(v);
    } else if (a == "--json") {
      json = true;
    } else if (!a.empty() && a[0] != '-' && model.empty()) {
      model = a;
    } else {
      fprintf(stderr, "modelfn manifest: unexpected argument '%s'\n", a.c_str());
      goto usage;
    }
  }
  if (model.empty() || name.empty() || version.empty()) goto usage;
  {
    size_t slash = model.rfind('/');
    std::string dir = slash == std::string::npos ? "." : model.substr(0, slash);
    std::string file = slash == std::string::npos ? model : model.substr(slash + 1);
    auto engine = OrtEngine::Load(model, OrtEngineOptions());
    if (!engine.ok()) {
      fprintf(stderr, "modelfn manifest: %s\n", engine.status().message().c_str());
      return 1;
    }
    std::vector<std::string> files = {file};
    files.insert(files.end(), extra.begin(), extra.end());
    auto m = BuildManifest(dir, name, version, files, (*engine)->schema(), RealClock::Get());
    if (!m.ok()) {
      fprintf(stderr, "modelfn manifest: %s\n", m.status().message().c_str());
      return 1;
    }
    std::string text = SerializeManifest(*m);
    if (out == "-") {
      fputs(text.c_str(), stdout);
      return 0;
    }
    if (out.empty()) out = dir + "/manifest.json";
    Status s = WriteFileAtomic(out, text);
    if (!s.ok()) {
      fprintf(stderr, "modelfn manifest: %s\n", s.message().c_str());
      return 1;
    }
    if (json) {
      fputs(text.c_str(), stdout);
    } else {
      fprintf(stdout, "wrote %s (%s@%s, sha256 %s)\n", out.c_str(), m->name.c_str(),
              m->version.c_str(), m->files[0].sha256.c_str());
    }
    return 0;
  }
usage:
  fputs(kManifestUsage, stderr);
  return 2;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "manifest") return Manifest(argc - 2, argv + 2);
  fprintf(stderr, "modelfn: unknown command '%s'\n%s", cmd.c_str(), kUsage);
  return 2;
}

}  // namespace
}  // namespace modelfn

int main(int argc, char** argv) { return modelfn::Main(argc, argv); }

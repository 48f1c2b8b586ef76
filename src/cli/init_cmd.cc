// modelfn init: a new project folder that `modelfn up` runs as it is: modelfn.yaml, a model store
// holding a promoted example model (built into this binary: the digits classifier, the sentiment
// classifier with its tokenizer, or the clothing image classifier), sample requests and a README.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/model_files.h"
#include "common/embed.h"
#include "common/files.h"
#include "common/json.h"
#include "manifest/manifest.h"

// The example models' files, assembled into the binary (MODELFN_SOURCE_DIR/examples/...).
#define MODELFN_EMBED(name, path) MODELFN_EMBED_FILE(name, MODELFN_SOURCE_DIR "/examples/" path)

MODELFN_EMBED(digits_model, "digits/model.onnx")
MODELFN_EMBED(digits_request, "digits/requests/infer.json")
MODELFN_EMBED(sentiment_model, "sentiment/model.onnx")
MODELFN_EMBED(sentiment_manifest, "sentiment/manifest.json")
MODELFN_EMBED(sentiment_tokenizer, "sentiment/tokenizer.json")
MODELFN_EMBED(sentiment_labels, "sentiment/labels.txt")
MODELFN_EMBED(sentiment_request, "sentiment/requests/infer.json")
MODELFN_EMBED(fashion_model, "fashion/model.onnx")
MODELFN_EMBED(fashion_manifest, "fashion/manifest.json")
MODELFN_EMBED(fashion_labels, "fashion/labels.txt")
MODELFN_EMBED(fashion_request, "fashion/requests/sneaker.png")

namespace modelfn {
namespace {

constexpr const char* kInitUsage =
    "usage: modelfn init DIR [--template digits|sentiment|image] [--json]\n"
    "\n"
    "Makes DIR (new, or empty) a project that `modelfn up` runs as it is: modelfn.yaml, a model\n"
    "store (models/) holding the template's model pushed and promoted, a sample request in\n"
    "requests/, and a README with the next commands. Templates (built into modelfn):\n"
    "  digits     8x8 handwritten digits, 64 numbers per row (default)\n"
    "  sentiment  text: positive or negative, with its tokenizer\n"
    "  image      clothing photos (JPEG, PNG, WebP) in ten classes\n";

struct File {
  std::string path;  // in the model folder, or "requests/..." beside it
  std::string_view data;
};

std::string_view Embedded(const char* begin, const char* end) {
  return std::string_view(begin, static_cast<size_t>(end - begin));
}

std::string Readme(const std::string& name, const std::string& request, bool image) {
  std::string post =
      image ? "curl -s localhost:8080/v1/models/" + name +
                  "/infer -H 'Content-Type: image/png' --data-binary @requests/" + request
            : "curl -s localhost:8080/v1/models/" + name +
                  "/infer -H 'Content-Type: application/json' -d @requests/" + request;
  return "# " + name + "\n\nA modelfn project: `modelfn.yaml` serves the model `" + name +
         "` from the store in `models/`.\n\n```sh\nmodelfn up                 # the platform on "
         "127.0.0.1:8080 (dashboard at /dashboard)\n" +
         post +
         "\nmodelfn status             # instances, latency, cold starts\nmodelfn logs -f          "
         "  "
         "# the instances' logs\n```\n\nA new version of the model: `modelfn push DIR --name " +
         name + " --version 1.1.0 --store ./models`, then `modelfn promote " + name +
         " 1.1.0 --store ./models`.\nTo the cloud: `modelfn package --target aws-lambda-zip "
         "--model models/" +
         name + "@1.0.0` (or `--target cloud-run`, `azure-functions`).\n";
}

}  // namespace

int CmdInit(int argc, char** argv) {
  Args a(argc, argv, {"template"}, {"json", "help"});
  if (a.Has("help")) return fputs(kInitUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 1) {
    return Usage(kInitUsage, a.ok() ? "name the folder to make" : a.error());
  }
  const std::string dir = a.positional()[0];
  const std::string tmpl = a.Get("template", "digits");
  std::string name, request;
  std::vector<File> files;
  bool image = false;
  if (tmpl == "digits") {
    name = "digits";
    request = "infer.json";
    files = {{"model.onnx", Embedded(digits_model_begin, digits_model_end)},
             {"requests/infer.json", Embedded(digits_request_begin, digits_request_end)}};
  } else if (tmpl == "sentiment") {
    name = "sentiment";
    request = "infer.json";
    files = {{"model.onnx", Embedded(sentiment_model_begin, sentiment_model_end)},
             {"manifest.json", Embedded(sentiment_manifest_begin, sentiment_manifest_end)},
             {"tokenizer.json", Embedded(sentiment_tokenizer_begin, sentiment_tokenizer_end)},
             {"labels.txt", Embedded(sentiment_labels_begin, sentiment_labels_end)},
             {"requests/infer.json", Embedded(sentiment_request_begin, sentiment_request_end)}};
  } else if (tmpl == "image") {
    name = "fashion";
    request = "sneaker.png";
    image = true;
    files = {{"model.onnx", Embedded(fashion_model_begin, fashion_model_end)},
             {"manifest.json", Embedded(fashion_manifest_begin, fashion_manifest_end)},
             {"labels.txt", Embedded(fashion_labels_begin, fashion_labels_end)},
             {"requests/sneaker.png", Embedded(fashion_request_begin, fashion_request_end)}};
  } else {
    return Usage(kInitUsage, "--template takes digits, sentiment or image");
  }
  // A new folder, or an empty one: nothing of the user's is overwritten.
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Fail(dir + " exists and is not a folder");
    if (DIR* d = opendir(dir.c_str())) {
      bool empty = true;
      while (dirent* e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
      }
      closedir(d);
      if (!empty) return Fail(dir + " is not empty: modelfn init makes a new project");
    }
  } else if (mkdir(dir.c_str(), 0755) != 0) {
    return Fail("cannot create " + dir);
  }
  const std::string model_dir = dir + "/" + name;
  for (const std::string& d : {model_dir, dir + "/requests"}) {
    if (mkdir(d.c_str(), 0755) != 0) return Fail("cannot create " + d);
  }
  for (const File& f : files) {
    std::string path =
        f.path.rfind("requests/", 0) == 0 ? dir + "/" + f.path : model_dir + "/" + f.path;
    Status s = WriteFileAtomic(path, f.data);
    if (!s.ok()) return Fail(s);
  }
  // The model pushed and promoted in the project's own store, as `modelfn push` would.
  ModelFilesOptions fo;
  fo.whole_folder = true;
  auto listed = ListModelFiles(model_dir, "model.onnx", fo);
  if (!listed.ok()) return Fail(listed.status());
  auto m = ManifestFor(model_dir, *listed, name, "1.0.0");
  if (!m.ok()) return Fail(m.status());
  const std::string store_path = dir + "/models";
  char* argv_store[] = {const_cast<char*>("--store"), const_cast<char*>(store_path.c_str())};
  Args store_args(2, argv_store, {"store"}, {});
  auto h = OpenFromArgs(store_args);
  if (!h.ok()) return Fail(h.status());
  auto pushed = h->registry->Push(model_dir, *m, SerializeManifest(*m), nullptr);
  if (!pushed.ok()) return Fail(pushed.status());
  auto promoted = h->registry->Promote(name, "1.0.0");
  if (!promoted.ok()) return Fail(promoted.status());
  std::string yaml =
      "# modelfn up serves this folder's functions (docs/platform.md).\n"
      "store: ./models\n"
      "functions:\n  " +
      name + ":\n    model: " + name +
      "            # the store's current version (modelfn promote changes it)\n"
      "    max_instances: 2\n    idle_ttl_s: 60\n"
      "gateway:\n  listen: 127.0.0.1:8080\n";
  for (auto [path, text] : {std::pair{dir + "/modelfn.yaml", yaml},
                            std::pair{dir + "/README.md", Readme(name, request, image)}}) {
    Status s = WriteFileAtomic(path, text);
    if (!s.ok()) return Fail(s);
  }
  if (a.Has("json")) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject()
        .Key("dir")
        .String(dir)
        .Key("template")
        .String(tmpl)
        .Key("function")
        .String(name);
    w.Key("model_version").String("1.0.0").Key("request").String("requests/" + request).EndObject();
    PrintJson(out);
  } else {
    printf(
        "made %s: the %s model in ./models (promoted), modelfn.yaml, requests/%s, README.md\n"
        "next: cd %s && modelfn up\n",
        dir.c_str(), name.c_str(), request.c_str(), dir.c_str());
  }
  return 0;
}

}  // namespace modelfn

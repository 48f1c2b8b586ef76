// modelfn manifest, show, verify and policy: a model version's files and what reading them takes.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/model_files.h"
#include "common/files.h"
#include "common/json.h"
#include "manifest/manifest.h"
#include "pipeline/pipeline.h"
#include "store/store_uri.h"

namespace modelfn {

// ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kManifestUsage =
    "usage: modelfn manifest MODEL.onnx --name N --version V [--file EXTRA]...\n"
    "                        [--labels labels.txt [--labels-for OUTPUT] [--scores softmax|raw]]\n"
    "                        [--tokenizer tokenizer.json] [--out PATH] [--json]\n"
    "\n"
    "Reads the model's inputs and outputs with ONNX Runtime, hashes the model, the external-data\n"
    "files it names (found in the model: no --file needed) and extra files (--file, relative to\n"
    "the model's folder, e.g. tokenizer.json), and writes manifest.json beside it.\n"
    "  --labels F   a label per line for a classifier's output: lists F and adds a pipeline\n"
    "               report {\"report\": \"argmax\", \"labels\": F} to the output whose last\n"
    "               dimension is the label count (--labels-for names it when several fit);\n"
    "               answers become {\"label\": ..., \"index\": ..., \"score\": ...} "
    "(docs/pipeline.md)\n"
    "  --scores S   softmax (default: the output holds logits) or raw (it holds probabilities)\n"
    "  --tokenizer F  lists the tokenizer file (a Hugging Face tokenizer.json) and feeds the\n"
    "               model's input_ids, attention_mask and token_type_ids inputs from it: texts\n"
    "               in, tokens to the model (docs/pipeline.md)\n"
    "  --out PATH   where to write (default: manifest.json beside the model; '-' for stdout)\n"
    "  --json       print the manifest on stdout as well\n";

// Adds {"name": OUTPUT, "report": "argmax", "labels": FILE} to m's pipeline. The output is
// `output` when given, else the only float output whose last dimension is the label count (or,
// failing that, the only float output with a dynamic last dimension). InvalidArgument with reason
// "usage" for a choice the user must make; the labels file's own errors as ParseLabels.
Status AddLabelsReport(const std::string& dir, const std::string& file, const std::string& output,
                       const std::string& scores, Manifest* m) {
  if (!scores.empty() && scores != "softmax" && scores != "raw") {
    return Status(StatusCode::kInvalidArgument, "--scores takes softmax or raw", "usage");
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/" + file));
  ASSIGN_OR_RETURN(std::vector<std::string> labels, ParseLabels(text, file));
  auto is_float = [](DType t) {
    return t == DType::kFp16 || t == DType::kFp32 || t == DType::kFp64;
  };
  std::string chosen = output;
  if (chosen.empty()) {
    std::vector<std::string> exact, dynamic;
    for (const TensorSpec& o : m->schema.outputs) {
      if (o.shape.empty() || !is_float(o.dtype)) continue;
      if (o.shape.back() == static_cast<int64_t>(labels.size())) exact.push_back(o.name);
      if (o.shape.back() < 0) dynamic.push_back(o.name);
    }
    const std::vector<std::string>& pick = exact.empty() ? dynamic : exact;
    if (pick.size() != 1) {
      std::string names;
      for (const TensorSpec& o : m->schema.outputs) names += (names.empty() ? "" : ", ") + o.name;
      return Status(StatusCode::kInvalidArgument,
                    std::to_string(pick.size()) + " outputs could take " +
                        std::to_string(labels.size()) +
                        " labels: name one with --labels-for (outputs: " + names + ")",
                    "usage");
    }
    chosen = pick[0];
  }
  if (!m->pipeline) m->pipeline = PipelineSpec();
  std::vector<PipelineOutput>& outs = m->pipeline->outputs;
  for (size_t i = 0; i < outs.size(); ++i) {
    if (outs[i].name == chosen) outs.erase(outs.begin() + static_cast<ptrdiff_t>(i));
  }
  PipelineOutput report;
  report.name = chosen;
  report.report = OutputReport::kArgmax;
  report.k = 1;
  report.labels = file;
  report.softmax = scores != "raw";
  outs.push_back(report);
  // The same checks the function makes at load, so a manifest written here loads there.
  std::vector<std::pair<std::string, std::vector<std::string>>> read = {{file, labels}};
  for (const PipelineOutput& o : outs) {
    if (o.labels.empty() || o.labels == file) continue;
    ASSIGN_OR_RETURN(std::string other, ReadFile(dir + "/" + o.labels));
    ASSIGN_OR_RETURN(std::vector<std::string> lines, ParseLabels(other, o.labels));
    read.emplace_back(o.labels, std::move(lines));
  }
  // Text inputs need the tokenizer loaded, which the function does; they are checked there.
  PipelineSpec outputs_only = *m->pipeline;
  std::erase_if(outputs_only.inputs,
                [](const PipelineInput& in) { return in.source == InputSource::kText; });
  return Pipeline::FromSpec(outputs_only, m->schema, std::move(read)).status();
}

// Adds a text input {"name", "source": "text", "tokenizer": FILE} to m's pipeline for every model
// input the tokenizer's encodings feed: the integer inputs named input_ids, attention_mask and
// token_type_ids (the names Hugging Face exports give them). InvalidArgument with reason "usage"
// when there is none, since the tokenizer would then feed nothing.
Status AddTextInputs(const std::string& file, Manifest* m) {
  auto is_int = [](DType t) { return t == DType::kInt64 || t == DType::kInt32; };
  std::vector<PipelineInput> found;
  for (const TensorSpec& in : m->schema.inputs) {
    if (in.name != "input_ids" && in.name != "attention_mask" && in.name != "token_type_ids") {
      continue;
    }
    if (!is_int(in.dtype) || in.shape.size() != 2) continue;
    PipelineInput text;
    text.name = in.name;
    text.source = InputSource::kText;
    text.tokenizer = file;
    text.field = in.name;
    found.push_back(text);
  }
  if (found.empty()) {
    std::string names;
    for (const TensorSpec& i : m->schema.inputs) names += (names.empty() ? "" : ", ") + i.name;
    return Status(StatusCode::kInvalidArgument,
                  "--tokenizer: no INT64/INT32 [N, T] input is named input_ids, attention_mask or "
                  "token_type_ids (inputs: " +
                      names +
                      "); list the file with --file and write the pipeline's text inputs by hand "
                      "(docs/pipeline.md)",
                  "usage");
  }
  if (!m->pipeline) m->pipeline = PipelineSpec();
  std::vector<PipelineInput>& ins = m->pipeline->inputs;
  for (const PipelineInput& t : found) {
    for (size_t i = 0; i < ins.size(); ++i) {
      if (ins[i].name == t.name) ins.erase(ins.begin() + static_cast<ptrdiff_t>(i));
    }
    ins.push_back(t);
  }
  return Status();
}

}  // namespace

int CmdManifest(int argc, char** argv) {
  Args a(argc, argv,
         {"name", "version", "file", "out", "labels", "labels-for", "scores", "tokenizer"},
         {"json", "help"});
  if (a.Has("help")) return fputs(kManifestUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 1 || !a.Has("name") || !a.Has("version")) {
    return Usage(kManifestUsage, a.ok() ? "" : a.error());
  }
  std::string model = a.positional()[0];
  size_t slash = model.rfind('/');
  std::string dir = slash == std::string::npos ? "." : model.substr(0, slash);
  ModelFilesOptions fo;
  for (const auto& f : a.GetAll("file")) fo.extra.push_back(f);
  for (const char* flag : {"labels", "tokenizer"}) {
    if (!a.Has(flag)) continue;
    bool have = false;
    for (const auto& f : fo.extra) have = have || f == a.Get(flag);
    if (!have) fo.extra.push_back(a.Get(flag));
  }
  if ((a.Has("labels-for") || a.Has("scores")) && !a.Has("labels")) {
    return Usage(kManifestUsage, "--labels-for and --scores go with --labels");
  }
  auto files =
      ListModelFiles(dir, slash == std::string::npos ? model : model.substr(slash + 1), fo);
  if (!files.ok()) return Fail(files.status());
  auto m = ManifestFor(dir, *files, a.Get("name"), a.Get("version"));
  if (!m.ok()) return Fail(m.status());
  if (a.Has("tokenizer")) {
    Status s = AddTextInputs(a.Get("tokenizer"), &*m);
    if (!s.ok()) return Usage(kManifestUsage, s.message());
  }
  if (a.Has("labels")) {
    Status s = AddLabelsReport(dir, a.Get("labels"), a.Get("labels-for"), a.Get("scores"), &*m);
    if (s.code() == StatusCode::kInvalidArgument && s.reason() == "usage") {
      return Usage(kManifestUsage, s.message());
    }
    if (!s.ok()) return Fail(s);
  }
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
namespace {

constexpr const char* kShowUsage =
    "usage: modelfn show N[@V] [--store URI] [--json]\n"
    "       modelfn verify N[@V] [--store URI] [--json]\n";

int ShowOrVerify(int argc, char** argv, bool verify) {
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

}  // namespace

int CmdShow(int argc, char** argv) { return ShowOrVerify(argc, argv, false); }
int CmdVerify(int argc, char** argv) { return ShowOrVerify(argc, argv, true); }

// ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kPolicyUsage =
    "usage: modelfn policy N --provider aws|gcp|azure [--store URI]\n"
    "\n"
    "Prints the least-privilege read-only policy a function needs for model N: read the objects\n"
    "under the model's prefix and list that prefix, nothing else.\n";

}  // namespace

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

}  // namespace modelfn

#include "faces/azure/function_app.h"

#include <cctype>
#include <cstdio>

#include "common/json.h"
#include "package/zip_writer.h"

namespace modelfn {
namespace {

// Container and queue names: 3-63 lowercase letters, digits and single hyphens, starting and
// ending with a letter or digit (the Blob and Queue service naming rules).
bool ValidStorageName(const std::string& s) {
  if (s.size() < 3 || s.size() > 63) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = std::islower(static_cast<unsigned char>(c)) ||
              std::isdigit(static_cast<unsigned char>(c)) ||
              (c == '-' && i > 0 && i + 1 < s.size() && s[i - 1] != '-');
    if (!ok) return false;
  }
  return true;
}

std::string Pretty(const std::string& compact) {
  auto doc = Json::Parse(compact);
  return doc.ok() ? doc->Dump() + "\n" : compact;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> AzureAppFiles(const AzureAppOptions& o) {
  std::vector<std::pair<std::string, std::string>> files;
  std::string host;
  JsonWriter h(&host);
  h.BeginObject().Key("version").String("2.0");
  h.Key("extensionBundle").BeginObject();
  h.Key("id").String("Microsoft.Azure.Functions.ExtensionBundle");
  h.Key("version").String("[4.*, 5.0.0)").EndObject();
  h.Key("customHandler").BeginObject().Key("description").BeginObject();
  h.Key("defaultExecutablePath").String("bootstrap");
  h.Key("arguments").BeginArray().String("--model").String("model").EndArray();
  h.EndObject().Key("enableForwardingHttpRequest").Bool(true).EndObject();
  h.EndObject();
  files.emplace_back("host.json", Pretty(host));

  std::string http;
  JsonWriter w(&http);
  w.BeginObject().Key("bindings").BeginArray();
  w.BeginObject().Key("type").String("httpTrigger").Key("direction").String("in");
  w.Key("name").String("req").Key("authLevel").String("function");
  w.Key("methods").BeginArray().String("get").String("post").EndArray();
  w.Key("route").String("{*path}").EndObject();
  w.BeginObject()
      .Key("type")
      .String("http")
      .Key("direction")
      .String("out")
      .Key("name")
      .String("res");
  w.EndObject().EndArray().EndObject();
  files.emplace_back("infer/function.json", Pretty(http));

  std::string blob;
  JsonWriter b(&blob);
  b.BeginObject().Key("bindings").BeginArray();
  b.BeginObject().Key("type").String("blobTrigger").Key("direction").String("in");
  b.Key("name").String("blob").Key("path").String(o.container + "/" + o.input_prefix + "{name}");
  b.Key("connection").String("AzureWebJobsStorage").Key("dataType").String("binary");
  b.EndObject().EndArray().EndObject();
  files.emplace_back("BlobInfer/function.json", Pretty(blob));

  std::string queue;
  JsonWriter q(&queue);
  q.BeginObject().Key("bindings").BeginArray();
  q.BeginObject().Key("type").String("queueTrigger").Key("direction").String("in");
  q.Key("name").String("request").Key("queueName").String(o.queue);
  q.Key("connection").String("AzureWebJobsStorage").EndObject();
  q.BeginObject().Key("type").String("queue").Key("direction").String("out");
  q.Key("name").String("$return").Key("queueName").String(o.queue + "-results");
  q.Key("connection").String("AzureWebJobsStorage").EndObject();
  q.EndArray().EndObject();
  files.emplace_back("QueueInfer/function.json", Pretty(queue));
  return files;
}

StatusOr<AzureAppReport> BuildAzureFunctionApp(const AzureAppOptions& o) {
  if (!ValidStorageName(o.container))
    return Status(StatusCode::kInvalidArgument,
                  "container '" + o.container + "' is not a blob container name",
                  "invalid_request");
  // The results queue is named <queue>-results: the queue leaves room for the suffix.
  if (!ValidStorageName(o.queue) || o.queue.size() > 55)
    return Status(StatusCode::kInvalidArgument, "queue '" + o.queue + "' is not a queue name",
                  "invalid_request");
  if (o.input_prefix.find_first_of("{}") != std::string::npos ||
      (!o.input_prefix.empty() && o.input_prefix.back() != '/'))
    return Status(StatusCode::kInvalidArgument,
                  "input prefix '" + o.input_prefix + "' must be a folder ending in '/'",
                  "invalid_request");
  std::string scratch;
  auto entries = PlanLambdaPackage(o.files, &scratch);
  auto cleanup = [&scratch] {
    if (!scratch.empty()) std::remove(scratch.c_str());
  };
  if (!entries.ok()) {
    cleanup();
    return entries.status();
  }
  AzureAppReport report;
  ZipWriter zip(o.files.out);
  Status s = zip.status();
  for (const auto& [name, text] : AzureAppFiles(o)) {
    if (!s.ok()) break;
    s = zip.Add(name, text, 0644);
    report.entries.push_back(name);
    if (size_t slash = name.find('/'); slash != std::string::npos)
      report.functions.push_back(name.substr(0, slash));
  }
  for (const auto& e : *entries) {
    if (!s.ok()) break;
    s = zip.AddFile(e.name, e.path, e.mode);
    report.entries.push_back(e.name);
  }
  cleanup();
  if (!s.ok()) {
    std::remove(o.files.out.c_str());
    return s;
  }
  auto size = zip.Finish();
  if (!size.ok()) return size.status();
  report.zipped_bytes = *size;
  report.unzipped_bytes = zip.uncompressed_bytes();
  return report;
}

}  // namespace modelfn

#include "faces/aws/object_events.h"

#include "http/problem.h"
#include "store/store_uri.h"

namespace modelfn {

ObjectEventConfig ObjectEventConfig::FromEnv(const EnvFn& env) {
  ObjectEventConfig c;
  if (auto v = env("MODELFN_S3_INPUT_PREFIX")) c.input_prefix = *v;
  if (auto v = env("MODELFN_S3_OUTPUT_PREFIX")) c.output_prefix = *v;
  if (auto v = env("MODELFN_S3_FAILURE_PREFIX")) c.failure_prefix = *v;
  if (auto v = env("MODELFN_SQS_OUTPUT")) c.sqs_output = *v;
  c.ReadLimitsFromEnv(env);
  return c;
}

std::string DecodeS3Key(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '+') {
      out.push_back(' ');
    } else if (key[i] == '%' && i + 2 < key.size() &&
               isxdigit(static_cast<unsigned char>(key[i + 1])) &&
               isxdigit(static_cast<unsigned char>(key[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(key.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(key[i]);
    }
  }
  return out;
}

bool IsRecordsEvent(const Json& event, std::string* source) {
  const Json* records = event.is_object() ? event.Find("Records") : nullptr;
  if (!records || !records->is_array() || records->AsArray().empty()) return false;
  const Json& first = records->AsArray()[0];
  const Json* src = first.Find("eventSource");
  if (!src || !src->is_string()) return false;
  *source = src->AsString();
  return *source == "aws:s3" || *source == "aws:sqs";
}

std::string HandleRecordsEvent(const Json& event, const std::string& source, FunctionCore& core,
                               const ObjectEventConfig& config, const BucketOpener& open_bucket,
                               bool* redeliver) {
  std::string out;
  JsonWriter w(&out);
  auto infer = [&](const std::string& body, const std::string& request_id) {
    Invocation inv;
    inv.method = "POST";
    inv.path = "/v1/infer";
    inv.body = body;
    inv.request_id = &request_id;
    return core.Handle(inv);
  };
  if (source == "aws:sqs") {
    std::unique_ptr<ObjectStore> results;
    std::string prefix;
    if (!config.sqs_output.empty()) {
      auto uri = ParseStoreUri(config.sqs_output);
      if (uri.ok()) {
        auto store = open_bucket(uri->bucket);
        if (store.ok()) results = std::move(store).value();
        prefix = uri->prefix.empty() ? "" : uri->prefix + "/";
      }
    }
    w.BeginObject().Key("batchItemFailures").BeginArray();
    for (const Json& rec : event.Find("Records")->AsArray()) {
      const Json* id = rec.Find("messageId");
      const Json* body = rec.Find("body");
      std::string message_id = id && id->is_string() ? id->AsString() : "";
      Outcome o;
      if (!body || !body->is_string()) {
        o.status = 400;
      } else {
        o = infer(body->AsString(), message_id);
      }
      bool ok = o.status >= 200 && o.status < 300;
      if (ok && results) {
        PutOptions opts;
        opts.condition = PutOptions::Condition::kIfAbsent;
        opts.content_type = "application/json";
        auto put = results->Put(prefix + message_id + ".json", o.body, opts);
        ok = put.ok() ||
             put.status().reason() == "precondition_failed";  // a redelivery: already written
      }
      if (!ok) w.BeginObject().Key("itemIdentifier").String(message_id).EndObject();
    }
    w.EndArray().EndObject();
    return out;
  }
  // S3 object-created notifications.
  ObjectBatchSummary summary;
  for (const Json& rec : event.Find("Records")->AsArray()) {
    const Json* s3 = rec.Find("s3");
    const Json* bucket = s3 ? s3->Find("bucket") : nullptr;
    const Json* object = s3 ? s3->Find("object") : nullptr;
    const Json* bname = bucket ? bucket->Find("name") : nullptr;
    const Json* okey = object ? object->Find("key") : nullptr;
    if (!bname || !bname->is_string() || !okey || !okey->is_string()) {
      summary.AddUnusable("a record without s3.bucket.name and s3.object.key");
      continue;
    }
    ObjectRef ref;
    ref.key = DecodeS3Key(okey->AsString());
    if (const Json* e = object->Find("eTag"); e && e->is_string()) ref.etag = e->AsString();
    ref.tag = ref.etag;
    ref.version = ref.etag;
    if (ref.key.rfind(config.input_prefix, 0) != 0) {
      summary.Add(ref.key, ObjectResult());  // skipped, without opening the bucket
      continue;
    }
    auto store = open_bucket(bname->AsString());
    if (!store.ok()) {
      ObjectResult failed;
      failed.kind = ObjectResult::Kind::kFailed;
      failed.failure = store.status().message();
      failed.failure_recorded = true;  // as before: reported in the answer only
      summary.Add(ref.key, failed);
      continue;
    }
    summary.Add(ref.key, InferStoredObject(**store, ref, config, core, "s3:" + ref.key));
  }
  if (redeliver != nullptr) *redeliver = summary.lost_failures();
  return summary.ToJson();
}

}  // namespace modelfn

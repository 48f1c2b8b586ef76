#include "faces/sample_events.h"

#include <cstdio>

#include "common/base64.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/sha256.h"

namespace modelfn::sample_events {
namespace {

std::string Iso(int64_t wall_ms) { return FormatRfc3339(wall_ms * 1'000'000); }

std::string Md5Like(const std::string& s) { return Sha256Hex(s).substr(0, 32); }

}  // namespace

std::string S3EncodeKey(const std::string& key) {
  std::string out;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '*' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string S3Event(const std::vector<S3Object>& objects, int64_t wall_ms) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("Records").BeginArray();
  for (size_t i = 0; i < objects.size(); ++i) {
    const S3Object& o = objects[i];
    w.BeginObject().Key("eventVersion").String("2.1").Key("eventSource").String("aws:s3");
    w.Key("awsRegion").String(o.region).Key("eventTime").String(Iso(wall_ms));
    w.Key("eventName").String(o.event_name);
    w.Key("userIdentity").BeginObject().Key("principalId").String("AWS:EXAMPLE").EndObject();
    w.Key("requestParameters").BeginObject().Key("sourceIPAddress").String("127.0.0.1").EndObject();
    w.Key("responseElements").BeginObject();
    w.Key("x-amz-request-id").String(Md5Like(o.key + "req").substr(0, 16));
    w.Key("x-amz-id-2").String(Md5Like(o.key + "id2")).EndObject();
    w.Key("s3").BeginObject().Key("s3SchemaVersion").String("1.0");
    w.Key("configurationId").String("modelfn");
    w.Key("bucket").BeginObject().Key("name").String(o.bucket);
    w.Key("ownerIdentity").BeginObject().Key("principalId").String("EXAMPLE").EndObject();
    w.Key("arn").String("arn:aws:s3:::" + o.bucket).EndObject();
    w.Key("object").BeginObject().Key("key").String(S3EncodeKey(o.key)).Key("size").Uint(o.size);
    w.Key("eTag").String(o.etag.empty() ? Md5Like(o.key) : o.etag);
    char seq[32];
    std::snprintf(seq, sizeof(seq), "%016llX", static_cast<unsigned long long>(wall_ms * 1000 + i));
    w.Key("sequencer").String(seq).EndObject();
    w.EndObject().EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

std::string SqsEvent(const std::vector<SqsMessage>& messages, const std::string& queue_arn,
                     int64_t wall_ms) {
  std::string region = "us-east-1";
  // arn:aws:sqs:REGION:ACCOUNT:NAME
  if (size_t a = queue_arn.find(":sqs:"); a != std::string::npos) {
    size_t b = queue_arn.find(':', a + 5);
    if (b != std::string::npos) region = queue_arn.substr(a + 5, b - a - 5);
  }
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("Records").BeginArray();
  for (size_t i = 0; i < messages.size(); ++i) {
    const SqsMessage& m = messages[i];
    std::string id = m.message_id;
    if (id.empty()) {
      std::string h = Md5Like(std::to_string(wall_ms) + "/" + std::to_string(i));
      id = h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20, 12);
    }
    w.BeginObject().Key("messageId").String(id);
    w.Key("receiptHandle")
        .String(m.receipt_handle.empty() ? Base64Encode("modelfn-receipt-" + id)
                                         : m.receipt_handle);
    w.Key("body").String(m.body);
    w.Key("attributes").BeginObject();
    if (m.attributes.empty()) {
      w.Key("ApproximateReceiveCount").String("1");
      w.Key("SentTimestamp").String(std::to_string(wall_ms));
      w.Key("SenderId").String("AIDAEXAMPLE");
      w.Key("ApproximateFirstReceiveTimestamp").String(std::to_string(wall_ms));
    }
    for (const auto& [k, v] : m.attributes) w.Key(k).String(v);
    w.EndObject();
    w.Key("messageAttributes").BeginObject().EndObject();
    w.Key("md5OfBody").String(m.md5_of_body.empty() ? Md5Like(m.body) : m.md5_of_body);
    w.Key("eventSource").String("aws:sqs").Key("eventSourceARN").String(queue_arn);
    w.Key("awsRegion").String(region).EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

std::string HttpApiEvent(const std::string& method, const std::string& path,
                         const std::string& query, const std::string& body,
                         const std::string& content_type, int64_t wall_ms) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("version").String("2.0").Key("routeKey").String("$default");
  w.Key("rawPath").String(path).Key("rawQueryString").String(query);
  w.Key("headers").BeginObject().Key("host").String("localhost");
  if (!content_type.empty()) w.Key("content-type").String(content_type);
  w.EndObject();
  w.Key("requestContext").BeginObject().Key("accountId").String("000000000000");
  w.Key("apiId").String("modelfn").Key("domainName").String("localhost");
  w.Key("http").BeginObject().Key("method").String(method).Key("path").String(path);
  w.Key("protocol").String("HTTP/1.1").Key("sourceIp").String("127.0.0.1");
  w.Key("userAgent").String("modelfn").EndObject();
  w.Key("requestId").String(Md5Like(std::to_string(wall_ms) + path).substr(0, 16));
  w.Key("routeKey").String("$default").Key("stage").String("$default");
  w.Key("time").String(Iso(wall_ms)).Key("timeEpoch").Int(wall_ms).EndObject();
  w.Key("body").String(body).Key("isBase64Encoded").Bool(false).EndObject();
  return out;
}

std::string StorageCloudEvent(const StorageObject& o, const std::string& id, int64_t wall_ms) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("specversion").String("1.0").Key("id").String(id);
  w.Key("source").String("//storage.googleapis.com/projects/_/buckets/" + o.bucket);
  w.Key("type").String("google.cloud.storage.object.v1.finalized");
  w.Key("subject").String("objects/" + o.name).Key("time").String(Iso(wall_ms));
  w.Key("datacontenttype").String("application/json");
  w.Key("data").BeginObject().Key("kind").String("storage#object");
  w.Key("id").String(o.bucket + "/" + o.name + "/" + o.generation);
  w.Key("bucket").String(o.bucket).Key("name").String(o.name);
  w.Key("generation").String(o.generation).Key("metageneration").String("1");
  w.Key("contentType").String(o.content_type).Key("size").String(std::to_string(o.size));
  w.Key("timeCreated").String(Iso(wall_ms)).Key("updated").String(Iso(wall_ms));
  w.Key("storageClass").String("STANDARD").EndObject();
  w.EndObject();
  return out;
}

std::string AzureBlobInvocation(const AzureBlob& b, const std::string& binding) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("Data").BeginObject();
  // The custom handler receives a blob's content only as the binding allows; the faces read it
  // from the store by its path, so the data is the path too.
  w.Key(binding).String(b.container + "/" + b.name).EndObject();
  w.Key("Metadata").BeginObject().Key("BlobTrigger").String(b.container + "/" + b.name);
  w.Key("Uri").String("http://127.0.0.1:10000/devstoreaccount1/" + b.container + "/" + b.name);
  w.Key("Properties").BeginObject().Key("ContentLength").Uint(b.size);
  w.Key("ETag").String(b.etag).Key("BlobType").String("BlockBlob").EndObject();
  w.Key("sys").BeginObject().Key("MethodName").String(b.function.empty() ? binding : b.function);
  w.EndObject();
  w.EndObject().EndObject();
  return out;
}

}  // namespace modelfn::sample_events

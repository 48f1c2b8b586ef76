#include "events/sqs_client.h"

#include "common/json.h"
#include "common/sha256.h"

namespace modelfn::events {

SqsClient::SqsClient(std::string queue_url, EnvFn env, const Clock* clock,
                     std::unique_ptr<HttpClient> http)
    : queue_url_(std::move(queue_url)),
      env_(std::move(env)),
      clock_(clock),
      http_(std::move(http)) {
  size_t scheme = queue_url_.find("://");
  size_t path = queue_url_.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  origin_ = queue_url_.substr(0, path);
  host_ = scheme == std::string::npos ? origin_ : origin_.substr(scheme + 3);
  // sqs.REGION.amazonaws.com
  if (host_.rfind("sqs.", 0) == 0) {
    size_t dot = host_.find('.', 4);
    if (dot != std::string::npos) region_ = host_.substr(4, dot - 4);
  }
  if (region_.empty()) region_ = ResolveAwsRegion(env_);
}

StatusOr<std::string> SqsClient::Send(const std::string& body) {
  std::string req;
  JsonWriter w(&req);
  w.BeginObject().Key("QueueUrl").String(queue_url_).Key("MessageBody").String(body).EndObject();
  ASSIGN_OR_RETURN(std::string text, Call("SendMessage", req, 30));
  auto doc = Json::Parse(text);
  const Json* id = doc.ok() ? doc->Find("MessageId") : nullptr;
  if (id == nullptr || !id->is_string())
    return Status(StatusCode::kUnavailable, "SQS answered no MessageId", "queue_unavailable");
  return id->AsString();
}

std::string SqsClient::QueueArn() const {
  // .../ACCOUNT/NAME
  std::string rest = queue_url_.substr(origin_.size());
  size_t a = rest.find('/', 1);
  std::string account = a == std::string::npos ? "000000000000" : rest.substr(1, a - 1);
  std::string name = a == std::string::npos ? rest.substr(1) : rest.substr(a + 1);
  return "arn:aws:sqs:" + region_ + ":" + account + ":" + name;
}

StatusOr<std::string> SqsClient::Call(const std::string& target, const std::string& body,
                                      int timeout_s) {
  ASSIGN_OR_RETURN(AwsCredentials creds, ResolveAwsCredentials(env_, *http_, *clock_));
  SigV4Input in;
  in.method = "POST";
  in.host = host_;
  in.canonical_path = "/";
  in.headers = {{"content-type", "application/x-amz-json-1.0"},
                {"x-amz-target", "AmazonSQS." + target}};
  in.payload_sha256 = Sha256Hex(body);
  HttpCall call;
  call.method = "POST";
  call.url = origin_ + "/";
  call.headers = SignV4(in, creds, region_, "sqs", clock_->WallNanos());
  call.body = body;
  call.connect_timeout_ms = 5000;
  call.stall_timeout_s = timeout_s;
  call.max_response_bytes = 64 << 20;
  auto reply = http_->Send(call);
  if (!reply.ok()) {
    return Status(StatusCode::kUnavailable, "SQS " + origin_ + ": " + reply.status().message(),
                  "queue_unavailable");
  }
  if (reply->status >= 500) {
    return Status(StatusCode::kUnavailable,
                  "SQS " + target + " answered " + std::to_string(reply->status),
                  "queue_unavailable");
  }
  if (reply->status != 200) {
    std::string type;
    if (auto doc = Json::Parse(reply->body); doc.ok()) {
      if (const Json* t = doc->Find("__type"); t && t->is_string()) type = t->AsString();
    }
    return Status(StatusCode::kInvalidArgument,
                  "SQS " + target + " answered " + std::to_string(reply->status) + " " + type +
                      ": " + reply->body.substr(0, 300),
                  "queue_refused");
  }
  return std::move(reply->body);
}

StatusOr<std::vector<SqsMessage>> SqsClient::Receive(int max, int wait_s, int visibility_s) {
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Key("QueueUrl").String(queue_url_).Key("MaxNumberOfMessages").Int(max);
  w.Key("WaitTimeSeconds").Int(wait_s).Key("VisibilityTimeout").Int(visibility_s);
  w.Key("AttributeNames").BeginArray().String("All").EndArray();
  w.Key("MessageSystemAttributeNames").BeginArray().String("All").EndArray();
  w.EndObject();
  ASSIGN_OR_RETURN(std::string text, Call("ReceiveMessage", body, wait_s + 10));
  auto doc = Json::Parse(text);
  if (!doc.ok())
    return Status(StatusCode::kUnavailable, "SQS answered no JSON", "queue_unavailable");
  std::vector<SqsMessage> out;
  const Json* messages = doc->Find("Messages");
  if (messages == nullptr || !messages->is_array()) return out;
  for (const Json& m : messages->AsArray()) {
    SqsMessage msg;
    auto str = [&m](const char* k) {
      const Json* v = m.Find(k);
      return v != nullptr && v->is_string() ? v->AsString() : std::string();
    };
    msg.message_id = str("MessageId");
    msg.receipt_handle = str("ReceiptHandle");
    msg.body = str("Body");
    msg.md5_of_body = str("MD5OfBody");
    if (const Json* attrs = m.Find("Attributes"); attrs && attrs->is_object()) {
      for (const auto& [k, v] : attrs->AsObject()) {
        if (v.is_string()) msg.attributes[k] = v.AsString();
      }
    }
    if (!msg.message_id.empty() && !msg.receipt_handle.empty()) out.push_back(std::move(msg));
  }
  return out;
}

StatusOr<std::vector<std::string>> SqsClient::Delete(const std::vector<SqsMessage>& messages) {
  std::vector<std::string> failed;
  for (size_t i = 0; i < messages.size(); i += 10) {
    std::string body;
    JsonWriter w(&body);
    w.BeginObject().Key("QueueUrl").String(queue_url_).Key("Entries").BeginArray();
    for (size_t j = i; j < std::min(messages.size(), i + 10); ++j) {
      w.BeginObject().Key("Id").String("m" + std::to_string(j));
      w.Key("ReceiptHandle").String(messages[j].receipt_handle).EndObject();
    }
    w.EndArray().EndObject();
    ASSIGN_OR_RETURN(std::string text, Call("DeleteMessageBatch", body, 30));
    auto doc = Json::Parse(text);
    if (!doc.ok()) continue;
    if (const Json* f = doc->Find("Failed"); f && f->is_array()) {
      for (const Json& e : f->AsArray()) {
        const Json* id = e.Find("Id");
        if (id && id->is_string()) {
          size_t j = static_cast<size_t>(atoi(id->AsString().c_str() + 1));
          if (j < messages.size()) failed.push_back(messages[j].message_id);
        }
      }
    }
  }
  return failed;
}

}  // namespace modelfn::events

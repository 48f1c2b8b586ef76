#include "events/destinations.h"

#include <sys/stat.h>

#include "common/json.h"
#include "store/open_store.h"
#include "store/store_uri.h"

namespace modelfn::events {

Status StoreDestinations::Send(const std::string& arn, const std::string& json) {
  SqsClient* queue = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queues_.find(arn);
    if (it == queues_.end()) {
      ASSIGN_OR_RETURN(std::string url, SqsQueueUrlOfArn(arn, env_));
      it = queues_.emplace(arn, std::make_unique<SqsClient>(url, env_, clock_, make_http_())).first;
    }
    queue = it->second.get();
  }
  std::string body = json;
  if (body.size() > kMaxQueueRecordBytes) {
    auto doc = Json::Parse(json);
    if (!doc.ok()) return InternalError("the record is not JSON");
    Json slim = Json::MakeObject();
    for (const auto& [k, v] : doc->AsObject()) {
      if (v.is_object() && (k == "request" || k == "response" || k == "error")) {
        Json part = Json::MakeObject();
        for (const auto& [pk, pv] : v.AsObject()) {
          if (pk != "body" && pk != "body_base64") part.Set(pk, pv.Clone());
        }
        slim.Set(k, std::move(part));
        continue;
      }
      slim.Set(k, v.Clone());
    }
    slim.Set("truncated", Json::Bool(true));
    body = slim.Dump();
    if (body.size() > kMaxQueueRecordBytes)
      return InvalidArgumentError("the record is over SQS's message size even without its bodies");
  }
  // The client's errors are not retried here: the dispatcher counts a destination error.
  std::lock_guard<std::mutex> lock(send_mu_);
  return queue->Send(body).status();
}

Status StoreDestinations::Write(const std::string& destination, const std::string& name,
                                const std::string& json) {
  if (IsQueueDestination(destination)) return Send(destination, json);
  ObjectStore* store = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = stores_.find(destination);
    if (it == stores_.end()) {
      ASSIGN_OR_RETURN(StoreUri uri, ParseStoreUri(destination));
      if (uri.kind == StoreUri::Kind::kLocal) mkdir(uri.path.c_str(), 0755);
      ASSIGN_OR_RETURN(auto opened, OpenStore(uri, clock_));
      it = stores_.emplace(destination, std::move(opened)).first;
    }
    store = it->second.get();
  }
  PutOptions options;
  options.content_type = "application/json";
  return store->Put(name, json, options).status();
}

}  // namespace modelfn::events

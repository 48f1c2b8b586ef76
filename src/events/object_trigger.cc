#include "events/object_trigger.h"

#include <chrono>

#include "faces/sample_events.h"
#include "pool/forward_types.h"

namespace modelfn::events {

ObjectTrigger::ObjectTrigger(TriggerConfig config, std::unique_ptr<ObjectStore> bucket,
                             TriggerSubmit submit, const Clock* clock,
                             std::function<void(const std::string&, const std::string&)> log)
    : config_(std::move(config)),
      bucket_(std::move(bucket)),
      submit_(std::move(submit)),
      clock_(clock),
      log_(std::move(log)) {}

ObjectTrigger::~ObjectTrigger() { Stop(); }

Status ObjectTrigger::Scan() {
  auto listed = bucket_->List(config_.prefix);
  if (!listed.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.scans;
    ++counters_.scan_errors;
    return listed.status();
  }
  Status result;
  for (const ObjectInfo& o : *listed) {
    const std::string& k = o.key;
    if (k.size() <= config_.prefix.size() || k.back() == '/') continue;  // folder markers
    if (!config_.suffix.empty() &&
        (k.size() < config_.suffix.size() ||
         k.compare(k.size() - config_.suffix.size(), config_.suffix.size(), config_.suffix) != 0)) {
      continue;
    }
    // Quotes are part of some stores' ETags, not of the version they name.
    std::string etag = o.etag;
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
      etag = etag.substr(1, etag.size() - 2);
    }
    const int64_t now_ms = clock_->WallNanos() / 1'000'000;
    TriggerDelivery d;
    d.function = config_.function;
    d.key = (config_.source_id.empty() ? "s3://" + config_.bucket : config_.source_id) + "/" + k +
            "#" + etag;
    if (config_.shape == TriggerShape::kAzureBlob) {
      sample_events::AzureBlob blob;
      blob.container = config_.bucket;
      blob.name = k;
      blob.size = o.size;
      blob.etag = o.etag.empty() ? etag : o.etag;
      blob.function = config_.function;
      d.path = kAzureInvokePrefix + config_.function;
      d.content_type = "application/json";
      d.body = sample_events::AzureBlobInvocation(blob, "blob");
    } else if (config_.shape == TriggerShape::kCloudEvent) {
      sample_events::StorageObject obj;
      obj.bucket = config_.bucket;
      obj.name = k;
      obj.size = o.size;
      obj.generation = etag;  // a Cloud Storage object's version is its generation
      d.path = "/";
      d.content_type = "application/cloudevents+json";
      d.body = sample_events::StorageCloudEvent(obj, d.key, now_ms);
    } else {
      sample_events::S3Object obj;
      obj.bucket = config_.bucket;
      obj.key = k;
      obj.size = o.size;
      obj.etag = etag;
      obj.region = config_.region;
      d.path = kLambdaInvokePath;
      d.content_type = "application/json";
      d.body = sample_events::S3Event({obj}, now_ms);
    }
    auto queued = submit_(d);
    if (!queued.ok()) {
      result = queued.status();  // the next scan tries it again
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);  // counted as it happens: a scan of many is long
    ++(*queued ? counters_.delivered : counters_.duplicates);
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.scans;
  return result;
}

void ObjectTrigger::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> held(mu_);
    while (!stop_) {
      held.unlock();
      Status s = Scan();
      if (!s.ok() && log_) log_("warn", "trigger of " + config_.function + ": " + s.message());
      held.lock();
      cv_.wait_for(held, std::chrono::milliseconds(static_cast<int64_t>(config_.poll_s * 1000)),
                   [this] { return stop_; });
    }
  });
}

void ObjectTrigger::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

ObjectTrigger::Counters ObjectTrigger::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

}  // namespace modelfn::events

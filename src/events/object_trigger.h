// Upload triggers (docs/events.md): a store prefix watched for new objects, each delivered to a
// function once per content version, in the event shape of the function's face (an S3 event, a
// Cloud Storage CloudEvent, an Azure blob invocation), whose face reads the object and writes its
// results (faces/object_batch.h). The store is listed every poll_s (the clouds'
// notifications do not reach a local process); each object not delivered before with its ETag
// is queued as an asynchronous invocation (async_dispatcher.h: durable, retried) whose
// idempotency key is the key and ETag, so a rescan, a restart or a SIGKILL does not deliver it
// twice within the dedup window, and a new version of an object is delivered again.
//
// Thread-safety: Start and Stop from one thread; Scan and counters() from any.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "store/object_store.h"

namespace modelfn::events {

// The event a delivery carries: the shape of the face that reads it.
enum class TriggerShape {
  kS3Event,     // an S3 ObjectCreated:Put event, raw through Lambda's Invoke API (lambda mode)
  kCloudEvent,  // google.cloud.storage.object.v1.finalized, structured, POST / (cloudevents)
  kAzureBlob,   // a blob trigger invocation payload, POST /<function> (the azure face)
};

struct TriggerConfig {
  std::string function;
  TriggerShape shape = TriggerShape::kS3Event;
  // What the idempotency keys name the source by: "s3://BUCKET", "gs://BUCKET", "az://CONTAINER",
  // "file:///FOLDER". Empty: "s3://" + bucket.
  std::string source_id;
  std::string bucket;  // the bucket (container) the events name
  std::string prefix;  // key prefix watched ("incoming/")
  std::string suffix;  // only keys ending so ("" any)
  double poll_s = 1;
  std::string region = "us-east-1";
};

// One delivery: the request the function is sent (for s3, the Invoke API's raw event; for gs,
// a structured CloudEvent POSTed as Cloud Run's Eventarc does) and its idempotency key.
struct TriggerDelivery {
  std::string function;
  std::string path;  // kLambdaInvokePath, "/", or kAzureInvokePrefix + the function
  std::string content_type;
  std::string body;
  std::string key;
};
// Queues a delivery. true when queued now, false when its key was queued before (a duplicate).
using TriggerSubmit = std::function<StatusOr<bool>(const TriggerDelivery& delivery)>;

class ObjectTrigger {
 public:
  ObjectTrigger(TriggerConfig config, std::unique_ptr<ObjectStore> bucket, TriggerSubmit submit,
                const Clock* clock,
                std::function<void(const std::string&, const std::string&)> log);
  ~ObjectTrigger();
  void Start();
  void Stop();
  // Lists the prefix once and queues what is new. Errors: the store's (the next poll retries).
  Status Scan();

  struct Counters {
    uint64_t scans = 0, scan_errors = 0, delivered = 0, duplicates = 0;
  };
  Counters counters() const;
  const TriggerConfig& config() const { return config_; }

 private:
  const TriggerConfig config_;
  std::unique_ptr<ObjectStore> bucket_;
  TriggerSubmit submit_;
  const Clock* clock_;
  std::function<void(const std::string&, const std::string&)> log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
  Counters counters_;
};

}  // namespace modelfn::events

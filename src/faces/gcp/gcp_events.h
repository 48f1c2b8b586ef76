// The Google Cloud face's events: CloudEvents (cloudevent.h) delivered over HTTP to a function on
// Cloud Run / Cloud Functions 2nd gen (Eventarc), turned into work for the handler core.
//
//   google.cloud.storage.object.v1.finalized   (data: a Cloud Storage object's metadata)
//       batch inference on the object, with the rules of faces/object_batch.h: the answer is
//       written as OUTPUT/<name below INPUT>.<generation>.json in the same bucket if absent,
//       failures as FAILURE/<...>.<generation>.error.json. Prefixes from MODELFN_GCS_INPUT_PREFIX
//       (default "incoming/"), MODELFN_GCS_OUTPUT_PREFIX ("results/"), MODELFN_GCS_FAILURE_PREFIX
//       ("failed/"). 200 with the batch summary when every outcome is in the bucket; 503
//       (store_unavailable) when the bucket cannot be opened or a failure record cannot be
//       written, so the delivery is retried and nothing is lost.
//   google.cloud.pubsub.topic.v1.messagePublished   (data: {"message": {"data": base64, ...},
//       "subscription"})
//       the decoded message data is the request body of an inference (routed like a Lambda
//       direct invoke: {"items"} -> /v1/batch, Open Inference Protocol inputs -> /v2 infer,
//       otherwise /v1/infer); the answer is the inference's own (2xx acknowledges the message).
// A Pub/Sub push subscription's own request (no CloudEvent: a JSON body {"message": {...},
// "subscription": "..."}, as Pub/Sub sends without Eventarc) is served like messagePublished and
// logged as {"event":"pubsub_push", ...}.
// Anything else is answered 400 (unsupported_event_type); bad events and event data get the
// codes of cloudevent.h, invalid_event_data and invalid_base64 as problem+json.
// Each event is logged as one {"event":"cloudevent", ...} line naming what was received, on
// `log` (modelfn-fn gives its per-request log, silenced by MODELFN_LOG_REQUESTS=0).
#pragma once

#include <string>

#include "common/json.h"
#include "common/log.h"
#include "faces/gcp/cloudevent.h"
#include "faces/object_batch.h"
#include "function/function_core.h"
#include "store/aws_auth.h"

namespace modelfn {

inline constexpr std::string_view kStorageFinalized = "google.cloud.storage.object.v1.finalized";
inline constexpr std::string_view kPubSubPublished =
    "google.cloud.pubsub.topic.v1.messagePublished";

struct GcpEventConfig : ObjectBatchConfig {
  static GcpEventConfig FromEnv(const EnvFn& env);
};

class GcpEventHandler {
 public:
  // Pointers must outlive the handler. `open_bucket` opens a Cloud Storage bucket (the store's
  // GCS backend in production). Thread-safe when the core and the opener are.
  GcpEventHandler(FunctionCore* core, std::string model_name, GcpEventConfig config,
                  BucketOpener open_bucket, const EventLog* log);

  // One HTTP request carrying a CloudEvent: its header fields (lowercased names) and body.
  Outcome Handle(const HeaderList& headers, std::string_view body) const;

 private:
  // Each adds what it read of the event's data to `line` (the event's log line).
  Outcome HandleStorage(const CloudEvent& event, JsonWriter& line) const;
  Outcome HandlePubSub(const CloudEvent& event, JsonWriter& line) const;
  // The message of a Pub/Sub envelope ({"message", "subscription"}) as an inference.
  Outcome InferMessage(const Json& envelope, JsonWriter& line) const;

  FunctionCore* core_;
  std::string model_name_;
  GcpEventConfig config_;
  BucketOpener open_bucket_;
  const EventLog* log_;
};

// True for the body of a Pub/Sub push request: {"message": {...}, "subscription": "..."}.
bool IsPushEnvelope(const Json& body);

// The problem+json answer of a Status whose reason is a problem code.
Outcome ProblemOutcome(const Status& status);

}  // namespace modelfn

// The events the clouds send a function, made from a few facts (a bucket and a key, a message
// body), in the shapes their documentation gives and the faces read: S3 notifications and SQS
// batches (Lambda), API Gateway HTTP API requests (Lambda), Cloud Storage CloudEvents (Cloud Run,
// Cloud Functions 2nd gen, Knative), Azure blob trigger invocations (the custom handler). For
// `modelfn generate-event`, and for whatever delivers objects to functions as their cloud would.
// Pure functions: no I/O, no clock (times are given).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace modelfn::sample_events {

struct S3Object {
  std::string bucket;
  std::string key;  // as stored; the event carries it URL-encoded, '+' for spaces
  uint64_t size = 0;
  std::string etag;  // without quotes
  std::string event_name = "ObjectCreated:Put";
  std::string region = "us-east-1";
};
// {"Records": [...]}, one S3 notification record per object (eventVersion 2.1).
std::string S3Event(const std::vector<S3Object>& objects, int64_t wall_ms);

struct SqsMessage {
  std::string body;
  std::string message_id;                                       // "": made from the index
  std::string receipt_handle;                                   // "": made from the id
  std::string md5_of_body;                                      // "": made from the body
  std::vector<std::pair<std::string, std::string>> attributes;  // none: a first receive now
};
// {"Records": [...]}, one SQS record per message, from the queue `queue_arn`.
std::string SqsEvent(const std::vector<SqsMessage>& messages, const std::string& queue_arn,
                     int64_t wall_ms);

// An API Gateway HTTP API (payload format 2.0) event for a request.
std::string HttpApiEvent(const std::string& method, const std::string& path,
                         const std::string& query, const std::string& body,
                         const std::string& content_type, int64_t wall_ms);

struct StorageObject {
  std::string bucket;
  std::string name;
  uint64_t size = 0;
  std::string content_type = "application/octet-stream";
  std::string generation = "1";
};
// A google.cloud.storage.object.v1.finalized CloudEvent in structured mode (the JSON body, with
// Content-Type application/cloudevents+json), `id` its id.
std::string StorageCloudEvent(const StorageObject& object, const std::string& id, int64_t wall_ms);

struct AzureBlob {
  std::string container;
  std::string name;
  uint64_t size = 0;
  std::string etag = "0x8DC0000000000000";
  std::string function;  // sys.MethodName, as the host fills it; empty: the binding's name
};
// The custom handler's invocation payload for a blob trigger binding named `binding`.
std::string AzureBlobInvocation(const AzureBlob& blob, const std::string& binding);

// S3's key encoding in notifications: each byte outside [A-Za-z0-9-_.*~/] as %XX, spaces as '+'.
std::string S3EncodeKey(const std::string& key);

}  // namespace modelfn::sample_events

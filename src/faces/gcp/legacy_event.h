// Cloud Functions' own event format (1st gen "background" events, the "GCF HTTP" representation)
// turned into the CloudEvent (cloudevent.h) it stands for, as Google's Functions Frameworks do for
// a function with a CloudEvent signature (the mapping of functions-framework-conformance's
// docs/mapping.md). The body is a JSON object:
//
//   {"context": {"eventId", "timestamp", "eventType", "resource": {"service", "name", "type"}},
//    "data": {...}}
// or the older flat form
//   {"eventId", "timestamp", "eventType", "resource": "NAME", "data": {...}}
//
// Where both carry a value, the context's is used. The CloudEvent: id = eventId, time =
// timestamp, specversion 1.0, datacontenttype application/json, type from the event type (below),
// source "//SERVICE/NAME" where SERVICE is context.resource.service or follows from the event
// type's prefix. Event types served (those of the events this face handles):
//   google.storage.object.{finalize,delete,archive,metadataUpdate}
//       -> google.cloud.storage.object.v1.{finalized,deleted,archived,metadataUpdated};
//       the source stops after the bucket, and the subject is "objects/NAME" without the
//       "#generation" a resource name may end with.
//   google.pubsub.topic.publish, providers/cloud.pubsub/eventTypes/topic.publish
//       -> google.cloud.pubsub.topic.v1.messagePublished; the data becomes {"message": DATA} with
//       the message's messageId and publishTime set from eventId and timestamp (DATA is kept as
//       it came otherwise, "@type" included).
//
// Errors are InvalidArgument with a problem code as reason: missing_event_attribute (no event id,
// event type or resource name, or no data), unsupported_event_type (any other event type:
// Firestore and Firebase events need conversions this face does not make).
#pragma once

#include "common/json.h"
#include "common/status.h"
#include "faces/gcp/cloudevent.h"

namespace modelfn {

// True when `body` has the shape of a legacy event: an object with a "data" member and an event
// type (context.eventType or eventType).
bool IsLegacyEvent(const Json& body);

// The CloudEvent of a legacy event body (its mode is CloudEvent::Mode::kLegacy).
StatusOr<CloudEvent> LegacyToCloudEvent(const Json& body);

}  // namespace modelfn

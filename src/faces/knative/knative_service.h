// `modelfn deploy --target knative`: a Knative Service for one model function and, for an object
// trigger, a Knative Eventing Trigger that delivers the bucket's CloudEvents to it.
//   Service (serving.knative.dev/v1): the image; autoscaling.knative.dev min-scale (0: scale to
//   zero), max-scale and target-utilization-percentage; containerConcurrency; CPU and memory
//   requests and limits; a readiness probe on /v2/health/ready; timeoutSeconds, which Knative also
//   gives the pod as its termination grace period, so in-flight requests drain on SIGTERM.
//   Trigger (eventing.knative.dev/v1): a broker's google.cloud.storage.object.v1.finalized events
//   (optionally of one bucket) to the Service.
#pragma once

#include <string>

#include "common/status.h"

namespace modelfn {

struct KnativeOptions {
  std::string name;  // Service name (a DNS label, <= 63)
  std::string namespace_ = "default";
  std::string image;
  std::string model_uri;        // a store URI, or empty: the model is in the image
  int min_scale = 0;            // 0: scale to zero
  int max_scale = 10;           // 0: unbounded
  int concurrency = 8;          // containerConcurrency (0: unbounded)
  int target_utilization = 70;  // percent of concurrency the autoscaler aims at
  std::string cpu = "1";        // Kubernetes quantity
  std::string memory = "1Gi";   // Kubernetes quantity
  int timeout_s = 300;          // request timeout and termination grace period
  // Object trigger: events of `broker` whose type is an object upload (of trigger_bucket, if set).
  bool trigger = false;
  std::string broker = "default";
  std::string trigger_bucket;
  std::string input_prefix = "incoming/";
  std::string output_prefix = "results/";
  std::string failure_prefix = "failed/";
};

// InvalidArgument (reason "invalid_request") for options Knative would refuse.
Status ValidateKnativeOptions(const KnativeOptions& o);

// The Service, and the Trigger (empty unless o.trigger), each one YAML document.
StatusOr<std::string> RenderKnativeService(const KnativeOptions& o);
StatusOr<std::string> RenderKnativeTrigger(const KnativeOptions& o);

}  // namespace modelfn

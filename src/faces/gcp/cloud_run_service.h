// `modelfn deploy --target gcp`: what Cloud Run needs to run one model function.
//   - a Cloud Run service (serving.knative.dev/v1 Service as `gcloud run services replace` takes
//     it): min/max instances (autoscaling.knative.dev annotations on the revision template),
//     containerConcurrency, CPU and memory limits, startup CPU boost, request timeout, the model's
//     store URI in MODELFN_MODEL, its own service account;
//   - for a Cloud Storage trigger, an Eventarc trigger (the Eventarc API's Trigger resource) that
//     delivers google.cloud.storage.object.v1.finalized CloudEvents of the bucket to the service;
//   - the gcloud commands that create the accounts, grant read access to the model prefix only (an
//     IAM condition on the object name), apply the service and create the trigger.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace modelfn {

struct CloudRunOptions {
  std::string service;  // Cloud Run service name (lowercase letters, digits, '-', <= 49)
  std::string project;  // project id, for account e-mails and resource names
  std::string region = "us-central1";
  std::string image;      // e.g. REGION-docker.pkg.dev/PROJECT/REPO/NAME:TAG
  std::string model_uri;  // gs://bucket/prefix/NAME[@V], or empty: the model is in the image
  int min_instances = 0;
  int max_instances = 10;
  int concurrency = 8;    // containerConcurrency
  std::string cpu = "1";  // vCPU: 1, 2, 4, 6, 8 (or 0.08..1)
  int memory_mb = 1024;   // memory limit, MiB
  bool cpu_boost = true;  // run.googleapis.com/startup-cpu-boost
  int timeout_s = 300;    // request timeout
  // Cloud Storage trigger (gcp_events.h): uploads under input_prefix are inferred, results and
  // failures written under the other prefixes of the same bucket.
  std::string trigger_bucket;  // empty: no trigger
  std::string input_prefix = "incoming/";
  std::string output_prefix = "results/";
  std::string failure_prefix = "failed/";
};

// The e-mail of the function's service account: SERVICE-fn@PROJECT.iam.gserviceaccount.com
// (the id cut to 30 characters).
std::string CloudRunServiceAccount(const CloudRunOptions& o);

// InvalidArgument (reason "invalid_request") for options Cloud Run or this layout would refuse.
Status ValidateCloudRunOptions(const CloudRunOptions& o);

// The service YAML.
StatusOr<std::string> RenderCloudRunService(const CloudRunOptions& o);

// The Eventarc trigger (empty without a trigger bucket).
StatusOr<std::string> RenderEventarcTrigger(const CloudRunOptions& o);

// The gcloud commands that apply the service (read from `service_yaml`, a path) and the trigger,
// in order, each a shell command line.
StatusOr<std::vector<std::string>> GcloudCommands(const CloudRunOptions& o,
                                                  const std::string& service_yaml);

}  // namespace modelfn

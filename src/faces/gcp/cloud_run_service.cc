#include "faces/gcp/cloud_run_service.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

#include "faces/trigger_prefixes.h"
#include "store/store_uri.h"

namespace modelfn {
namespace {

Status Bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}

bool IsDnsLabel(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max || s.front() == '-' || s.back() == '-') return false;
  if (!(s.front() >= 'a' && s.front() <= 'z')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// Single-quoted for sh.
std::string Sh(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

std::string TriggerAccountId(const CloudRunOptions& o) {
  std::string id = o.service.substr(0, 30 - 3) + "-ev";
  return id;
}

void Env(YAML::Emitter& y, const std::string& name, const std::string& value) {
  y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << name << YAML::Key << "value"
    << YAML::Value << YAML::DoubleQuoted << value << YAML::EndMap;
}

// The object-name prefix an IAM condition on a bucket grants.
std::string ObjectPrefix(const std::string& bucket, const std::string& prefix) {
  return "projects/_/buckets/" + bucket + "/objects/" + prefix;
}

}  // namespace

std::string CloudRunServiceAccount(const CloudRunOptions& o) {
  std::string id = o.service.substr(0, 30 - 3) + "-fn";
  return id + "@" + o.project + ".iam.gserviceaccount.com";
}

Status ValidateCloudRunOptions(const CloudRunOptions& o) {
  if (!IsDnsLabel(o.service, 49))
    return Bad("--name must be lowercase letters, digits and '-', at most 49 characters");
  if (o.service.size() < 3) return Bad("--name must have at least 3 characters");
  if (o.project.empty()) return Bad("--project is required");
  if (o.image.empty()) return Bad("--image is required (where the cloud-run image was pushed)");
  if (o.region.empty()) return Bad("--region is required");
  if (o.min_instances < 0 || o.max_instances < 1 || o.min_instances > o.max_instances)
    return Bad("--min-instances must be 0..--max-instances, --max-instances at least 1");
  if (o.concurrency < 1 || o.concurrency > 1000) return Bad("--concurrency must be 1..1000");
  if (o.timeout_s < 1 || o.timeout_s > 3600) return Bad("--timeout must be 1..3600 s");
  char* end = nullptr;
  double cpu = strtod(o.cpu.c_str(), &end);
  if (o.cpu.empty() || *end != '\0' || cpu < 0.08 || cpu > 8 ||
      (cpu > 1 && cpu != 2 && cpu != 4 && cpu != 6 && cpu != 8)) {
    return Bad("--cpu must be 0.08..1, 2, 4, 6 or 8");
  }
  if (o.memory_mb < 128 || o.memory_mb > 32768) return Bad("--memory must be 128..32768 MiB");
  if (cpu < 1 && o.concurrency != 1) return Bad("below 1 vCPU Cloud Run needs --concurrency 1");
  if (cpu < 0.5 && o.memory_mb > 512) return Bad("above 512 MiB Cloud Run needs --cpu 0.5 or more");
  if (cpu < 1 && o.memory_mb > 1024) return Bad("above 1 GiB Cloud Run needs --cpu 1 or more");
  if (cpu >= 4 && o.memory_mb < (cpu >= 6 ? 4096 : 2048))
    return Bad("--cpu 4 needs 2 GiB and --cpu 6 or 8 needs 4 GiB of --memory");
  if (!o.model_uri.empty()) {
    auto src = ParseModelSource(o.model_uri);
    if (!src.ok()) return src.status();
    if (src->store.kind != StoreUri::Kind::kGcs)
      return Bad("on Google Cloud the model store must be gs://");
  }
  if (!o.trigger_bucket.empty()) {
    Status prefixes = CheckTriggerPrefixes(o.input_prefix, o.output_prefix, o.failure_prefix);
    if (!prefixes.ok()) return Bad(prefixes.message());
  }
  return Status();
}

StatusOr<std::string> RenderCloudRunService(const CloudRunOptions& o) {
  RETURN_IF_ERROR(ValidateCloudRunOptions(o));
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "apiVersion" << YAML::Value << "serving.knative.dev/v1";
  y << YAML::Key << "kind" << YAML::Value << "Service";
  y << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << o.service;
  y << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "cloud.googleapis.com/location" << YAML::Value << o.region;
  y << YAML::Key << "app.kubernetes.io/managed-by" << YAML::Value << "modelfn";
  y << YAML::EndMap;
  y << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "run.googleapis.com/ingress" << YAML::Value << "all";
  y << YAML::EndMap << YAML::EndMap;
  y << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "template" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "autoscaling.knative.dev/minScale" << YAML::Value << YAML::DoubleQuoted
    << std::to_string(o.min_instances);
  y << YAML::Key << "autoscaling.knative.dev/maxScale" << YAML::Value << YAML::DoubleQuoted
    << std::to_string(o.max_instances);
  y << YAML::Key << "run.googleapis.com/startup-cpu-boost" << YAML::Value << YAML::DoubleQuoted
    << (o.cpu_boost ? "true" : "false");
  // Below 1 vCPU Cloud Run runs only the first generation environment with CPU allocated during
  // requests (https://cloud.google.com/run/docs/configuring/services/cpu).
  bool fractional_cpu = strtod(o.cpu.c_str(), nullptr) < 1;
  y << YAML::Key << "run.googleapis.com/execution-environment" << YAML::Value
    << (fractional_cpu ? "gen1" : "gen2");
  if (fractional_cpu) {
    y << YAML::Key << "run.googleapis.com/cpu-throttling" << YAML::Value << YAML::DoubleQuoted
      << "true";
  }
  y << YAML::EndMap << YAML::EndMap;
  y << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "containerConcurrency" << YAML::Value << o.concurrency;
  y << YAML::Key << "timeoutSeconds" << YAML::Value << o.timeout_s;
  y << YAML::Key << "serviceAccountName" << YAML::Value << CloudRunServiceAccount(o);
  y << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  y << YAML::Key << "image" << YAML::Value << o.image;
  y << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << "http1" << YAML::Key << "containerPort" << YAML::Value
    << 8080 << YAML::EndMap << YAML::EndSeq;
  y << YAML::Key << "env" << YAML::Value << YAML::BeginSeq;
  if (!o.model_uri.empty()) Env(y, "MODELFN_MODEL", o.model_uri);
  if (!o.trigger_bucket.empty()) {
    Env(y, "MODELFN_GCS_INPUT_PREFIX", o.input_prefix);
    Env(y, "MODELFN_GCS_OUTPUT_PREFIX", o.output_prefix);
    Env(y, "MODELFN_GCS_FAILURE_PREFIX", o.failure_prefix);
  }
  y << YAML::EndSeq;
  y << YAML::Key << "resources" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "limits" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "cpu" << YAML::Value << YAML::DoubleQuoted << o.cpu;
  y << YAML::Key << "memory" << YAML::Value << std::to_string(o.memory_mb) + "Mi";
  y << YAML::EndMap << YAML::EndMap;
  y << YAML::Key << "startupProbe" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "httpGet" << YAML::Value << YAML::BeginMap << YAML::Key << "path" << YAML::Value
    << "/v2/health/ready" << YAML::Key << "port" << YAML::Value << 8080 << YAML::EndMap;
  y << YAML::Key << "periodSeconds" << YAML::Value << 1 << YAML::Key << "failureThreshold"
    << YAML::Value << 240 << YAML::Key << "timeoutSeconds" << YAML::Value << 1;
  y << YAML::EndMap;
  y << YAML::EndMap << YAML::EndSeq;  // containers
  y << YAML::EndMap << YAML::EndMap;  // template.spec, template
  y << YAML::Key << "traffic" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  y << YAML::Key << "percent" << YAML::Value << 100 << YAML::Key << "latestRevision" << YAML::Value
    << true << YAML::EndMap << YAML::EndSeq;
  y << YAML::EndMap << YAML::EndMap;
  if (!y.good()) return InternalError(std::string("yaml: ") + y.GetLastError());
  return std::string(y.c_str()) + "\n";
}

StatusOr<std::string> RenderEventarcTrigger(const CloudRunOptions& o) {
  RETURN_IF_ERROR(ValidateCloudRunOptions(o));
  if (o.trigger_bucket.empty()) return std::string();
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value
    << "projects/" + o.project + "/locations/" + o.region + "/triggers/" + o.service + "-uploads";
  y << YAML::Key << "eventFilters" << YAML::Value << YAML::BeginSeq;
  y << YAML::BeginMap << YAML::Key << "attribute" << YAML::Value << "type" << YAML::Key << "value"
    << YAML::Value << "google.cloud.storage.object.v1.finalized" << YAML::EndMap;
  y << YAML::BeginMap << YAML::Key << "attribute" << YAML::Value << "bucket" << YAML::Key << "value"
    << YAML::Value << o.trigger_bucket << YAML::EndMap;
  y << YAML::EndSeq;
  y << YAML::Key << "destination" << YAML::Value << YAML::BeginMap << YAML::Key << "cloudRun"
    << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "service" << YAML::Value << o.service << YAML::Key << "region" << YAML::Value
    << o.region << YAML::Key << "path" << YAML::Value << "/";
  y << YAML::EndMap << YAML::EndMap;
  y << YAML::Key << "serviceAccount" << YAML::Value
    << TriggerAccountId(o) + "@" + o.project + ".iam.gserviceaccount.com";
  y << YAML::EndMap;
  if (!y.good()) return InternalError(std::string("yaml: ") + y.GetLastError());
  return std::string(y.c_str()) + "\n";
}

StatusOr<std::vector<std::string>> GcloudCommands(const CloudRunOptions& o,
                                                  const std::string& service_yaml) {
  RETURN_IF_ERROR(ValidateCloudRunOptions(o));
  std::vector<std::string> c;
  const std::string p = " --project=" + Sh(o.project);
  const std::string sa = CloudRunServiceAccount(o);
  c.push_back("gcloud iam service-accounts create " + Sh(sa.substr(0, sa.find('@'))) + p +
              " --display-name=" + Sh("modelfn function " + o.service));
  // Read access to the model's objects only: an IAM condition on the object name.
  auto grant = [&](const std::string& bucket, const std::string& member, const std::string& role,
                   const std::string& prefix, const std::string& title) {
    c.push_back("gcloud storage buckets add-iam-policy-binding " + Sh("gs://" + bucket) + p +
                " --member=" + Sh("serviceAccount:" + member) + " --role=" + Sh(role) +
                " --condition=" +
                Sh("expression=resource.name.startsWith(\"" + ObjectPrefix(bucket, prefix) +
                   "\"),title=" + title));
  };
  if (!o.model_uri.empty()) {
    ASSIGN_OR_RETURN(ModelSourceUri src, ParseModelSource(o.model_uri));
    std::string prefix = (src.store.prefix.empty() ? "" : src.store.prefix + "/") + src.name + "/";
    grant(src.store.bucket, sa, "roles/storage.objectViewer", prefix, "modelfn-model-read");
  }
  if (!o.trigger_bucket.empty()) {
    grant(o.trigger_bucket, sa, "roles/storage.objectViewer", o.input_prefix, "modelfn-input-read");
    grant(o.trigger_bucket, sa, "roles/storage.objectViewer", o.output_prefix,
          "modelfn-output-read");
    grant(o.trigger_bucket, sa, "roles/storage.objectCreator", o.output_prefix,
          "modelfn-output-write");
    grant(o.trigger_bucket, sa, "roles/storage.objectCreator", o.failure_prefix,
          "modelfn-failure-write");
  }
  c.push_back("gcloud run services replace " + Sh(service_yaml) + " --region=" + Sh(o.region) + p);
  if (!o.trigger_bucket.empty()) {
    const std::string tsa = TriggerAccountId(o) + "@" + o.project + ".iam.gserviceaccount.com";
    c.push_back("gcloud iam service-accounts create " + Sh(TriggerAccountId(o)) + p +
                " --display-name=" + Sh("Eventarc trigger of " + o.service));
    c.push_back("gcloud run services add-iam-policy-binding " + Sh(o.service) +
                " --region=" + Sh(o.region) + p + " --member=" + Sh("serviceAccount:" + tsa) +
                " --role=roles/run.invoker");
    c.push_back("gcloud projects add-iam-policy-binding " + Sh(o.project) + " --member=" +
                Sh("serviceAccount:" + tsa) + " --role=roles/eventarc.eventReceiver");
    c.push_back("gcloud projects add-iam-policy-binding " + Sh(o.project) +
                " --member=\"serviceAccount:$(gcloud storage service-agent" + p +
                ")\" --role=roles/pubsub.publisher");
    c.push_back("gcloud eventarc triggers create " + Sh(o.service + "-uploads") +
                " --location=" + Sh(o.region) + p + " --destination-run-service=" + Sh(o.service) +
                " --destination-run-region=" + Sh(o.region) + " --destination-run-path=/" +
                " --event-filters=type=google.cloud.storage.object.v1.finalized" +
                " --event-filters=" + Sh("bucket=" + o.trigger_bucket) +
                " --service-account=" + Sh(tsa));
  }
  return c;
}

}  // namespace modelfn

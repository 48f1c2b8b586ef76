#include "faces/knative/knative_service.h"

#include <yaml-cpp/yaml.h>

#include "faces/trigger_prefixes.h"

namespace modelfn {
namespace {

Status Bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}

bool IsDnsLabel(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  if (!(s.front() >= 'a' && s.front() <= 'z')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// A Kubernetes quantity in the forms used here: digits with an optional fraction and an
// optional binary or decimal suffix.
bool IsQuantity(const std::string& q) {
  size_t i = 0;
  while (i < q.size() && q[i] >= '0' && q[i] <= '9') ++i;
  if (i == 0) return false;
  if (i < q.size() && q[i] == '.') {
    size_t j = ++i;
    while (i < q.size() && q[i] >= '0' && q[i] <= '9') ++i;
    if (i == j) return false;
  }
  std::string suffix = q.substr(i);
  for (const char* s : {"", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"}) {
    if (suffix == s) return true;
  }
  return false;
}

void Str(YAML::Emitter& y, const std::string& k, const std::string& v) {
  y << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
}

}  // namespace

Status ValidateKnativeOptions(const KnativeOptions& o) {
  if (!IsDnsLabel(o.name)) return Bad("--name must be a DNS label (lowercase, digits, '-')");
  if (!IsDnsLabel(o.namespace_)) return Bad("--namespace must be a DNS label");
  if (o.image.empty()) return Bad("--image is required (where the cloud-run image was pushed)");
  if (o.min_scale < 0 || o.max_scale < 0 || (o.max_scale > 0 && o.min_scale > o.max_scale))
    return Bad("--min-scale must be 0..--max-scale");
  if (o.concurrency < 0 || o.concurrency > 1000) return Bad("--concurrency must be 0..1000");
  if (o.target_utilization < 1 || o.target_utilization > 100)
    return Bad("--target-utilization must be 1..100 (percent)");
  if (!IsQuantity(o.cpu) || !IsQuantity(o.memory))
    return Bad("--cpu and --memory must be Kubernetes quantities (500m, 1, 512Mi, 2Gi)");
  if (o.timeout_s < 1 || o.timeout_s > 600)
    return Bad("--timeout must be 1..600 s (Knative's default max-revision-timeout-seconds)");
  if (o.trigger) {
    if (!IsDnsLabel(o.broker)) return Bad("--broker must be a DNS label");
    Status prefixes = CheckTriggerPrefixes(o.input_prefix, o.output_prefix, o.failure_prefix);
    if (!prefixes.ok()) return Bad(prefixes.message());
  }
  return Status();
}

StatusOr<std::string> RenderKnativeService(const KnativeOptions& o) {
  RETURN_IF_ERROR(ValidateKnativeOptions(o));
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "apiVersion" << YAML::Value << "serving.knative.dev/v1";
  y << YAML::Key << "kind" << YAML::Value << "Service";
  y << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << o.name;
  y << YAML::Key << "namespace" << YAML::Value << o.namespace_;
  y << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "app.kubernetes.io/managed-by" << YAML::Value << "modelfn" << YAML::EndMap;
  y << YAML::EndMap;
  y << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "template" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
  Str(y, "autoscaling.knative.dev/min-scale", std::to_string(o.min_scale));
  Str(y, "autoscaling.knative.dev/max-scale", std::to_string(o.max_scale));
  Str(y, "autoscaling.knative.dev/target-utilization-percentage",
      std::to_string(o.target_utilization));
  y << YAML::EndMap << YAML::EndMap;
  y << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "containerConcurrency" << YAML::Value << o.concurrency;
  y << YAML::Key << "timeoutSeconds" << YAML::Value << o.timeout_s;
  y << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << "modelfn";
  y << YAML::Key << "image" << YAML::Value << o.image;
  y << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << "http1" << YAML::Key << "containerPort" << YAML::Value
    << 8080 << YAML::EndMap << YAML::EndSeq;
  y << YAML::Key << "env" << YAML::Value << YAML::BeginSeq;
  auto env = [&](const std::string& n, const std::string& v) {
    y << YAML::BeginMap << YAML::Key << "name" << YAML::Value << n;
    Str(y, "value", v);
    y << YAML::EndMap;
  };
  if (!o.model_uri.empty()) env("MODELFN_MODEL", o.model_uri);
  if (o.trigger) {
    env("MODELFN_GCS_INPUT_PREFIX", o.input_prefix);
    env("MODELFN_GCS_OUTPUT_PREFIX", o.output_prefix);
    env("MODELFN_GCS_FAILURE_PREFIX", o.failure_prefix);
  }
  y << YAML::EndSeq;
  y << YAML::Key << "resources" << YAML::Value << YAML::BeginMap;
  for (const char* k : {"requests", "limits"}) {
    y << YAML::Key << k << YAML::Value << YAML::BeginMap;
    Str(y, "cpu", o.cpu);
    Str(y, "memory", o.memory);
    y << YAML::EndMap;
  }
  y << YAML::EndMap;
  y << YAML::Key << "readinessProbe" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "httpGet" << YAML::Value << YAML::BeginMap << YAML::Key << "path" << YAML::Value
    << "/v2/health/ready" << YAML::EndMap;
  y << YAML::Key << "periodSeconds" << YAML::Value << 1 << YAML::Key << "failureThreshold"
    << YAML::Value << 3;
  y << YAML::EndMap;
  y << YAML::EndMap << YAML::EndSeq;  // containers
  y << YAML::EndMap << YAML::EndMap;  // template.spec, template
  y << YAML::EndMap << YAML::EndMap;
  if (!y.good()) return InternalError(std::string("yaml: ") + y.GetLastError());
  return std::string(y.c_str()) + "\n";
}

StatusOr<std::string> RenderKnativeTrigger(const KnativeOptions& o) {
  RETURN_IF_ERROR(ValidateKnativeOptions(o));
  if (!o.trigger) return std::string();
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "apiVersion" << YAML::Value << "eventing.knative.dev/v1";
  y << YAML::Key << "kind" << YAML::Value << "Trigger";
  y << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << o.name + "-uploads";
  y << YAML::Key << "namespace" << YAML::Value << o.namespace_ << YAML::EndMap;
  y << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "broker" << YAML::Value << o.broker;
  y << YAML::Key << "filter" << YAML::Value << YAML::BeginMap << YAML::Key << "attributes"
    << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "type" << YAML::Value << "google.cloud.storage.object.v1.finalized";
  if (!o.trigger_bucket.empty()) {
    // The CloudEvent source of a Cloud Storage object event names its bucket.
    y << YAML::Key << "source" << YAML::Value
      << "//storage.googleapis.com/projects/_/buckets/" + o.trigger_bucket;
  }
  y << YAML::EndMap << YAML::EndMap;
  y << YAML::Key << "subscriber" << YAML::Value << YAML::BeginMap << YAML::Key << "ref"
    << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "apiVersion" << YAML::Value << "serving.knative.dev/v1";
  y << YAML::Key << "kind" << YAML::Value << "Service";
  y << YAML::Key << "name" << YAML::Value << o.name << YAML::EndMap << YAML::EndMap;
  y << YAML::EndMap << YAML::EndMap;
  if (!y.good()) return InternalError(std::string("yaml: ") + y.GetLastError());
  return std::string(y.c_str()) + "\n";
}

}  // namespace modelfn

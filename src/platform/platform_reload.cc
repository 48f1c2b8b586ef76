// Graceful reload of modelfn.yaml (SIGHUP): the pipeline's stages are rebuilt from the new
// configuration and swapped in; requests in flight finish on the stages they started with.
#include <map>

#include "platform/platform.h"

namespace modelfn {
namespace {

// The fields a reload cannot apply, named as in modelfn.yaml, when they differ.
std::vector<std::string> NeedRestart(const PlatformConfig& a, const PlatformConfig& b) {
  std::vector<std::string> out;
  auto check = [&out](bool same, std::string field) {
    if (!same) out.push_back(std::move(field));
  };
  check(a.store == b.store, "store");
  check(a.state_dir == b.state_dir, "state_dir");
  const GatewayConfig &g = a.gateway, &h = b.gateway;
  check(g.host == h.host && g.port == h.port, "gateway.listen");
  check(g.api_keys == h.api_keys, "gateway.auth.api_keys");
  check(g.jwt_enabled == h.jwt_enabled && g.jwt.jwks == h.jwt.jwks &&
            g.jwt.issuer == h.jwt.issuer && g.jwt.audience == h.jwt.audience &&
            g.jwt.leeway_s == h.jwt.leeway_s,
        "gateway.auth.jwt");
  check(g.tls_cert == h.tls_cert && g.tls_key == h.tls_key && g.tls_client_ca == h.tls_client_ca,
        "gateway.tls");
  check(g.max_body_bytes == h.max_body_bytes, "gateway.max_body_bytes");
  check(g.allow_unauthenticated == h.allow_unauthenticated, "gateway.allow_unauthenticated");
  check(g.workers == h.workers, "gateway.workers");
  bool same_triggers = a.triggers.size() == b.triggers.size();
  for (size_t i = 0; same_triggers && i < a.triggers.size(); ++i) {
    const TriggerSpec &x = a.triggers[i], &y = b.triggers[i];
    same_triggers = x.function == y.function && x.shape == y.shape && x.source_id == y.source_id &&
                    x.prefix == y.prefix && x.suffix == y.suffix && x.poll_s == y.poll_s;
  }
  check(same_triggers, "triggers");
  std::vector<std::string> names_a, names_b;
  for (const auto& f : a.functions) names_a.push_back(f.name);
  for (const auto& f : b.functions) names_b.push_back(f.name);
  if (names_a != names_b) {
    out.push_back("functions (added, removed or renamed)");
    return out;
  }
  for (size_t i = 0; i < a.functions.size(); ++i) {
    const FunctionConfig &f = a.functions[i], &n = b.functions[i];
    std::string p = "functions." + f.name + ".";
    check(f.model == n.model && f.version == n.version, p + "model");
    check(f.mode == n.mode, p + "mode");
    check(f.face == n.face, p + "face");
    check(f.concurrency == n.concurrency, p + "concurrency");
    check(f.min_instances == n.min_instances, p + "min_instances");
    check(f.max_instances == n.max_instances, p + "max_instances");
    check(f.idle_ttl_s == n.idle_ttl_s, p + "idle_ttl_s");
    check(f.timeout_s == n.timeout_s, p + "timeout_s");
    check(f.memory_mb == n.memory_mb, p + "memory_mb");
    check(f.cpus == n.cpus, p + "cpus");
    check(f.max_queue == n.max_queue, p + "max_queue");
    check(f.queue_timeout_s == n.queue_timeout_s, p + "queue_timeout_s");
    check(f.env == n.env, p + "env");
    check(f.held_batch == n.held_batch, p + "batching");
    const AsyncConfig &fa = f.async, &na = n.async;
    check(fa.max_retries == na.max_retries && fa.max_age_s == na.max_age_s &&
              fa.retry_base_s == na.retry_base_s && fa.retry_cap_s == na.retry_cap_s &&
              fa.on_success == na.on_success && fa.on_failure == na.on_failure &&
              fa.idempotency_window_s == na.idempotency_window_s &&
              fa.max_in_flight == na.max_in_flight,
          p + "async");
    check(f.sqs.queue_url == n.sqs.queue_url && f.sqs.batch_size == n.sqs.batch_size &&
              f.sqs.batching_window_s == n.sqs.batching_window_s &&
              f.sqs.visibility_timeout_s == n.sqs.visibility_timeout_s,
          p + "sqs");
    check(f.command == n.command, p + "command");
    check(f.start == n.start, p + "start");
    bool same_versions = f.traffic.size() == n.traffic.size();
    for (size_t t = 0; same_versions && t < f.traffic.size(); ++t) {
      same_versions = f.traffic[t].version == n.traffic[t].version;
    }
    check(same_versions, p + "traffic (versions; weights may change)");
  }
  return out;
}

}  // namespace

Status Platform::Reload(StatusOr<PlatformConfig> next) {
  std::lock_guard<std::mutex> lock(reload_mu_);
  Status result;
  if (!next.ok()) {
    result = next.status();
  } else if (auto fields = NeedRestart(config_, *next); !fields.empty()) {
    std::string list;
    for (const auto& f : fields) list += (list.empty() ? "" : ", ") + f;
    result = FailedPreconditionError("changed settings need a restart: " + list);
  }
  if (!result.ok()) {
    EventLog::Line line = log_.Begin("reload_refused", "error");
    line.w().Key("error").String(result.message());
    line.w().Key("kept").String("the running configuration");
    log_.Emit(line);
    return result;
  }
  pipeline_->Replace(BuildStages(*next));
  EventLog::Line line = log_.Begin("reload");
  line.w().Key("functions").Int(static_cast<int64_t>(next->functions.size()));
  line.w().Key("plans").Int(static_cast<int64_t>(next->plans.size()));
  log_.Emit(line);
  return Status::Ok();
}

}  // namespace modelfn

// The bodies of the platform's local routes: health, models, status, metrics and OpenAPI.
#include <unistd.h>

#include "common/json.h"
#include "gateway/openapi.h"
#include "platform/platform.h"

namespace modelfn {

std::string Platform::HealthJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("status").String("ok").Key("functions").BeginArray();
  for (const auto& f : functions_) {
    w.BeginObject().Key("name").String(f->config.name).Key("versions").BeginArray();
    for (const auto& v : f->variants) w.String(v.pool->version());
    w.EndArray().EndObject();
  }
  w.EndArray();
  w.Key("uptime_s").Double(static_cast<double>(clock_->MonotonicNanos() - started_ns_) / 1e9);
  w.EndObject();
  return out;
}

std::string Platform::ModelsJson() const {
  std::string out;
  JsonWriter w(&out);
  auto routes = CurrentRoutes();
  w.BeginObject().Key("models").BeginArray();
  for (size_t fi = 0; fi < functions_.size(); ++fi) {
    const Function& f = *functions_[fi];
    for (size_t vi = 0; vi < f.variants.size(); ++vi) {
      w.BeginObject();
      w.Key("name").String(f.config.name);
      w.Key("model").String(f.config.model);
      w.Key("version").String(f.variants[vi].pool->version());
      if (f.variants.size() > 1) w.Key("weight").Int((*routes)[fi].variants[vi].weight);
      w.EndObject();
    }
  }
  w.EndArray().EndObject();
  return out;
}

std::string Platform::StatusJson() const {
  auto summaries = metrics_.Summaries();
  auto routes = CurrentRoutes();
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("url").String(url());
  w.Key("uptime_s").Double(static_cast<double>(clock_->MonotonicNanos() - started_ns_) / 1e9);
  w.Key("memory_limit").String(MemoryLimitName(memory_.kind()));
  w.Key("cpu_limit").String(cpu_.KindName());
  w.Key("functions").BeginArray();
  for (const auto& f : functions_) {
    w.BeginObject();
    w.Key("name").String(f->config.name);
    w.Key("mode").String(f->config.mode == InstanceMode::kLambda ? "lambda" : "http");
    w.Key("face").String(InstanceFaceName(f->config.face));
    w.Key("min_instances").Int(f->config.min_instances);
    w.Key("max_instances").Int(f->config.max_instances);
    // CPUs per instance (`cpus:`), null without a limit.
    if (f->config.cpus > 0) {
      w.Key("cpus").Double(f->config.cpus);
    } else {
      w.Key("cpus").Null();
    }
    const FunctionSummary& s = summaries[f->config.name];
    w.Key("requests").Uint(s.requests);
    w.Key("errors").Uint(s.errors);
    w.Key("client_errors").Uint(s.client_errors);
    w.Key("p50_ms").Double(s.p50_ms);
    w.Key("p95_ms").Double(s.p95_ms);
    w.Key("p99_ms").Double(s.p99_ms);
    if (async_) w.Key("async").Raw(async_->StatusOf(f->config.name));
    uint64_t cold = 0, cold_req = 0;
    int inst = 0;
    w.Key("versions").BeginArray();
    const gateway::FunctionRoute& route = (*routes)[static_cast<size_t>(&f - functions_.data())];
    for (size_t vi = 0; vi < f->variants.size(); ++vi) {
      PoolSnapshot snap = f->variants[vi].pool->Snapshot();
      cold += snap.counters.inits;
      cold_req += snap.counters.cold_requests;
      inst += static_cast<int>(snap.instances.size());
      w.BeginObject();
      w.Key("version").String(snap.version);
      if (f->variants.size() > 1) w.Key("weight").Int(route.variants[vi].weight);
      w.Key("queued").Uint(snap.queued);
      w.Key("instances").BeginObject();
      w.Key("starting").Int(snap.starting).Key("idle").Int(snap.idle);
      w.Key("busy").Int(snap.busy).Key("stopping").Int(snap.stopping);
      w.EndObject();
      const PoolCounters& c = snap.counters;
      w.Key("counters").BeginObject();
      w.Key("requests").Uint(c.requests).Key("cold_starts").Uint(c.inits);
      w.Key("prewarmed_starts").Uint(c.prewarmed_inits);
      w.Key("cold_start_requests").Uint(c.cold_requests);
      w.Key("throttled").Uint(c.throttled).Key("queue_timeouts").Uint(c.queue_timeouts);
      w.Key("timeouts").Uint(c.timeouts).Key("crashes").Uint(c.crashes);
      w.Key("out_of_memory").Uint(c.out_of_memory).Key("init_failures").Uint(c.init_failures);
      w.Key("function_errors").Uint(c.function_errors).Key("abandoned").Uint(c.abandoned);
      w.Key("held_batches").Uint(c.held_batches).Key("held_requests").Uint(c.held_requests);
      w.Key("held_resends").Uint(c.held_resends);
      w.EndObject();
      if (!snap.last_init_error.empty()) w.Key("last_init_error").String(snap.last_init_error);
      if (!snap.template_state.empty()) w.Key("template").String(snap.template_state);
      w.Key("instance_list").BeginArray();
      for (const auto& i : snap.instances) {
        w.BeginObject();
        w.Key("name").String(i.name).Key("pid").Int(i.pid).Key("state").String(i.state);
        w.Key("version").String(i.version).Key("active").Int(i.active);
        w.Key("served").Uint(i.served).Key("age_s").Double(i.age_s);
        w.Key("init_ms").Double(i.init_ms).Key("prewarmed").Bool(i.prewarmed);
        w.Key("start").String(i.forked ? "fork" : "exec");
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    w.Key("instances").Int(inst);
    w.Key("cold_starts").Uint(cold);
    w.Key("cold_start_requests").Uint(cold_req);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

std::string Platform::MetricsText(bool openmetrics) const {
  std::string out = metrics_.Render(openmetrics);
  struct Line {
    const char* name;
    const char* type;
    const char* help;
  };
  std::vector<std::pair<std::string, PoolSnapshot>> snaps;
  for (const auto& f : functions_) {
    for (const auto& v : f->variants) snaps.emplace_back(f->config.name, v.pool->Snapshot());
  }
  auto labels = [](const std::string& f, const PoolSnapshot& s) {
    return "function=\"" + PromLabel(f) + "\",version=\"" + PromLabel(s.version) + "\"";
  };
  auto counter = [&](const char* name, const char* help, uint64_t PoolCounters::*field) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [f, s] : snaps) {
      out +=
          std::string(name) + "{" + labels(f, s) + "} " + std::to_string(s.counters.*field) + "\n";
    }
  };
  counter("modelfn_cold_starts_total", "Instances started (each pays an init).",
          &PoolCounters::inits);
  counter("modelfn_cold_start_requests_total", "Requests that waited for an instance's init.",
          &PoolCounters::cold_requests);
  counter("modelfn_throttles_total", "Requests refused with 429: every instance busy, queue full.",
          &PoolCounters::throttled);
  counter("modelfn_queue_timeouts_total", "Requests answered 503 after waiting in the queue.",
          &PoolCounters::queue_timeouts);
  counter("modelfn_abandoned_requests_total",
          "Queued requests dropped because their client closed the connection.",
          &PoolCounters::abandoned);
  counter("modelfn_held_batches_total",
          "Invocations that carried several waiting requests merged (lambda mode, batching).",
          &PoolCounters::held_batches);
  counter("modelfn_held_requests_total", "Requests answered from merged invocations.",
          &PoolCounters::held_requests);
  // How many waiting requests the holder merged per invocation (lambda mode, batching).
  out +=
      "# HELP modelfn_held_batch_requests Requests merged into one invocation by the holder.\n"
      "# TYPE modelfn_held_batch_requests histogram\n";
  for (const auto& [f, s] : snaps) {
    uint64_t cum = 0, count = 0;
    for (uint64_t n : s.counters.held_sizes) count += n;
    for (size_t b = 0; b < s.counters.held_sizes.size(); ++b) {
      cum += s.counters.held_sizes[b];
      std::string le = b + 1 == s.counters.held_sizes.size() ? "+Inf" : std::to_string(2 << b);
      out += "modelfn_held_batch_requests_bucket{" + labels(f, s) + ",le=\"" + le + "\"} " +
             std::to_string(cum) + "\n";
    }
    out += "modelfn_held_batch_requests_sum{" + labels(f, s) + "} " +
           std::to_string(s.counters.held_size_sum) + "\n";
    out +=
        "modelfn_held_batch_requests_count{" + labels(f, s) + "} " + std::to_string(count) + "\n";
  }
  counter("modelfn_held_resends_total",
          "Merged invocations whose answer could not be split: their requests went again alone.",
          &PoolCounters::held_resends);
  counter("modelfn_timeouts_total", "Requests answered 504; their instance was killed.",
          &PoolCounters::timeouts);
  counter("modelfn_instance_crashes_total", "Instances that exited unexpectedly.",
          &PoolCounters::crashes);
  counter("modelfn_out_of_memory_total", "Instances killed at their memory limit.",
          &PoolCounters::out_of_memory);
  counter("modelfn_init_failures_total", "Instances that failed to initialise.",
          &PoolCounters::init_failures);
  out += "# HELP modelfn_instances Instances by state.\n# TYPE modelfn_instances gauge\n";
  for (const auto& [f, s] : snaps) {
    std::pair<const char*, int> states[] = {
        {"starting", s.starting}, {"idle", s.idle}, {"busy", s.busy}, {"stopping", s.stopping}};
    for (const auto& [st, n] : states) {
      out += "modelfn_instances{" + labels(f, s) + ",state=\"" + st + "\"} " + std::to_string(n) +
             "\n";
    }
  }
  out += "# HELP modelfn_queue_depth Requests waiting for an instance.\n";
  out += "# TYPE modelfn_queue_depth gauge\n";
  for (const auto& [f, s] : snaps) {
    out += "modelfn_queue_depth{" + labels(f, s) + "} " + std::to_string(s.queued) + "\n";
  }
  if (async_) out += async_->MetricsText();
  return out;
}

std::string Platform::OpenApiJson() const {
  std::vector<OpenApiFunction> fns;
  for (const auto& f : functions_) {
    fns.push_back({f->config.name, &f->variants[0].manifest,
                   f->config.mode == InstanceMode::kLambda && f->config.command.empty()});
  }
  return BuildOpenApi(fns, url(), config_.gateway.api_keys, config_.gateway.jwt_enabled);
}

}  // namespace modelfn

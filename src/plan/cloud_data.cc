#include "plan/cloud_data.h"

#include <cmath>

#include "common/embed.h"
#include "common/json.h"

// The data files, assembled into the binary.
#define MODELFN_PLAN_EMBED(name, path) \
  MODELFN_EMBED_FILE(name, MODELFN_SOURCE_DIR "/data/plan/" path)

MODELFN_PLAN_EMBED(modelfn_plan_clouds, "clouds.json")
MODELFN_PLAN_EMBED(modelfn_plan_prices, "prices.json")

namespace modelfn {
namespace plan {
namespace {

class Reader {
 public:
  Reader(const char* reason, std::string where) : reason_(reason), where_(std::move(where)) {}
  Status Bad(const std::string& field, const std::string& what) const {
    return Status(StatusCode::kInvalidArgument, where_ + field + ": " + what, reason_);
  }
  StatusOr<double> Number(const Json& o, const std::string& key, bool required, double fallback,
                          double lo, double hi) const {
    const Json* v = o.Find(key);
    if (v == nullptr || v->is_null()) {
      if (required) return Bad(key, "missing");
      return fallback;
    }
    // A rule may be written {"value": N, "documented": .., "note": ..}.
    if (v->is_object()) {
      const Json* inner = v->Find("value");
      if (inner == nullptr) return Bad(key, "an object without \"value\"");
      v = inner;
    }
    if (!v->is_number() || !std::isfinite(v->AsDouble()) || v->AsDouble() < lo ||
        v->AsDouble() > hi)
      return Bad(key,
                 "not a number from " + Json::Double(lo).Dump() + " to " + Json::Double(hi).Dump());
    return v->AsDouble();
  }
  StatusOr<std::string> String(const Json& o, const std::string& key, bool required) const {
    const Json* v = o.Find(key);
    if (v == nullptr) {
      if (required) return Bad(key, "missing");
      return std::string();
    }
    if (!v->is_string()) return Bad(key, "not a string");
    return v->AsString();
  }
  Reader Sub(const std::string& key) const { return Reader(reason_, where_ + key + "."); }

 private:
  const char* reason_;
  std::string where_;
};

// Every "source" string and every rule marked "documented": false, anywhere under `v`.
void Collect(const Json& v, const std::string& path, std::vector<std::string>* sources,
             std::vector<std::string>* assumptions) {
  if (v.is_object()) {
    const Json* doc = v.Find("documented");
    if (doc != nullptr && doc->is_bool() && !doc->AsBool()) {
      const Json* note = v.Find("note");
      const Json* value = v.Find("value");
      std::string text = path;
      if (value != nullptr && !value->is_object() && !value->is_array())
        text += " = " + value->Dump();
      if (note != nullptr && note->is_string()) text += ": " + note->AsString();
      assumptions->push_back(text);
    }
    for (const auto& [k, m] : v.AsObject()) {
      bool source_key = k == "sources" || k == "evidence" ||
                        (k.size() >= 6 && k.compare(k.size() - 6, 6, "source") == 0);
      if (source_key && m.is_string()) {
        bool seen = false;
        for (const auto& s : *sources) seen = seen || s == m.AsString();
        if (!seen && !m.AsString().empty()) sources->push_back(m.AsString());
      } else if (source_key && m.is_array()) {
        for (const Json& e : m.AsArray()) {
          if (!e.is_string()) continue;
          bool seen = false;
          for (const auto& s : *sources) seen = seen || s == e.AsString();
          if (!seen) sources->push_back(e.AsString());
        }
      } else {
        Collect(m, path.empty() ? k : path + "." + k, sources, assumptions);
      }
    }
  } else if (v.is_array()) {
    for (const Json& e : v.AsArray()) Collect(e, path, sources, assumptions);
  }
}

StatusOr<CloudTarget> ParseTarget(const std::string& id, const Json& t) {
  Reader r("invalid_cloud_data", "clouds: " + id + ".");
  if (!t.is_object()) return r.Bad("", "not an object");
  CloudTarget ct;
  ct.id = id;
  ct.rules.id = id;
  ASSIGN_OR_RETURN(ct.title, r.String(t, "title", true));
  const Json* sizes = t.Find("sizes");
  if (sizes == nullptr || !sizes->is_array() || sizes->AsArray().empty())
    return r.Bad("sizes", "not a non-empty list of {memory_mb, vcpu}");
  for (size_t i = 0; i < sizes->AsArray().size(); ++i) {
    Reader rs = r.Sub("sizes[" + std::to_string(i) + "]");
    const Json& s = sizes->AsArray()[i];
    if (!s.is_object()) return rs.Bad("", "not an object");
    Size sz;
    ASSIGN_OR_RETURN(double mem, rs.Number(s, "memory_mb", true, 0, 64, 1 << 20));
    sz.memory_mb = static_cast<int>(mem);
    ASSIGN_OR_RETURN(sz.vcpu, rs.Number(s, "vcpu", true, 0, 0.01, 1024));
    ASSIGN_OR_RETURN(double mc, rs.Number(s, "max_concurrency", false, 0, 0, 100000));
    sz.max_concurrency = static_cast<int>(mc);
    ct.sizes.push_back(sz);
  }
  const Json* conc = t.Find("concurrency");
  if (conc == nullptr || !conc->is_object()) return r.Bad("concurrency", "missing");
  Reader rc = r.Sub("concurrency");
  ASSIGN_OR_RETURN(double cdef, rc.Number(*conc, "default", true, 1, 1, 100000));
  ASSIGN_OR_RETURN(double cmax, rc.Number(*conc, "max", false, cdef, 1, 100000));
  ct.rules.concurrency = static_cast<int>(cdef);
  ct.concurrency_max = static_cast<int>(cmax);
  if (const Json* bm = conc->Find("default_by_memory_mb"); bm != nullptr && bm->is_object()) {
    for (const auto& [k, v] : bm->AsObject()) {
      int mem = atoi(k.c_str());
      if (!v.is_number() || v.AsDouble() < 1 || mem <= 0)
        return rc.Bad("default_by_memory_mb." + k, "not a concurrency of a memory size");
      ct.concurrency_by_memory[mem] = static_cast<int>(v.AsDouble());
    }
  }
  const Json* sc = t.Find("scaling");
  if (sc == nullptr || !sc->is_object()) return r.Bad("scaling", "missing");
  Reader rsc = r.Sub("scaling");
  ASSIGN_OR_RETURN(std::string kind, rsc.String(*sc, "kind", true));
  if (kind == "per_request") {
    ct.rules.scale = ScaleKind::kPerRequest;
  } else if (kind == "utilization") {
    ct.rules.scale = ScaleKind::kUtilization;
  } else {
    return rsc.Bad("kind", "\"" + kind + "\" is not per_request or utilization");
  }
  ASSIGN_OR_RETURN(ct.rules.target_concurrency_utilization,
                   rsc.Number(*sc, "target_concurrency_utilization", false, 1, 0.05, 1));
  ASSIGN_OR_RETURN(ct.rules.target_cpu_utilization,
                   rsc.Number(*sc, "target_cpu_utilization", false, 0, 0, 1));
  ASSIGN_OR_RETURN(ct.rules.scale_interval_s,
                   rsc.Number(*sc, "evaluation_period_s", false, 2, 0.1, 3600));
  // Without a window, the autoscaler reacts to the load since its last look.
  ASSIGN_OR_RETURN(ct.rules.scale_window_s,
                   rsc.Number(*sc, "window_s", false, ct.rules.scale_interval_s, 0.1, 86400));
  ASSIGN_OR_RETURN(double per10, rsc.Number(*sc, "new_environments_per_10s", false, 0, 0, 1e6));
  ct.rules.max_new_per_10s = static_cast<int>(per10);
  ASSIGN_OR_RETURN(ct.rules.idle_timeout_s, r.Number(t, "idle_timeout_s", true, 0, 0, 86400 * 7));
  ASSIGN_OR_RETURN(ct.rules.platform_cold_ms,
                   r.Number(t, "cold_start_overhead_ms", false, 0, 0, 600000));
  ASSIGN_OR_RETURN(double maxi, r.Number(t, "max_instances_default", false, 1000, 1, 1e6));
  ct.rules.max_instances = static_cast<int>(maxi);
  const Json* b = t.Find("billing");
  if (b == nullptr || !b->is_object()) return r.Bad("billing", "missing");
  Reader rb = r.Sub("billing");
  ASSIGN_OR_RETURN(std::string rule, rb.String(*b, "rule", true));
  if (rule == "per_request_duration") {
    ct.rules.billing = BillingRule::kPerRequestDuration;
  } else if (rule == "instance_active_time") {
    ct.rules.billing = BillingRule::kInstanceActiveTime;
  } else if (rule == "instance_execution_time") {
    ct.rules.billing = BillingRule::kInstanceExecutionTime;
  } else {
    return rb.Bad("rule", "\"" + rule +
                              "\" is not per_request_duration, instance_active_time or "
                              "instance_execution_time");
  }
  ASSIGN_OR_RETURN(ct.rules.granularity_ms, rb.Number(*b, "granularity_ms", false, 1, 0, 3.6e6));
  ASSIGN_OR_RETURN(ct.rules.minimum_ms, rb.Number(*b, "minimum_ms", false, 0, 0, 3.6e6));
  if (const Json* ib = b->Find("init_billed"); ib != nullptr) {
    if (!ib->is_bool()) return rb.Bad("init_billed", "not true or false");
    ct.rules.init_billed = ib->AsBool();
  }
  Collect(t, id, &ct.sources, &ct.assumptions);
  return ct;
}

StatusOr<Rates> ParseRates(const Reader& r, const Json& o, const std::string& key, bool required) {
  Rates out;
  const Json* v = o.Find(key);
  if (v == nullptr) {
    if (required) return r.Bad(key, "missing");
    return out;
  }
  if (!v->is_object()) return r.Bad(key, "not an object of rates");
  Reader rr = r.Sub(key);
  ASSIGN_OR_RETURN(out.gb_second, rr.Number(*v, "gb_second", false, 0, 0, 1));
  ASSIGN_OR_RETURN(out.gib_second, rr.Number(*v, "gib_second", false, 0, 0, 1));
  ASSIGN_OR_RETURN(out.vcpu_second, rr.Number(*v, "vcpu_second", false, 0, 0, 1));
  return out;
}

}  // namespace

StatusOr<std::map<std::string, CloudTarget>> ParseClouds(std::string_view json) {
  auto j = Json::Parse(json);
  if (!j.ok())
    return Status(StatusCode::kInvalidArgument, "clouds: " + j.status().message(),
                  "invalid_cloud_data");
  const Json* targets = j->Find("targets");
  if (targets == nullptr || !targets->is_object() || targets->AsObject().empty())
    return Status(StatusCode::kInvalidArgument, "clouds: \"targets\" is missing",
                  "invalid_cloud_data");
  std::map<std::string, CloudTarget> out;
  for (const auto& [id, t] : targets->AsObject()) {
    ASSIGN_OR_RETURN(CloudTarget ct, ParseTarget(id, t));
    out[id] = std::move(ct);
  }
  return out;
}

StatusOr<PriceBook> ParsePrices(std::string_view json, const std::string& origin) {
  auto j = Json::Parse(json);
  Reader r("invalid_prices", "prices (" + origin + "): ");
  if (!j.ok()) return r.Bad("", j.status().message());
  if (!j->is_object()) return r.Bad("", "not a JSON object");
  PriceBook book;
  book.origin = origin;
  ASSIGN_OR_RETURN(book.version, r.String(*j, "price_version", true));
  ASSIGN_OR_RETURN(book.currency, r.String(*j, "currency", true));
  const Json* targets = j->Find("targets");
  if (targets == nullptr || !targets->is_object() || targets->AsObject().empty())
    return r.Bad("targets", "missing or empty");
  for (const auto& [id, t] : targets->AsObject()) {
    Reader rt = r.Sub(id);
    if (!t.is_object()) return rt.Bad("", "not an object");
    TargetPrices p;
    ASSIGN_OR_RETURN(p.region, rt.String(t, "region", false));
    ASSIGN_OR_RETURN(p.source, rt.String(t, "source", true));
    ASSIGN_OR_RETURN(p.date_checked, rt.String(t, "date_checked", true));
    ASSIGN_OR_RETURN(p.note, rt.String(t, "note", false));
    ASSIGN_OR_RETURN(p.per_request, rt.Number(t, "per_request", true, 0, 0, 1));
    ASSIGN_OR_RETURN(p.min_per_request,
                     rt.Number(t, "min_per_request", false, p.per_request, 0, 1));
    ASSIGN_OR_RETURN(p.active, ParseRates(rt, t, "active", true));
    ASSIGN_OR_RETURN(p.min_idle, ParseRates(rt, t, "min_idle", false));
    ASSIGN_OR_RETURN(p.min_active, ParseRates(rt, t, "min_active", false));
    if (t.Find("min_active") == nullptr) p.min_active = p.active;
    if (const Json* w = t.Find("min_idle_whole_time"); w != nullptr) {
      if (!w->is_bool()) return rt.Bad("min_idle_whole_time", "not true or false");
      p.min_idle_whole_time = w->AsBool();
    }
    if (const Json* fm = t.Find("free_monthly"); fm != nullptr) {
      if (!fm->is_object()) return rt.Bad("free_monthly", "not an object");
      Reader rf = rt.Sub("free_monthly");
      ASSIGN_OR_RETURN(p.free_requests, rf.Number(*fm, "requests", false, 0, 0, 1e12));
      ASSIGN_OR_RETURN(p.free_seconds.gb_second, rf.Number(*fm, "gb_second", false, 0, 0, 1e12));
      ASSIGN_OR_RETURN(p.free_seconds.gib_second, rf.Number(*fm, "gib_second", false, 0, 0, 1e12));
      ASSIGN_OR_RETURN(p.free_seconds.vcpu_second,
                       rf.Number(*fm, "vcpu_second", false, 0, 0, 1e12));
    }
    book.targets[id] = std::move(p);
  }
  return book;
}

std::string_view BuiltInClouds() {
  return std::string_view(modelfn_plan_clouds_begin,
                          static_cast<size_t>(modelfn_plan_clouds_end - modelfn_plan_clouds_begin));
}

std::string_view BuiltInPrices() {
  return std::string_view(modelfn_plan_prices_begin,
                          static_cast<size_t>(modelfn_plan_prices_end - modelfn_plan_prices_begin));
}

}  // namespace plan
}  // namespace modelfn

#include "plan/profile.h"

#include <algorithm>
#include <cmath>

#include "common/json.h"

namespace modelfn {
namespace plan {
namespace {

Status Bad(const std::string& message) {
  return Status(StatusCode::kInvalidArgument, "profile: " + message, "invalid_profile");
}

void WriteSamples(JsonWriter& w, const std::vector<double>& v) {
  w.BeginArray();
  for (double x : v) w.Double(std::round(x * 1000) / 1000);
  w.EndArray();
}

StatusOr<std::string> GetString(const Json& o, const char* key, bool required) {
  const Json* v = o.Find(key);
  if (v == nullptr) {
    if (required) return Bad(std::string("\"") + key + "\" is missing");
    return std::string();
  }
  if (!v->is_string()) return Bad(std::string("\"") + key + "\" is not a string");
  return v->AsString();
}

StatusOr<double> GetNumber(const Json& o, const char* key, const std::string& where, double lo,
                           double hi) {
  const Json* v = o.Find(key);
  if (v == nullptr) return Bad(where + "\"" + key + "\" is missing");
  if (!v->is_number() || !std::isfinite(v->AsDouble()) || v->AsDouble() < lo ||
      v->AsDouble() > hi) {
    return Bad(where + "\"" + key + "\" is not a number from " + Json::Double(lo).Dump() + " to " +
               Json::Double(hi).Dump());
  }
  return v->AsDouble();
}

StatusOr<std::vector<double>> GetSamples(const Json& o, const char* key, const std::string& where) {
  const Json* v = o.Find(key);
  if (v == nullptr || !v->is_array() || v->AsArray().empty())
    return Bad(where + "\"" + key + "\" is not a non-empty array of milliseconds");
  if (v->AsArray().size() > 100'000) return Bad(where + "\"" + key + "\" holds too many samples");
  std::vector<double> out;
  for (const Json& x : v->AsArray()) {
    if (!x.is_number() || !std::isfinite(x.AsDouble()) || x.AsDouble() < 0 ||
        x.AsDouble() > 3.6e6) {
      return Bad(where + "\"" + key + "\" holds a value that is not a duration in milliseconds");
    }
    out.push_back(x.AsDouble());
  }
  return out;
}

double Median(const std::vector<double>& v) { return Percentile(v, 50); }

// What an instance's start costs before it serves: exec -> ready where measured.
const std::vector<double>& Init(const ProfilePoint& p) {
  return p.ready_ms.empty() ? p.cold_start_ms : p.ready_ms;
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / v.size();
}

std::vector<double> Scaled(const std::vector<double>& v, double factor) {
  std::vector<double> out(v);
  for (double& x : out) x *= factor;
  return out;
}

// Log-log interpolation of y at x between (x0, y0) and (x1, y1).
double LogLerp(double x, double x0, double y0, double x1, double y1) {
  if (y0 <= 0 || y1 <= 0 || x0 == x1)
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0 == 0 ? 1 : x1 - x0);
  double f = (std::log(x) - std::log(x0)) / (std::log(x1) - std::log(x0));
  return std::exp(std::log(y0) + f * (std::log(y1) - std::log(y0)));
}

}  // namespace

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double rank = p / 100 * (v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - lo);
}

const ProfilePoint::Batch* ProfilePoint::RunAt(int batch_size) const {
  for (const auto& b : run)
    if (b.size == batch_size) return &b;
  return nullptr;
}

std::string Profile::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("kind").String("modelfn-plan-profile");
  w.Key("schema_version").Int(schema_version);
  w.Key("model").String(model);
  w.Key("version").String(version);
  w.Key("manifest_sha256").String(manifest_sha256);
  w.Key("measured_at").String(measured_at);
  w.Key("host").String(host);
  w.Key("modelfn_version").String(modelfn_version);
  w.Key("enforcement").String(enforcement);
  w.Key("inputs").String(inputs);
  w.Key("points").BeginArray();
  for (const auto& p : points) {
    w.BeginObject();
    w.Key("cpus").Double(p.cpus);
    w.Key("cold_start_ms");
    WriteSamples(w, p.cold_start_ms);
    w.Key("ready_ms");
    WriteSamples(w, p.ready_ms);
    w.Key("init").BeginObject();
    w.Key("runtime_init_ms").Double(p.runtime_init_ms);
    w.Key("model_fetch_ms").Double(p.model_fetch_ms);
    w.Key("model_load_ms").Double(p.model_load_ms);
    w.Key("warmup_ms").Double(p.warmup_ms);
    w.EndObject();
    w.Key("run").BeginArray();
    for (const auto& b : p.run) {
      w.BeginObject();
      w.Key("batch").Int(b.size);
      w.Key("p50_ms").Double(std::round(Median(b.ms) * 1000) / 1000);
      w.Key("ms");
      WriteSamples(w, b.ms);
      w.EndObject();
    }
    w.EndArray();
    w.Key("concurrency").Int(p.concurrency);
    w.Key("max_rps").Double(std::round(p.max_rps * 10) / 10);
    w.Key("rss_mb").Double(std::round(p.rss_mb * 10) / 10);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  out.push_back('\n');
  return out;
}

StatusOr<Profile> Profile::Parse(std::string_view json) {
  auto j = Json::Parse(json);
  if (!j.ok()) return Bad(j.status().message());
  if (!j->is_object()) return Bad("not a JSON object");
  Profile p;
  ASSIGN_OR_RETURN(std::string kind, GetString(*j, "kind", true));
  if (kind != "modelfn-plan-profile") return Bad("\"kind\" is not \"modelfn-plan-profile\"");
  ASSIGN_OR_RETURN(double sv, GetNumber(*j, "schema_version", "", 1, 1000));
  if (sv != 1)
    return Bad("schema_version " + Json::Double(sv).Dump() +
               " is not 1 (a newer modelfn wrote it)");
  ASSIGN_OR_RETURN(p.model, GetString(*j, "model", true));
  ASSIGN_OR_RETURN(p.version, GetString(*j, "version", true));
  ASSIGN_OR_RETURN(p.manifest_sha256, GetString(*j, "manifest_sha256", true));
  ASSIGN_OR_RETURN(p.measured_at, GetString(*j, "measured_at", false));
  ASSIGN_OR_RETURN(p.host, GetString(*j, "host", false));
  ASSIGN_OR_RETURN(p.modelfn_version, GetString(*j, "modelfn_version", false));
  ASSIGN_OR_RETURN(p.enforcement, GetString(*j, "enforcement", false));
  ASSIGN_OR_RETURN(p.inputs, GetString(*j, "inputs", false));
  const Json* pts = j->Find("points");
  if (pts == nullptr || !pts->is_array() || pts->AsArray().empty())
    return Bad("\"points\" is not a non-empty array");
  if (pts->AsArray().size() > 64) return Bad("\"points\" holds more than 64 shares");
  for (size_t i = 0; i < pts->AsArray().size(); ++i) {
    const Json& o = pts->AsArray()[i];
    std::string where = "points[" + std::to_string(i) + "].";
    if (!o.is_object()) return Bad(where.substr(0, where.size() - 1) + " is not an object");
    ProfilePoint pt;
    ASSIGN_OR_RETURN(pt.cpus, GetNumber(o, "cpus", where, 0.01, 1024));
    ASSIGN_OR_RETURN(pt.cold_start_ms, GetSamples(o, "cold_start_ms", where));
    if (const Json* r = o.Find("ready_ms");
        r != nullptr && !(r->is_array() && r->AsArray().empty())) {
      ASSIGN_OR_RETURN(pt.ready_ms, GetSamples(o, "ready_ms", where));
    }
    if (const Json* init = o.Find("init"); init != nullptr && init->is_object()) {
      auto opt = [&](const char* k, double* out) -> Status {
        if (init->Find(k) == nullptr) return Status::Ok();
        ASSIGN_OR_RETURN(*out, GetNumber(*init, k, where + "init.", 0, 3.6e6));
        return Status::Ok();
      };
      RETURN_IF_ERROR(opt("runtime_init_ms", &pt.runtime_init_ms));
      RETURN_IF_ERROR(opt("model_fetch_ms", &pt.model_fetch_ms));
      RETURN_IF_ERROR(opt("model_load_ms", &pt.model_load_ms));
      RETURN_IF_ERROR(opt("warmup_ms", &pt.warmup_ms));
    }
    const Json* run = o.Find("run");
    if (run == nullptr || !run->is_array() || run->AsArray().empty())
      return Bad(where + "\"run\" is not a non-empty array");
    for (size_t k = 0; k < run->AsArray().size() && k < 64; ++k) {
      const Json& b = run->AsArray()[k];
      std::string bw = where + "run[" + std::to_string(k) + "].";
      if (!b.is_object()) return Bad(bw + " is not an object");
      ProfilePoint::Batch batch;
      ASSIGN_OR_RETURN(double size, GetNumber(b, "batch", bw, 1, 65536));
      batch.size = static_cast<int>(size);
      ASSIGN_OR_RETURN(batch.ms, GetSamples(b, "ms", bw));
      pt.run.push_back(std::move(batch));
    }
    if (pt.run.front().size != 1) return Bad(where + "\"run\" does not start at batch 1");
    ASSIGN_OR_RETURN(double conc, GetNumber(o, "concurrency", where, 1, 100000));
    pt.concurrency = static_cast<int>(conc);
    ASSIGN_OR_RETURN(pt.max_rps, GetNumber(o, "max_rps", where, 0, 1e9));
    ASSIGN_OR_RETURN(pt.rss_mb, GetNumber(o, "rss_mb", where, 0, 1e7));
    if (!p.points.empty() && pt.cpus <= p.points.back().cpus)
      return Bad(where + "\"cpus\" is not above the previous point's (points go by share)");
    p.points.push_back(std::move(pt));
  }
  return p;
}

StatusOr<ServiceModel> ServiceAt(const Profile& profile, double cpus) {
  if (profile.points.empty()) return FailedPreconditionError("the profile has no measured share");
  const auto& pts = profile.points;
  ServiceModel s;
  s.cpus = cpus;
  auto from_point = [&](const ProfilePoint& p, double time_factor) {
    s.cold_ms = Scaled(Init(p), time_factor);
    s.run_ms = Scaled(p.run.front().ms, time_factor);
    s.capacity = std::max(1.0, p.max_rps * Mean(p.run.front().ms) / 1e3);
    s.rss_mb = p.rss_mb;
  };
  const double kSame = 1e-6;
  if (cpus <= pts.front().cpus + kSame) {
    const auto& p = pts.front();
    from_point(p, std::abs(cpus - p.cpus) <= kSame ? 1.0 : p.cpus / cpus);
    s.basis = std::abs(cpus - p.cpus) <= kSame ? "measured" : "extrapolated";
    return s;
  }
  if (cpus >= pts.back().cpus - kSame) {
    from_point(pts.back(), 1.0);
    s.basis = std::abs(cpus - pts.back().cpus) <= kSame ? "measured" : "extrapolated";
    return s;
  }
  size_t hi = 1;
  while (pts[hi].cpus < cpus - kSame) ++hi;
  const auto& a = pts[hi - 1];
  const auto& b = pts[hi];
  if (std::abs(b.cpus - cpus) <= kSame) {
    from_point(b, 1.0);
    s.basis = "measured";
    return s;
  }
  const auto& nearest =
      (std::log(cpus) - std::log(a.cpus) < std::log(b.cpus) - std::log(cpus)) ? a : b;
  double run_med =
      LogLerp(cpus, a.cpus, Median(a.run.front().ms), b.cpus, Median(b.run.front().ms));
  double cold_med = LogLerp(cpus, a.cpus, Median(Init(a)), b.cpus, Median(Init(b)));
  double n_run = Median(nearest.run.front().ms);
  double n_cold = Median(Init(nearest));
  s.run_ms = Scaled(nearest.run.front().ms, n_run > 0 ? run_med / n_run : 1);
  s.cold_ms = Scaled(Init(nearest), n_cold > 0 ? cold_med / n_cold : 1);
  double cap_a = std::max(1.0, a.max_rps * Mean(a.run.front().ms) / 1e3);
  double cap_b = std::max(1.0, b.max_rps * Mean(b.run.front().ms) / 1e3);
  double f = (cpus - a.cpus) / (b.cpus - a.cpus);
  s.capacity = cap_a + (cap_b - cap_a) * f;
  s.rss_mb = a.rss_mb + (b.rss_mb - a.rss_mb) * f;
  s.basis = "interpolated";
  return s;
}

}  // namespace plan
}  // namespace modelfn

// GET /v1/plan/{function}: what the function would cost and how fast it would be on each cloud
// (and on this platform), for the traffic it has had, from its version's stored profile
// (docs/plan.md).
#include "common/cpu_quota.h"
#include "gateway/answers.h"
#include "plan/function_plan.h"
#include "plan/report.h"
#include "platform/platform.h"

namespace modelfn {
namespace {

// The value of `key` in a query string, percent-decoded ("+" is a space; a '%' without two hex
// digits stays as it is); "" when absent.
std::string QueryValue(const std::string& query, const std::string& key) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key && eq != std::string::npos) {
      std::string v = pair.substr(eq + 1);
      std::string out;
      for (size_t i = 0; i < v.size(); ++i) {
        auto hex = [](char c) {
          return isdigit(static_cast<unsigned char>(c)) ? c - '0'
                 : (c >= 'a' && c <= 'f')               ? c - 'a' + 10
                 : (c >= 'A' && c <= 'F')               ? c - 'A' + 10
                                                        : -1;
        };
        if (v[i] == '+') {
          out.push_back(' ');
        } else if (v[i] == '%' && i + 2 < v.size() && hex(v[i + 1]) >= 0 && hex(v[i + 2]) >= 0) {
          out.push_back(static_cast<char>(hex(v[i + 1]) * 16 + hex(v[i + 2])));
          i += 2;
        } else {
          out.push_back(v[i]);
        }
      }
      return out;
    }
    pos = amp + 1;
  }
  return "";
}

HttpResponse ProblemFor(const Status& s) {
  const std::string& r = s.reason();
  std::string code =
      r == "profile_missing" || r == "profile_mismatch" || r == "invalid_traffic"
          ? r
          : (s.code() == StatusCode::kUnavailable ? "store_unavailable" : "internal");
  return gateway::ProblemAnswer(code, s.message(), false);
}

}  // namespace

void Platform::PlanRoute(const std::string& function, const HttpRequest& request,
                         std::function<void(HttpResponse)> done) {
  if (planning_.exchange(true)) {
    HttpResponse busy = gateway::ProblemAnswer(
        "overloaded", "another plan is being made: try again in a few seconds", false);
    busy.headers.push_back({"Retry-After", "5"});
    done(std::move(busy));
    return;
  }
  std::string pattern = QueryValue(request.query, "traffic");
  const std::string* accept = request.Header("accept");
  bool json = accept != nullptr && accept->find("application/json") != std::string::npos &&
              accept->find("text/html") == std::string::npos;
  if (pattern.size() > 4096) {
    planning_ = false;
    done(gateway::ProblemAnswer("invalid_traffic", "the traffic pattern is over 4 KiB", false));
    return;
  }
  workers_->Post([this, function, pattern, json, done = std::move(done)] {
    HttpResponse out;
    const Function* f = nullptr;
    for (const auto& fn : functions_)
      if (fn->config.name == function) f = fn.get();
    plan::FunctionPlanRequest rq;
    Status failed;
    if (f == nullptr || f->variants.empty()) {
      failed = Status(StatusCode::kNotFound, "no function " + function, "not_found");
    } else {
      rq.function = &f->config;
      rq.version = f->variants.front().version;
      auto resolved = registry_->Resolve(f->config.model, rq.version);
      if (!resolved.ok()) {
        failed = resolved.status();
      } else {
        rq.manifest_sha256 = resolved->manifest_sha256;
        rq.profile_origin = f->config.model + "/profiles/" + rq.version + ".json";
        auto text = store_->Get(rq.profile_origin);
        if (text.ok()) {
          rq.profile_json = *text;
        } else if (text.status().code() != StatusCode::kNotFound) {
          failed = text.status();
        }
      }
    }
    if (failed.ok()) {
      rq.pattern = pattern;
      rq.arrivals_wall = traffic_->Snapshot(function);
      rq.now_wall = static_cast<double>(clock_->WallNanos()) / 1e9;
      rq.host_cpus = ReadCpuQuota().EffectiveCpus();
      rq.max_arrivals = 1'000'000;  // about 15 s of one worker thread
      auto made = plan::PlanFunction(rq);
      if (made.ok()) {
        out.status = 200;
        if (json) {
          out.content_type = "application/json";
          out.body = plan::PlanToJson(*made);
        } else {
          out.content_type = "text/html; charset=utf-8";
          out.body = plan::PlanToHtml(*made);
        }
      } else {
        failed = made.status();
      }
    }
    if (!failed.ok()) {
      out = failed.reason() == "not_found"
                ? gateway::ProblemAnswer("not_found", failed.message(), false)
                : ProblemFor(failed);
    }
    planning_ = false;
    done(std::move(out));
  });
}

}  // namespace modelfn

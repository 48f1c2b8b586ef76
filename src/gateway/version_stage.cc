#include "gateway/version_stage.h"

#include <random>

#include "gateway/answers.h"

namespace modelfn::gateway {

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

VariantRoute* VersionStage::ByWeight(FunctionRoute* fn, uint64_t point) {
  int64_t p = static_cast<int64_t>(point % static_cast<uint64_t>(fn->total_weight));
  for (auto& v : fn->variants) {
    p -= v.weight;
    if (p < 0) return &v;
  }
  return &fn->variants.back();
}

Verdict VersionStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  FunctionRoute* fn = ex->function;
  if (!ex->version.empty()) {
    for (auto& v : fn->variants) {
      if (v.backend->version() == ex->version) {
        ex->variant = &v;
        return Verdict::kNext;
      }
    }
    ex->response = ProblemAnswer(
        "not_found", "function " + fn->name + " does not serve version " + ex->version, ex->v2);
    return Verdict::kAnswered;
  }
  if (fn->variants.size() == 1) {
    ex->variant = &fn->variants[0];
    return Verdict::kNext;
  }
  uint64_t r;
  if (fn->sticky_traffic && !ex->request_id.empty()) {
    r = Fnv1a(ex->request_id);
  } else {
    thread_local std::mt19937_64 rng(std::random_device{}());
    r = rng();
  }
  ex->variant = ByWeight(fn, r);
  return Verdict::kNext;
}

}  // namespace modelfn::gateway

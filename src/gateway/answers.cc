#include "gateway/answers.h"

#include <cstdio>
#include <random>

#include "common/json.h"
#include "http/problem.h"

namespace modelfn::gateway {

HttpResponse ProblemAnswer(std::string_view code, const std::string& detail, bool v2) {
  Problem p = MakeProblem(code, detail);
  HttpResponse r;
  r.status = p.status;
  if (v2) {
    std::string body;
    JsonWriter w(&body);
    w.BeginObject().Key("error").String(detail).Key("code").String(p.code).EndObject();
    r.body = std::move(body);
  } else {
    r.content_type = std::string(kProblemContentType);
    r.body = p.ToJson();
  }
  return r;
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t v = rng();
    for (int i = 15; i >= 0; --i, v >>= 4) id[static_cast<size_t>(half * 16 + i)] = kHex[v & 15];
  }
  return id;
}

}  // namespace modelfn::gateway

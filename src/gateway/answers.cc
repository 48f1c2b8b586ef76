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
  char buf[40];
  snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
           static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace modelfn::gateway

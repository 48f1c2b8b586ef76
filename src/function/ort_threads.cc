#include "function/ort_threads.h"

#include <algorithm>
#include <charconv>

namespace modelfn {

namespace {

StatusOr<OrtThreadsChoice> ChooseThreads(std::string_view setting, const OrtThreadsFacts& facts) {
  OrtThreadsChoice c;
  if (!setting.empty() && setting != "auto") {
    int n = 0;
    auto [end, ec] = std::from_chars(setting.data(), setting.data() + setting.size(), n);
    if (ec != std::errc() || end != setting.data() + setting.size() || n < 1 || n > 256) {
      return Status(StatusCode::kInvalidArgument,
                    "ONNX Runtime threads must be auto or a number in [1, 256], not '" +
                        std::string(setting) + "'",
                    "invalid_request");
    }
    c.intra_op = n;
    c.reason = "set";
    return c;
  }
  int cpus = std::max(1, facts.cpus);
  std::string of = std::to_string(cpus) + (cpus == 1 ? " CPU" : " CPUs");
  if (facts.lambda_memory_mb > 0) {
    int share = std::max(1, facts.lambda_memory_mb / kLambdaMbPerVcpu);
    if (share < cpus) {
      cpus = share;
      of = std::to_string(cpus) + (cpus == 1 ? " vCPU" : " vCPUs") + " for " +
           std::to_string(facts.lambda_memory_mb) + " MB";
    }
  }
  if (facts.forks_instances) {
    c.intra_op = 1;
    c.reason = "auto: instances are forked, and a thread pool does not survive fork";
  } else if (facts.one_at_a_time) {
    c.intra_op = std::min(cpus, kMaxAutoIntraOpThreads);
    c.reason = "auto: one event at a time, " + of;
  } else if (facts.batch_runners > 0) {
    c.intra_op = std::max(1, cpus / facts.batch_runners);
    c.reason = "auto: " + of + " shared by " + std::to_string(facts.batch_runners) +
               (facts.batch_runners == 1 ? " batch runner" : " batch runners");
  } else {
    c.intra_op = 1;
    c.reason = "auto: concurrent requests, one thread each";
  }
  return c;
}

}  // namespace

StatusOr<OrtThreadsChoice> ChooseOrtThreads(std::string_view setting, std::string_view spin,
                                            const OrtThreadsFacts& facts) {
  ASSIGN_OR_RETURN(OrtThreadsChoice c, ChooseThreads(setting, facts));
  if (spin.empty() || spin == "auto") {
    c.spin = facts.one_at_a_time && !facts.forks_instances && c.intra_op > 1;
    if (c.spin) c.reason += "; spinning: one event at a time, billed by duration";
  } else if (spin == "on" || spin == "off") {
    c.spin = spin == "on";
    c.reason += c.spin ? "; spinning: set" : "; no spinning: set";
  } else {
    return Status(StatusCode::kInvalidArgument,
                  "ONNX Runtime spinning must be auto, on or off, not '" + std::string(spin) + "'",
                  "invalid_request");
  }
  return c;
}

}  // namespace modelfn

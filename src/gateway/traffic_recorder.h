// The arrival times of each function's requests the gateway forwarded, the most recent
// `capacity` of them per function: the traffic `GET /v1/plan/{function}` plans for
// (docs/plan.md). Thread-safe; Record costs one uncontended lock per request.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace modelfn::gateway {

class TrafficRecorder {
 public:
  // Records only the functions named here (the platform's, fixed at start).
  TrafficRecorder(const std::vector<std::string>& functions, size_t capacity);

  // A request of `function` arrived at `wall_seconds` (seconds since the epoch). Unknown
  // functions are ignored.
  void Record(const std::string& function, double wall_seconds);
  // The recorded arrivals of `function`, oldest first; empty for an unknown one.
  std::vector<double> Snapshot(const std::string& function) const;

 private:
  struct Ring {
    mutable std::mutex mu;
    std::vector<double> at;  // guarded by mu; a ring once full
    size_t next = 0;         // guarded by mu
    bool full = false;       // guarded by mu
  };
  size_t capacity_;
  std::map<std::string, std::unique_ptr<Ring>> rings_;  // fixed after construction
};

}  // namespace modelfn::gateway

// A model's profile: what `modelfn plan profile` measured on this machine, at several CPU shares
// (docs/plan.md, "Profile"). It is JSON, kept in the store beside the version it describes
// (<name>/profiles/<version>.json) or in a file, and is what the simulator (simulator.h) runs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {
namespace plan {

// Measurements at one CPU share.
struct ProfilePoint {
  double cpus = 1;  // the share enforced (1 = one full CPU)
  // exec -> first answer of a fresh modelfn-fn, each round (ms), and the init phases the
  // function logged (medians over the rounds; 0 when not logged).
  std::vector<double> cold_start_ms;
  // exec -> ready to serve (the readiness line), each round: the init the simulator charges a
  // cold request before its own run. Empty in profiles that predate it (cold_start_ms is used).
  std::vector<double> ready_ms;
  double runtime_init_ms = 0;
  double model_fetch_ms = 0;
  double model_load_ms = 0;
  double warmup_ms = 0;
  // One request alone, answered over HTTP on the loopback (ms): samples by batch size. The first
  // entry is batch 1.
  struct Batch {
    int size = 1;
    std::vector<double> ms;
  };
  std::vector<Batch> run;
  // Answers per second with `concurrency` requests in flight at batch 1: what an instance that
  // serves many at once gets out of its share.
  int concurrency = 1;
  double max_rps = 0;
  double rss_mb = 0;  // peak resident memory of the instance

  const Batch* RunAt(int batch_size) const;
};

struct Profile {
  int schema_version = 1;
  std::string model;  // name in the store, or the folder's manifest name
  std::string version;
  std::string manifest_sha256;  // of manifest.json: a profile is of one version
  std::string measured_at;      // RFC 3339
  std::string host;             // CPU model and count
  std::string modelfn_version;
  std::string enforcement;           // how the shares were enforced (cpu_limit's KindName)
  std::string inputs;                // "synthetic" or the samples' source
  std::vector<ProfilePoint> points;  // by cpus, ascending

  std::string ToJson() const;
  // InvalidArgument (reason "invalid_profile") naming the field that is missing or wrong.
  static StatusOr<Profile> Parse(std::string_view json);
};

// What the simulator needs of one size: the profile read at `cpus`, between or beyond the
// measured shares.
struct ServiceModel {
  double cpus = 1;
  std::vector<double> cold_ms;  // samples: init of an instance (our process only), to ready
  std::vector<double> run_ms;   // samples: one request alone at batch 1
  // Requests an instance progresses at full speed at once (>= 1): its throughput with several in
  // flight times the mean time of one alone.
  double capacity = 1;
  double rss_mb = 0;
  // "measured", "interpolated", or "extrapolated" (the share lies outside the measured ones: the
  // nearest point's times, scaled as below, are used).
  std::string basis;
};

// Reads the profile at `cpus`. Between two measured shares, the times are interpolated in log-log
// space (a time that halves when the share doubles stays a line) and the nearest point's samples
// are scaled to that median. Below the lowest share the times grow as 1/cpus (CPU-bound work at a
// smaller slice); above the highest they stay the highest share's (no speed-up is assumed that was
// not measured). FailedPrecondition when the profile has no point.
StatusOr<ServiceModel> ServiceAt(const Profile& profile, double cpus);

// The p-th percentile (0..100) of `v`, by linear interpolation between order statistics; 0 for
// an empty vector.
double Percentile(std::vector<double> v, double p);

}  // namespace plan
}  // namespace modelfn

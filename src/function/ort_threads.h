// How many threads ONNX Runtime runs one Run on (its intra-op pool), and whether they spin between
// operators, chosen once per process from how the process serves. A Lambda instance gets one event
// at a time and is billed by duration, not CPU time: every CPU for the Run, spinning, so that a
// Run of many small operators does not pay a thread wake-up for each (measured: 2 threads without
// spinning made a small transformer's Run slower than 1; with spinning 1.4x faster). An HTTP
// instance serves concurrent requests, one per event loop: one thread each, no spinning (more
// would make the Runs of different requests fight for the same cores). Inter-op threads stay at 1
// (sequential execution).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace modelfn {

struct OrtThreadsFacts {
  int cpus = 1;                  // CPUs the process may use (CpuQuota::EffectiveCpus)
  bool one_at_a_time = false;    // the Lambda face: one event at a time
  bool forks_instances = false;  // a template: instances are forked from this process
  int batch_runners = 0;         // dynamic batching's runner threads; 0: batching off
  // AWS_LAMBDA_FUNCTION_MEMORY_SIZE, 0 when not on Lambda. Lambda gives a function CPU in
  // proportion to its memory (one vCPU's worth at 1,769 MB, six at 10,240 MB) while the guest
  // sees more CPUs than that: threads beyond the share only wait, and spinning ones burn it.
  int lambda_memory_mb = 0;
};

// The memory at which Lambda gives a function the equivalent of one vCPU.
inline constexpr int kLambdaMbPerVcpu = 1769;

struct OrtThreadsChoice {
  int intra_op = 1;
  bool spin = false;   // idle pool threads spin a moment before sleeping
  std::string reason;  // for the init log line, e.g. "auto: one event at a time, 2 CPUs"
};

// The most threads "auto" gives one Run: past this, a Run of a serverless-sized model gains little.
inline constexpr int kMaxAutoIntraOpThreads = 16;

// `setting` is "auto" (or empty) or a number in [1, 256] (taken as is). Auto:
//   a template                 1: fork copies one thread, so a template must hold no pool (its
//                              instances share its session);
//   one event at a time        every CPU (at most kMaxAutoIntraOpThreads; on Lambda, at most
//                              the vCPUs its memory buys, memory / kLambdaMbPerVcpu, at least 1);
//   batching with R runners    CPUs / R (at least 1): the runners share the CPUs;
//   otherwise (HTTP)           1: concurrent requests run side by side.
// `spin` is "auto" (or empty), "on" or "off"; auto spins when one event is served at a time on
// more than one thread. InvalidArgument (reason "invalid_request") for anything else.
StatusOr<OrtThreadsChoice> ChooseOrtThreads(std::string_view setting, std::string_view spin,
                                            const OrtThreadsFacts& facts);

}  // namespace modelfn

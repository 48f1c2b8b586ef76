// Template mode of modelfn-fn: after the usual init (ONNX Runtime environment, session, warm-up)
// the process serves fork commands on a control socket (function/template_protocol.h) instead of
// requests. Each command makes one instance: a double fork, so the instance is reparented to the
// platform (a child subreaper) that reaps and signals it as it would an exec'd one; the instance
// then takes the environment and descriptors of the command and enters the normal serving path
// with the session already loaded.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"

namespace modelfn {

// How a forked instance came to be, CLOCK_MONOTONIC nanoseconds (the same clock in every process).
struct ForkedStart {
  int64_t requested_ns = 0;  // the platform asked (the fork command's time)
  int64_t forked_ns = 0;     // the instance runs, reparented to the platform
  int64_t env_ns = 0;        // its environment, descriptors, group and limits are in place
  pid_t template_pid = 0;
};

// This process's thread count (/proc/self/task), or -1 when it cannot be read.
int CountThreads();

// The template's loop. Call from the only thread, after the init succeeded; `model` is what the
// template loaded (MODELFN_MODEL or --model) and `init_line` its init log line (JSON), sent with
// "ready". A process with more than one thread cannot be forked safely: then nothing is forked,
// "init_error" (code "template_threads") goes to the platform, a log line says why, and the
// result is FailedPrecondition.
//
// `clock` must be a monotonic clock shared by the processes of the host (RealClock): the start
// times cross from the platform to the instance.
//
// Returns in two processes. In a forked instance: ok, with its start times; its environment is
// the command's, stdout/stderr its log, MODELFN_READY_FD=3 its readiness pipe when one came,
// every other descriptor of the template closed, its own process group, PR_SET_PDEATHSIG set,
// SIGTERM and SIGINT blocked. In the template: the status that ended the loop, NotFound when the
// platform closed the control socket (a normal stop).
StatusOr<ForkedStart> ServeForkCommands(int control_fd, const std::string& model,
                                        const std::string& init_line, const EventLog& log,
                                        const Clock& clock);

// Tells the platform that the init failed (best effort: the platform also sees the exit).
void ReportTemplateInitError(int control_fd, const Status& status);

}  // namespace modelfn

// The control protocol between a platform and a template process of modelfn-fn (an instance
// factory that has done the init once and forks ready instances). One SOCK_SEQPACKET socket pair:
// the platform holds one end, the template finds the other at $MODELFN_TEMPLATE_FD.
//
//   template -> platform   "ready" once init is done, or "init_error" (then the template exits)
//   platform -> template   "fork": the instance's environment, start time and descriptors
//                          (SCM_RIGHTS: its log, and its http-mode readiness pipe when asked)
//   template -> platform   "forked" with the instance's pid, or "fork_error"
//
// A message is one packet of NUL-separated "key=value" records; none may contain a NUL. The codecs
// below are pure; SendPacket/RecvPacket do the socket I/O.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {

// The environment variable that names the template's end of the control socket.
inline constexpr const char* kTemplateFdEnv = "MODELFN_TEMPLATE_FD";
// The largest packet either side sends or accepts (an instance environment is a few KiB).
inline constexpr size_t kTemplateMaxPacket = 256 * 1024;

struct ForkCommand {
  // CLOCK_MONOTONIC nanoseconds when the platform asked for the instance: the instance reports
  // its start phases from here (the clock is the same in every process of the host).
  int64_t requested_ns = 0;
  // The process the instance must end up a child of (the platform, a child subreaper). The
  // instance refuses to serve under any other parent: nobody would reap or signal it.
  pid_t reaper_pid = 0;
  // The instance's whole environment (it replaces the template's).
  std::map<std::string, std::string> env;
  bool has_log_fd = false;      // first descriptor: the instance's stdout and stderr
  bool has_ready_fd = false;    // next descriptor: becomes the instance's MODELFN_READY_FD
  int64_t rlimit_as_bytes = 0;  // > 0: the instance's RLIMIT_AS
  std::string cgroup_procs;     // non-empty: the cgroup.procs file the instance joins
};

std::string EncodeForkCommand(const ForkCommand& cmd);
// InvalidArgument on a packet that is not a well-formed fork command.
StatusOr<ForkCommand> DecodeForkCommand(std::string_view packet);

// What the template tells the platform.
struct TemplateReply {
  enum class Kind { kReady, kInitError, kForked, kForkError };
  Kind kind = Kind::kReady;
  pid_t pid = 0;     // kReady: the template's pid; kForked: the instance's pid
  std::string code;  // kInitError, kForkError: a problem code ("model_not_found", ...)
  std::string text;  // kReady: the template's init line (JSON); errors: the message
};

std::string EncodeTemplateReply(const TemplateReply& reply);
// InvalidArgument on a packet that is not a well-formed reply.
StatusOr<TemplateReply> DecodeTemplateReply(std::string_view packet);

struct Packet {
  std::string bytes;
  std::vector<int> fds;  // received descriptors (close-on-exec), owned by the caller
};

// Sends one packet with `fds` attached (they stay open and owned by the caller). Unavailable when
// the peer is gone, InvalidArgument when the packet is too large.
Status SendPacket(int sock, std::string_view bytes, const std::vector<int>& fds);
// Receives one packet, waiting up to timeout_ms (< 0: without limit). NotFound when the peer
// closed the socket, DeadlineExceeded on timeout, Unavailable on other errors; a truncated packet
// is InvalidArgument (its descriptors are closed).
StatusOr<Packet> RecvPacket(int sock, int timeout_ms);

}  // namespace modelfn

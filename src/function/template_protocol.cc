#include "function/template_protocol.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace modelfn {
namespace {

constexpr int kMaxFds = 4;

void Put(std::string* out, std::string_view key, std::string_view value) {
  out->append(key);
  out->push_back('=');
  for (char c : value) out->push_back(c == '\0' ? ' ' : c);  // a NUL would end the record
  out->push_back('\0');
}

// Splits a packet into its records; InvalidArgument when one lacks '=' or the last is unended.
StatusOr<std::vector<std::pair<std::string_view, std::string_view>>> Records(
    std::string_view packet) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  while (!packet.empty()) {
    size_t end = packet.find('\0');
    if (end == std::string_view::npos) return InvalidArgumentError("unterminated record");
    std::string_view rec = packet.substr(0, end);
    size_t eq = rec.find('=');
    if (eq == std::string_view::npos || eq == 0) return InvalidArgumentError("malformed record");
    out.emplace_back(rec.substr(0, eq), rec.substr(eq + 1));
    packet.remove_prefix(end + 1);
  }
  return out;
}

template <typename Int>
bool ParseNumber(std::string_view s, Int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

const char* KindName(TemplateReply::Kind k) {
  switch (k) {
    case TemplateReply::Kind::kReady:
      return "ready";
    case TemplateReply::Kind::kInitError:
      return "init_error";
    case TemplateReply::Kind::kForked:
      return "forked";
    case TemplateReply::Kind::kForkError:
      return "fork_error";
  }
  return "";
}

}  // namespace

std::string EncodeForkCommand(const ForkCommand& cmd) {
  std::string out;
  Put(&out, "kind", "fork");
  Put(&out, "requested_ns", std::to_string(cmd.requested_ns));
  Put(&out, "reaper", std::to_string(cmd.reaper_pid));
  Put(&out, "fds", std::string(cmd.has_log_fd ? "log" : "") + (cmd.has_ready_fd ? ",ready" : ""));
  if (cmd.rlimit_as_bytes > 0) Put(&out, "rlimit_as", std::to_string(cmd.rlimit_as_bytes));
  if (!cmd.cgroup_procs.empty()) Put(&out, "cgroup_procs", cmd.cgroup_procs);
  for (const auto& [k, v] : cmd.env) Put(&out, "env", k + "=" + v);
  return out;
}

StatusOr<ForkCommand> DecodeForkCommand(std::string_view packet) {
  ASSIGN_OR_RETURN(auto records, Records(packet));
  if (records.empty() || records[0].first != "kind" || records[0].second != "fork") {
    return InvalidArgumentError("not a fork command");
  }
  ForkCommand cmd;
  bool has_reaper = false;
  for (size_t i = 1; i < records.size(); ++i) {
    auto [key, value] = records[i];
    if (key == "requested_ns") {
      if (!ParseNumber(value, &cmd.requested_ns)) return InvalidArgumentError("bad requested_ns");
    } else if (key == "reaper") {
      if (!ParseNumber(value, &cmd.reaper_pid) || cmd.reaper_pid <= 0) {
        return InvalidArgumentError("bad reaper pid");
      }
      has_reaper = true;
    } else if (key == "fds") {
      cmd.has_log_fd = value.find("log") != std::string_view::npos;
      cmd.has_ready_fd = value.find("ready") != std::string_view::npos;
    } else if (key == "rlimit_as") {
      if (!ParseNumber(value, &cmd.rlimit_as_bytes)) return InvalidArgumentError("bad rlimit_as");
    } else if (key == "cgroup_procs") {
      cmd.cgroup_procs = std::string(value);
    } else if (key == "env") {
      size_t eq = value.find('=');
      if (eq == std::string_view::npos || eq == 0) return InvalidArgumentError("bad env entry");
      cmd.env[std::string(value.substr(0, eq))] = std::string(value.substr(eq + 1));
    } else {
      return InvalidArgumentError("unknown field " + std::string(key));
    }
  }
  if (!has_reaper) return InvalidArgumentError("fork command without a reaper pid");
  return cmd;
}

std::string EncodeTemplateReply(const TemplateReply& reply) {
  std::string out;
  Put(&out, "kind", KindName(reply.kind));
  if (reply.pid > 0) Put(&out, "pid", std::to_string(reply.pid));
  if (!reply.code.empty()) Put(&out, "code", reply.code);
  if (!reply.text.empty()) Put(&out, "text", reply.text);
  return out;
}

StatusOr<TemplateReply> DecodeTemplateReply(std::string_view packet) {
  ASSIGN_OR_RETURN(auto records, Records(packet));
  if (records.empty() || records[0].first != "kind") return InvalidArgumentError("no kind");
  TemplateReply reply;
  std::string_view kind = records[0].second;
  bool known = false;
  for (auto k : {TemplateReply::Kind::kReady, TemplateReply::Kind::kInitError,
                 TemplateReply::Kind::kForked, TemplateReply::Kind::kForkError}) {
    if (kind == KindName(k)) {
      reply.kind = k;
      known = true;
    }
  }
  if (!known) return InvalidArgumentError("unknown reply kind " + std::string(kind));
  for (size_t i = 1; i < records.size(); ++i) {
    auto [key, value] = records[i];
    if (key == "pid") {
      if (!ParseNumber(value, &reply.pid) || reply.pid <= 0) return InvalidArgumentError("bad pid");
    } else if (key == "code") {
      reply.code = std::string(value);
    } else if (key == "text") {
      reply.text = std::string(value);
    } else {
      return InvalidArgumentError("unknown field " + std::string(key));
    }
  }
  if (reply.kind == TemplateReply::Kind::kForked && reply.pid <= 0) {
    return InvalidArgumentError("forked reply without a pid");
  }
  return reply;
}

Status SendPacket(int sock, std::string_view bytes, const std::vector<int>& fds) {
  if (bytes.size() > kTemplateMaxPacket) return InvalidArgumentError("packet too large");
  if (fds.size() > kMaxFds) return InvalidArgumentError("too many descriptors");
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return UnavailableError(std::string("control socket: ") + strerror(errno));
  return Status::Ok();
}

StatusOr<Packet> RecvPacket(int sock, int timeout_ms) {
  pollfd p{sock, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return UnavailableError(std::string("control socket: ") + strerror(errno));
  if (r == 0) return Status(StatusCode::kDeadlineExceeded, "no message from the template in time");
  Packet out;
  out.bytes.resize(kTemplateMaxPacket + 1);
  iovec iov{out.bytes.data(), out.bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return UnavailableError(std::string("control socket: ") + strerror(errno));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      out.fds.push_back(fd);
    }
  }
  bool truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  if (n == 0 && out.fds.empty() && !truncated) return NotFoundError("the peer closed the socket");
  if (truncated) {
    for (int fd : out.fds) close(fd);
    return InvalidArgumentError("truncated packet");
  }
  out.bytes.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace modelfn

#include "common/log.h"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace modelfn {

EventLog::Line EventLog::Begin(std::string_view event, std::string_view level) const {
  Line line;
  line.s_->text.reserve(256);
  line.s_->w.BeginObject();
  line.s_->w.Key("ts").String(FormatRfc3339(clock_->WallNanos()));
  line.s_->w.Key("level").String(level);
  line.s_->w.Key("event").String(event);
  line.s_->urgent = level != "info" && level != "debug";
  return line;
}

namespace {

void WriteAll(int fd, const char* p, size_t left) {
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a closed stdout must not take the function down
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// The lines a LogBatch gathers on this thread, all for one descriptor.
struct Gathered {
  bool open = false;
  int fd = -1;
  std::string text;
  void Flush() {
    if (!text.empty()) WriteAll(fd, text.data(), text.size());
    text.clear();
  }
};
thread_local Gathered tl_gathered;

constexpr size_t kBatchLimit = 64 * 1024;

}  // namespace

void EventLog::Emit(Line& line) const {
  line.s_->w.EndObject();
  if (fd_ < 0) return;
  std::string& text = line.s_->text;
  text.push_back('\n');
  Gathered& g = tl_gathered;
  if (!g.open) {
    WriteAll(fd_, text.data(), text.size());
    return;
  }
  if (g.fd != fd_) {
    g.Flush();
    g.fd = fd_;
  }
  if (g.text.empty() && line.s_->urgent) {
    WriteAll(fd_, text.data(), text.size());
    return;
  }
  g.text += text;
  if (line.s_->urgent || g.text.size() >= kBatchLimit) g.Flush();
}

LogBatch::LogBatch() {
  if (tl_gathered.open) return;
  tl_gathered.open = true;
  active_ = true;
}

LogBatch::~LogBatch() {
  if (!active_) return;
  tl_gathered.Flush();
  tl_gathered.open = false;
  tl_gathered.fd = -1;
}

void LogBatch::Flush() {
  if (active_) tl_gathered.Flush();
}

void EventLog::Message(std::string_view level, std::string_view msg) const {
  Line line = Begin("log", level);
  line.w().Key("msg").String(msg);
  Emit(line);
}

namespace {
thread_local const std::string* current_request_id = nullptr;
thread_local const std::string* current_trace_id = nullptr;
}  // namespace

const std::string* RequestLogContext::request_id() { return current_request_id; }
const std::string* RequestLogContext::trace_id() { return current_trace_id; }

RequestLogScope::RequestLogScope(const std::string* request_id, const std::string* trace_id)
    : prev_request_(current_request_id), prev_trace_(current_trace_id) {
  current_request_id = request_id;
  current_trace_id = trace_id;
}

RequestLogScope::~RequestLogScope() {
  current_request_id = prev_request_;
  current_trace_id = prev_trace_;
}

}  // namespace modelfn

#include "common/log.h"

#include <unistd.h>

#include <cerrno>

namespace modelfn {

EventLog::Line EventLog::Begin(std::string_view event, std::string_view level) const {
  Line line;
  line.s_->text.reserve(256);
  line.s_->w.BeginObject();
  line.s_->w.Key("ts").String(FormatRfc3339(clock_->WallNanos()));
  line.s_->w.Key("level").String(level);
  line.s_->w.Key("event").String(event);
  return line;
}

void EventLog::Emit(Line& line) const {
  line.s_->w.EndObject();
  if (fd_ < 0) return;
  line.s_->text.push_back('\n');
  const char* p = line.s_->text.data();
  size_t left = line.s_->text.size();
  while (left > 0) {
    ssize_t n = write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a closed stdout must not take the function down
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void EventLog::Message(std::string_view level, std::string_view msg) const {
  Line line = Begin("log", level);
  line.w().Key("msg").String(msg);
  Emit(line);
}

}  // namespace modelfn

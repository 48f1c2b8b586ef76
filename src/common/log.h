// Structured logs: one JSON object per line on a file descriptor (stdout by default), as Lambda,
// Cloud Run and Azure collect them. Each line goes out in one write(2), so lines from different
// threads never interleave.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/json.h"

namespace modelfn {

class EventLog {
 public:
  // `clock` must outlive the log. fd < 0 disables logging.
  EventLog(int fd, const Clock* clock) : fd_(fd), clock_(clock) {}

  // A line under construction: {"ts":"...","level":"...","event":"<event>", ...fields...}.
  class Line {
   public:
    JsonWriter& w() { return s_->w; }

   private:
    friend class EventLog;
    struct State {
      State() : w(&text) {}
      std::string text;
      JsonWriter w;  // writes into text; State never moves, so the pointer stays valid
    };
    Line() : s_(std::make_unique<State>()) {}
    std::unique_ptr<State> s_;
  };

  Line Begin(std::string_view event, std::string_view level = "info") const;
  // Closes the object and writes the line. Thread-safe.
  void Emit(Line& line) const;
  // One-shot message line: {"event":"log","level":..,"msg":..}.
  void Message(std::string_view level, std::string_view msg) const;
  bool enabled() const { return fd_ >= 0; }

 private:
  int fd_;
  const Clock* clock_;
};

}  // namespace modelfn

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
      JsonWriter w;         // writes into text; State never moves, so the pointer stays valid
      bool urgent = false;  // level other than info/debug: written at once, even in a LogBatch
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

// Gathers the lines EventLogs emit on the calling thread while it is alive, and writes them when
// Flush() is called or it ends: whole lines, one write(2) per descriptor, in the order they were
// emitted. A line of a level other than info/debug flushes what is gathered and goes out at once;
// so does a batch that reaches 64 KiB. An event loop holds one and flushes it before each wait, so
// a turn's access lines cost one write instead of one each. One per thread at a time (a nested one
// is inert); not movable.
class LogBatch {
 public:
  LogBatch();
  ~LogBatch();
  LogBatch(const LogBatch&) = delete;
  LogBatch& operator=(const LogBatch&) = delete;
  void Flush();

 private:
  bool active_ = false;  // false when another batch was already open on this thread
};

// The request this thread is working on, for lines written by code that does not know it (ONNX
// Runtime's messages during a Run): set for the scope of a request by the handler core.
struct RequestLogContext {
  static const std::string* request_id();
  static const std::string* trace_id();
};
class RequestLogScope {
 public:
  RequestLogScope(const std::string* request_id, const std::string* trace_id);
  ~RequestLogScope();
  RequestLogScope(const RequestLogScope&) = delete;
  RequestLogScope& operator=(const RequestLogScope&) = delete;

 private:
  const std::string* prev_request_;
  const std::string* prev_trace_;
};

}  // namespace modelfn

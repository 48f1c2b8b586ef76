#include "events/async_dispatcher.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "common/base64.h"
#include "common/json.h"

namespace modelfn::events {
namespace {

constexpr int64_t kMs = 1'000'000;

bool JsonType(const std::string& ct) {
  std::string t = ct.substr(0, ct.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t == "application/json" || t == "application/problem+json" ||
         (t.size() > 5 && t.compare(t.size() - 5, 5, "+json") == 0);
}

// A body as JSON when it is JSON, else base64 beside a flag.
void WriteBody(JsonWriter& w, const std::string& content_type, const std::string& body) {
  if (JsonType(content_type)) {
    auto parsed = Json::Parse(body);
    if (parsed.ok()) {
      w.Key("body").Value(*parsed);
      return;
    }
  }
  w.Key("body_base64").String(Base64Encode(body));
}

std::string Time(int64_t ms) { return FormatRfc3339(ms * kMs); }

}  // namespace

int64_t RetryDelayMs(const AsyncPolicy& p, int retry) {
  int64_t d = std::max<int64_t>(1, p.retry_base_ms);
  for (int i = 1; i < retry && d < p.retry_cap_ms; ++i) d *= 2;
  return std::min(d, std::max<int64_t>(1, p.retry_cap_ms));
}

bool Retryable(int status) { return status == 408 || status == 429 || status >= 500; }

std::string DestinationRecord(const AsyncRecord& r, bool succeeded) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("id").String(r.id).Key("function").String(r.request.function);
  w.Key("status").String(succeeded ? "succeeded" : "failed").Key("attempts").Int(r.attempts);
  w.Key("created_at").String(Time(r.created_ms)).Key("ended_at").String(Time(r.updated_ms));
  w.Key("request_id").String(r.request.request_id);
  w.Key("request").BeginObject().Key("method").String(r.request.method);
  w.Key("path").String(r.request.path).Key("content_type").String(r.request.content_type);
  WriteBody(w, r.request.content_type, r.request.body);
  w.EndObject();
  w.Key(succeeded ? "response" : "error").BeginObject();
  w.Key("status").Int(r.result.status);
  if (!r.result.code.empty()) w.Key("code").String(r.result.code);
  if (!r.result.detail.empty()) w.Key("detail").String(r.result.detail);
  if (!r.result.content_type.empty()) w.Key("content_type").String(r.result.content_type);
  if (!r.result.body.empty()) WriteBody(w, r.result.content_type, r.result.body);
  w.EndObject().EndObject();
  return out;
}

std::string StatusJson(const AsyncRecord& r) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("id").String(r.id).Key("function").String(r.request.function);
  w.Key("status").String(AsyncStateName(r.state)).Key("attempts").Int(r.attempts);
  w.Key("created_at").String(Time(r.created_ms)).Key("updated_at").String(Time(r.updated_ms));
  if (r.state == AsyncState::kQueued) w.Key("next_attempt_at").String(Time(r.next_at_ms));
  w.Key("request_id").String(r.request.request_id);
  if (r.result.status != 0) {
    w.Key(r.state == AsyncState::kFailed ? "error" : "response").BeginObject();
    w.Key("status").Int(r.result.status);
    if (!r.result.code.empty()) w.Key("code").String(r.result.code);
    if (!r.result.detail.empty()) w.Key("detail").String(r.result.detail);
    if (!r.result.content_type.empty()) w.Key("content_type").String(r.result.content_type);
    if (!r.result.body.empty()) WriteBody(w, r.result.content_type, r.result.body);
    w.EndObject();
  }
  w.EndObject();
  return out;
}

AsyncDispatcher::AsyncDispatcher(
    AsyncStore* store, const Clock* clock, DestinationWriter* destinations,
    std::function<void(const std::string& level, const std::string& message)> log)
    : store_(store),
      clock_(clock),
      destinations_(destinations),
      log_(std::move(log)),
      rng_(std::random_device{}()) {}

AsyncDispatcher::~AsyncDispatcher() { Stop(); }

void AsyncDispatcher::Log(const std::string& level, const std::string& message) {
  if (log_) log_(level, message);
}

void AsyncDispatcher::AddFunction(const std::string& name, AsyncPolicy policy, AsyncSendFn send) {
  std::lock_guard<std::mutex> lock(mu_);
  Fn& fn = fns_[name];
  fn.policy = std::move(policy);
  fn.send = std::move(send);
}

void AsyncDispatcher::Pump() {
  ProcessAnswers();
  struct Send {
    AsyncSendFn send;
    AsyncRecord record;
  };
  std::vector<Send> sends;
  std::vector<std::pair<std::string, AsyncRecord>> too_old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now_ms = clock_->WallNanos() / kMs;
    if (stop_ || now_ms < backoff_until_ms_) return;
    for (auto& [name, fn] : fns_) {
      int room = fn.policy.max_in_flight - fn.in_flight;
      if (room <= 0) continue;
      auto claimed = store_->Claim(name, static_cast<size_t>(room));
      if (!claimed.ok()) {
        // A disk error: logged once a second at most, not in a loop.
        Log("error", "async queue: " + claimed.status().message());
        backoff_until_ms_ = now_ms + 1000;
        break;
      }
      for (AsyncRecord& r : *claimed) {
        if (now_ms - r.created_ms > fn.policy.max_age_ms) {
          too_old.emplace_back(name, std::move(r));
          continue;
        }
        ++fn.in_flight;
        ++fn.counters.sent;
        sends.push_back(Send{fn.send, std::move(r)});
      }
    }
  }
  for (auto& [name, r] : too_old) {
    AsyncResult res = r.result;
    res.code = "event_too_old";
    res.detail = "not done within the function's max_age_s";
    if (res.status == 0) res.status = 504;
    std::string dest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Fn& fn = fns_.at(name);
      ++fn.counters.too_old;
      dest = fn.policy.on_failure;
    }
    End(name, std::move(r), false, res, dest);
  }
  for (Send& s : sends) {
    ForwardRequest req;
    req.method = s.record.request.method;
    req.path = s.record.request.path;
    req.query = s.record.request.query;
    req.body = s.record.request.body;
    req.content_type = s.record.request.content_type;
    req.headers = s.record.request.headers;
    req.request_id = s.record.request.request_id;
    req.raw_event = req.path == kLambdaInvokePath;
    req.arrived_ns = clock_->MonotonicNanos();
    std::string function = s.record.request.function;
    s.send(std::move(req), [this, function, record = std::move(s.record)](ForwardReply reply) {
      OnAnswer(function, record, std::move(reply));
    });
  }
}

void AsyncDispatcher::OnAnswer(const std::string& function, AsyncRecord record,
                               ForwardReply reply) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopped_) {
    // No thread records answers any more: the caller does (only during the shutdown).
    lock.unlock();
    Record(Answer{function, std::move(record), std::move(reply)});
    return;
  }
  answers_.push_back(Answer{function, std::move(record), std::move(reply)});
  notified_ = true;
  cv_.notify_all();
}

void AsyncDispatcher::ProcessAnswers() {
  for (;;) {
    Answer a;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (answers_.empty()) return;
      a = std::move(answers_.front());
      answers_.pop_front();
    }
    Record(std::move(a));
  }
}

void AsyncDispatcher::Record(Answer a) {
  const std::string& function = a.function;
  AsyncRecord& record = a.record;
  ForwardReply& reply = a.reply;
  AsyncResult res;
  res.status = reply.status;
  res.content_type = reply.content_type;
  res.body = std::move(reply.body);
  // The Invoke API reports a function's error in a 200 with X-Amz-Function-Error: a failure,
  // retried as Lambda retries function errors.
  const bool function_error = IsFunctionError(reply);
  const bool ok = reply.status >= 200 && reply.status < 300 && !function_error;
  if (function_error) res.code = "function_error";
  if (!ok) {
    res.code = reply.code;
    if (res.code.empty() && JsonType(res.content_type)) {
      if (auto p = Json::Parse(res.body); p.ok()) {
        if (const Json* c = p->Find("code"); c && c->is_string()) res.code = c->AsString();
      }
    }
    if (res.code.empty()) res.code = "function_error";
  }
  std::string dest;
  enum { kEnd, kRetry, kRelease } what = kEnd;
  int64_t next_at_ms = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Fn& fn = fns_.at(function);
    --fn.in_flight;
    const int64_t now_ms = clock_->WallNanos() / kMs;
    const int retries_done = record.attempts - 1;
    if (stop_ && !ok) {
      // The platform's own shutdown refused or cut the send short: not the invocation's fault.
      what = kRelease;
    } else if (!ok && (function_error || Retryable(res.status)) &&
               (retries_done < fn.policy.max_retries || record.request.retry_until_max_age)) {
      int64_t delay = RetryDelayMs(fn.policy, retries_done + 1);
      delay = delay / 2 + static_cast<int64_t>(rng_() % static_cast<uint64_t>(delay / 2 + 1));
      if (now_ms + delay - record.created_ms <= fn.policy.max_age_ms) {
        what = kRetry;
        next_at_ms = now_ms + delay;
        ++fn.counters.retried;
      }
    }
    if (what == kEnd && !ok && (function_error || Retryable(res.status)) &&
        (retries_done < fn.policy.max_retries || record.request.retry_until_max_age)) {
      // A retry was due, but would come after max_age_s.
      ++fn.counters.too_old;
      res.detail = "the retry would come after max_age_s (last: " +
                   (res.code.empty() ? std::to_string(res.status) : res.code) + ")";
      res.code = "event_too_old";
    }
    dest = ok ? fn.policy.on_success : fn.policy.on_failure;
  }
  if (what == kRelease || what == kRetry) {
    Status s =
        what == kRelease ? store_->Release(record.id) : store_->Retry(record.id, next_at_ms, res);
    if (!s.ok()) Log("error", "async queue: " + s.message());
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
    cv_.notify_all();
    return;
  }
  End(function, std::move(record), ok, res, dest);
  std::lock_guard<std::mutex> lock(mu_);
  notified_ = true;
  cv_.notify_all();
}

void AsyncDispatcher::End(const std::string& function, AsyncRecord record, bool succeeded,
                          const AsyncResult& result, const std::string& dest) {
  record.state = succeeded ? AsyncState::kSucceeded : AsyncState::kFailed;
  record.result = result;
  record.updated_ms = clock_->WallNanos() / kMs;
  // The destination's record first, the queue's state after: a crash between the two runs the
  // invocation again (a second, identical record under the same name) instead of leaving an
  // ended invocation without its record.
  bool dest_error = false;
  if (!dest.empty() && destinations_ != nullptr) {
    if (Status s =
            destinations_->Write(dest, record.id + ".json", DestinationRecord(record, succeeded));
        !s.ok()) {
      dest_error = true;
      Log("error", "async destination " + dest + ": " + s.message());
    }
  }
  Status finished = store_->Finish(record.id, succeeded, result);
  if (!finished.ok()) Log("error", "async queue: " + finished.message());
  std::lock_guard<std::mutex> lock(mu_);
  Fn& fn = fns_.at(function);
  if (dest_error) ++fn.counters.destination_errors;
  if (finished.ok()) ++(succeeded ? fn.counters.succeeded : fn.counters.failed);
}

uint64_t AsyncDispatcher::PruneEnded() {
  auto pruned = store_->Prune(clock_->WallNanos() / kMs - retention_ms_);
  if (!pruned.ok()) {
    Log("error", "async queue: " + pruned.status().message());
    return 0;
  }
  return *pruned;
}

size_t AsyncDispatcher::FailUnknownFunctions() {
  auto counts = store_->CountByFunction();
  if (!counts.ok()) return 0;
  size_t failed = 0;
  for (const auto& [name, c] : *counts) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (fns_.count(name) || c.queued == 0) continue;
    }
    auto claimed = store_->Claim(name, c.queued);
    if (!claimed.ok()) continue;
    for (const AsyncRecord& r : *claimed) {
      AsyncResult res;
      res.status = 404;
      res.code = "function_not_configured";
      res.detail = "function " + name + " is not in the configuration any more";
      failed += store_->Finish(r.id, false, res).ok() ? 1 : 0;
    }
  }
  if (failed > 0) {
    Log("warn", "failed " + std::to_string(failed) +
                    " queued asynchronous invocation(s) of functions no longer configured");
  }
  return failed;
}

void AsyncDispatcher::Start() {
  FailUnknownFunctions();
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  stopped_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> held(mu_);
    while (!stop_) {
      held.unlock();
      Pump();
      if (const int64_t t = clock_->WallNanos() / kMs; t >= next_prune_ms_) {
        PruneEnded();
        next_prune_ms_ = t + 60'000;
      }
      // The next one due among the functions with room to send: a function at max_in_flight
      // waits for an answer, which notifies.
      std::vector<std::string> with_room;
      {
        std::lock_guard<std::mutex> fns_lock(mu_);
        for (const auto& [name, fn] : fns_) {
          if (fn.in_flight < fn.policy.max_in_flight) with_room.push_back(name);
        }
      }
      std::optional<int64_t> due;
      for (const std::string& name : with_room) {
        auto d = store_->NextDueOf(name);
        if (d.ok() && d->has_value() && (!due || **d < *due)) due = **d;
      }
      held.lock();
      if (stop_) break;
      if (notified_) {
        notified_ = false;
        continue;
      }
      // Until the next invocation is due (at most a second: the injected clock may move on its
      // own), or a submission or an answer notifies; after a database error, a second.
      const int64_t now_ms = clock_->WallNanos() / kMs;
      int64_t wait_ms = 1000;
      if (due) wait_ms = std::clamp<int64_t>(*due - now_ms, 0, 1000);
      if (now_ms < backoff_until_ms_)
        wait_ms = std::max<int64_t>(wait_ms, backoff_until_ms_ - now_ms);
      if (wait_ms > 0) {
        cv_.wait_for(held, std::chrono::milliseconds(wait_ms),
                     [this] { return stop_ || notified_; });
      }
      notified_ = false;
    }
  });
}

void AsyncDispatcher::Notify() {
  std::lock_guard<std::mutex> lock(mu_);
  notified_ = true;
  cv_.notify_all();
}

void AsyncDispatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  {
    // From now on an answer is recorded by whoever brings it; then the ones already queued.
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  ProcessAnswers();
}

std::map<std::string, AsyncDispatcher::Counters> AsyncDispatcher::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, Counters> out;
  for (const auto& [name, fn] : fns_) out[name] = fn.counters;
  return out;
}

}  // namespace modelfn::events

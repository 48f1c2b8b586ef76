#include "events/sqs_source.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>

#include "common/json.h"
#include "faces/sample_events.h"

namespace modelfn::events {

SqsSource::SqsSource(std::string function, SqsSourceConfig config,
                     std::unique_ptr<SqsClient> client, AsyncSendFn send, const Clock* clock,
                     std::function<void(const std::string&, const std::string&)> log)
    : function_(std::move(function)),
      config_(std::move(config)),
      client_(std::move(client)),
      send_(std::move(send)),
      clock_(clock),
      log_(std::move(log)) {}

SqsSource::~SqsSource() { Stop(); }

void SqsSource::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void SqsSource::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

SqsSource::Counters SqsSource::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

std::vector<size_t> SqsSource::Handled(const std::vector<SqsMessage>& batch,
                                       const ForwardReply& reply) {
  std::vector<size_t> out;
  if (reply.status != 200 || IsFunctionError(reply)) return out;
  std::set<std::string> failed;
  if (auto doc = Json::Parse(reply.body); doc.ok() && doc->is_object()) {
    if (const Json* f = doc->Find("batchItemFailures"); f && f->is_array()) {
      for (const Json& item : f->AsArray()) {
        const Json* id = item.is_object() ? item.Find("itemIdentifier") : nullptr;
        // An entry without a usable id fails the whole batch, as Lambda treats it.
        if (id == nullptr || !id->is_string() || id->AsString().empty()) return {};
        failed.insert(id->AsString());
      }
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!failed.count(batch[i].message_id)) out.push_back(i);
  }
  return out;
}

void SqsSource::Loop() {
  using Steady = std::chrono::steady_clock;
  int backoff_ms = 0;
  while (!stop_) {
    if (backoff_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      if (stop_) break;
    }
    // The first receive waits up to a second for a message (short, so Stop is prompt); then the
    // batch fills while the window lasts.
    std::vector<SqsMessage> batch;
    auto window_end = Steady::now();
    bool error = false;
    while (!stop_ && static_cast<int>(batch.size()) < config_.batch_size) {
      const bool first = batch.empty();
      int want = std::min(10, config_.batch_size - static_cast<int>(batch.size()));
      auto got = client_->Receive(want, first ? 1 : 0, config_.visibility_timeout_s);
      if (!got.ok()) {
        error = true;
        std::lock_guard<std::mutex> lock(mu_);
        ++counters_.receive_errors;
        if (log_) log_("warn", "sqs source of " + function_ + ": " + got.status().message());
        break;
      }
      if (got->empty()) {
        if (first || Steady::now() >= window_end) break;
        continue;
      }
      if (first) {
        window_end = Steady::now() + std::chrono::milliseconds(
                                         static_cast<int64_t>(config_.batching_window_s * 1000));
      }
      for (SqsMessage& m : *got) batch.push_back(std::move(m));
      if (Steady::now() >= window_end) break;
    }
    backoff_ms = error ? std::min(std::max(backoff_ms * 2, 200), 5000) : 0;
    if (batch.empty()) continue;
    std::vector<sample_events::SqsMessage> event_messages;
    for (const SqsMessage& m : batch) {
      sample_events::SqsMessage e;
      e.body = m.body;
      e.message_id = m.message_id;
      e.receipt_handle = m.receipt_handle;
      e.md5_of_body = m.md5_of_body;
      for (const auto& [k, v] : m.attributes) e.attributes.emplace_back(k, v);
      event_messages.push_back(std::move(e));
    }
    ForwardRequest req;
    req.method = "POST";
    req.path = kLambdaInvokePath;
    req.raw_event = true;
    req.content_type = "application/json";
    req.body = sample_events::SqsEvent(event_messages, client_->QueueArn(),
                                       clock_->WallNanos() / 1'000'000);
    req.request_id = "sqs-" + batch.front().message_id;
    req.arrived_ns = clock_->MonotonicNanos();
    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;
    ForwardReply reply;
    send_(std::move(req), [&](ForwardReply r) {
      std::lock_guard<std::mutex> lock(done_mu);
      reply = std::move(r);
      done = true;
      done_cv.notify_all();
    });
    {
      std::unique_lock<std::mutex> lock(done_mu);
      done_cv.wait(lock, [&] { return done; });
    }
    std::vector<size_t> handled = Handled(batch, reply);
    std::vector<SqsMessage> to_delete;
    for (size_t i : handled) to_delete.push_back(batch[i]);
    uint64_t deleted = 0;
    if (!to_delete.empty()) {
      auto failed = client_->Delete(to_delete);
      if (!failed.ok()) {
        if (log_) log_("warn", "sqs source of " + function_ + ": " + failed.status().message());
      } else {
        deleted = to_delete.size() - failed->size();
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    counters_.received += batch.size();
    ++counters_.batches;
    counters_.deleted += deleted;
    counters_.returned += batch.size() - deleted;
  }
}

}  // namespace modelfn::events

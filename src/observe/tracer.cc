#include "observe/tracer.h"

#include <chrono>
#include <cstring>

#include "common/build_info.h"
#include "common/json.h"

namespace modelfn::observe {
namespace {

template <size_t N>
std::string Hex(const std::array<uint8_t, N>& a) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t b : a) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

template <size_t N>
bool Zero(const std::array<uint8_t, N>& a) {
  for (uint8_t b : a) {
    if (b) return false;
  }
  return true;
}

void Attribute(JsonWriter& w, const std::string& key, const AttrValue& v) {
  w.BeginObject().Key("key").String(key).Key("value").BeginObject();
  if (const auto* s = std::get_if<std::string>(&v)) {
    w.Key("stringValue").String(*s);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    w.Key("intValue").String(std::to_string(*i));  // int64 as a string, as OTLP JSON has it
  } else if (const auto* d = std::get_if<double>(&v)) {
    w.Key("doubleValue").Double(*d);
  } else {
    w.Key("boolValue").Bool(std::get<bool>(v));
  }
  w.EndObject().EndObject();
}

// Whether a trace this process starts is sampled: by its id, so every process decides alike.
bool SampledById(const std::array<uint8_t, 16>& id, double ratio) {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  uint64_t v;
  memcpy(&v, id.data() + 8, 8);
  return static_cast<double>(v) < ratio * 18446744073709551616.0;
}

}  // namespace

TracerConfig TracerConfig::FromEnv(
    const std::function<std::optional<std::string>(const std::string&)>& env,
    const std::string& service_name) {
  TracerConfig c;
  auto get = [&](const char* k) {
    auto v = env(k);
    return v && !v->empty() ? *v : std::string();
  };
  std::string base = get("MODELFN_OTLP_ENDPOINT");
  if (base.empty()) base = get("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (std::string full = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); !full.empty()) {
    c.endpoint = full;
  } else if (!base.empty()) {
    while (!base.empty() && base.back() == '/') base.pop_back();
    c.endpoint = base + "/v1/traces";
  }
  std::string ratio = get("MODELFN_TRACE_SAMPLE");
  if (ratio.empty()) ratio = get("OTEL_TRACES_SAMPLER_ARG");
  if (!ratio.empty()) {
    char* end = nullptr;
    double r = strtod(ratio.c_str(), &end);
    if (end && *end == '\0' && r >= 0 && r <= 1) c.sample_ratio = r;
  }
  std::string name = get("OTEL_SERVICE_NAME");
  c.resource.emplace_back("service.name", name.empty() ? service_name : name);
  c.resource.emplace_back("service.version", GetBuildInfo().version);
  return c;
}

std::string OtlpJson(const std::vector<Span>& spans,
                     const std::vector<std::pair<std::string, std::string>>& resource) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("resourceSpans").BeginArray().BeginObject();
  w.Key("resource").BeginObject().Key("attributes").BeginArray();
  for (const auto& [k, v] : resource) Attribute(w, k, AttrValue(v));
  w.EndArray().EndObject();
  w.Key("scopeSpans").BeginArray().BeginObject();
  w.Key("scope").BeginObject().Key("name").String("modelfn");
  w.Key("version").String(GetBuildInfo().version).EndObject();
  w.Key("spans").BeginArray();
  for (const Span& s : spans) {
    w.BeginObject().Key("traceId").String(Hex(s.trace_id)).Key("spanId").String(Hex(s.span_id));
    if (!Zero(s.parent_span_id)) w.Key("parentSpanId").String(Hex(s.parent_span_id));
    w.Key("name").String(s.name).Key("kind").Int(static_cast<int>(s.kind));
    w.Key("startTimeUnixNano").String(std::to_string(s.start_unix_ns));
    w.Key("endTimeUnixNano").String(std::to_string(s.end_unix_ns));
    w.Key("attributes").BeginArray();
    for (const auto& [k, v] : s.attributes) Attribute(w, k, v);
    w.EndArray();
    w.Key("status").BeginObject().Key("code").Int(s.error ? 2 : 0);
    if (!s.status_message.empty()) w.Key("message").String(s.status_message);
    w.EndObject().EndObject();
  }
  w.EndArray().EndObject().EndArray().EndObject().EndArray().EndObject();
  return out;
}

Tracer::Tracer(TracerConfig config, std::unique_ptr<HttpClient> http, const Clock* clock)
    : config_(std::move(config)),
      enabled_(!config_.endpoint.empty() && http != nullptr),
      http_(std::move(http)),
      clock_(clock),
      rng_(std::random_device{}() ^ static_cast<uint64_t>(clock->WallNanos())) {
  if (enabled_) thread_ = std::thread([this] { Run(); });
}

Tracer::~Tracer() {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  thread_.join();
}

Tracer::Begun Tracer::Begin(const std::optional<TraceContext>& received) {
  Begun b;
  std::lock_guard<std::mutex> lock(mu_);
  if (received) {
    b.ctx = *received;
    b.parent = received->span_id;
  } else {
    b.ctx.trace_id = NewTraceId(rng_, clock_->WallNanos() / 1'000'000'000);
    b.ctx.sampled = enabled_ && SampledById(b.ctx.trace_id, config_.sample_ratio);
  }
  b.ctx.span_id = observe::NewSpanId(rng_);
  if (!enabled_) b.ctx.sampled = received && received->sampled;  // passed on, not recorded
  return b;
}

std::array<uint8_t, 8> Tracer::NewSpanId() {
  std::lock_guard<std::mutex> lock(mu_);
  return observe::NewSpanId(rng_);
}

void Tracer::Record(Span span) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.size() >= config_.max_queue) {
    ++counters_.dropped;
    return;
  }
  queue_.push_back(std::move(span));
  if (queue_.size() >= config_.max_batch) cv_.notify_all();
}

void Tracer::Flush() {
  if (!enabled_) return;
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t want = ++flush_requested_;
  cv_.notify_all();
  flushed_.wait_for(lock, std::chrono::seconds(10), [&] { return flush_done_ >= want; });
}

Tracer::Counters Tracer::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

bool Tracer::SendBatch(std::vector<Span> batch) {
  std::string body = OtlpJson(batch, config_.resource);
  HttpCall call;
  call.method = "POST";
  call.url = config_.endpoint;
  call.headers = {{"Content-Type", "application/json"}};
  call.body = body;
  call.connect_timeout_ms = 2000;
  call.stall_timeout_s = 5;
  call.max_response_bytes = 1 << 20;
  auto reply = http_->Send(call);
  return reply.ok() && reply->status >= 200 && reply->status < 300;
}

void Tracer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait_for(lock, std::chrono::milliseconds(config_.flush_ms), [&] {
      return stop_ || queue_.size() >= config_.max_batch || flush_requested_ > flush_done_;
    });
    const uint64_t flush_target = flush_requested_;
    while (!queue_.empty()) {
      std::vector<Span> batch;
      while (!queue_.empty() && batch.size() < config_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      const size_t n = batch.size();
      lock.unlock();
      bool ok = SendBatch(std::move(batch));  // off the lock: requests keep recording
      lock.lock();
      if (ok) {
        counters_.exported += n;
      } else {
        ++counters_.export_errors;
        counters_.dropped += n;
      }
      if (stop_ && !ok) break;  // a collector that is gone does not hold up the exit
    }
    flush_done_ = flush_target;
    flushed_.notify_all();
    if (stop_) return;
  }
}

}  // namespace modelfn::observe

#include "gateway/observe_stage.h"

namespace modelfn::gateway {

Verdict ObserveStage::OnRequest(ExchangePtr& ex, Continuation& next) {
  const std::string* tp = ex->request.Header("traceparent");
  std::optional<observe::TraceContext> received;
  if (tp != nullptr) received = observe::ParseTraceparent(*tp);
  if (received) {
    ex->traceparent_in = *tp;
    if (const std::string* ts = ex->request.Header("tracestate"); ts && ts->size() <= 512) {
      ex->tracestate_in = *ts;
      received->tracestate = *ts;
    }
  }
  if (tracer_ != nullptr && tracer_->enabled()) {
    ex->trace = tracer_->Begin(received);
    ex->traced = ex->trace.ctx.sampled;
    if (ex->traced) ex->forward_span = tracer_->NewSpanId();
  }
  return Verdict::kNext;
}

void ObserveStage::RecordSpans(Exchange& ex) {
  const int64_t now_mono = clock_->MonotonicNanos();
  const int64_t now_wall = clock_->WallNanos();
  auto wall = [&](int64_t mono) { return now_wall - (now_mono - mono); };
  const observe::TraceContext& ctx = ex.trace.ctx;
  auto span = [&](std::string name, const std::array<uint8_t, 8>& id,
                  const std::array<uint8_t, 8>& parent, int64_t start, int64_t end) {
    observe::Span s;
    s.trace_id = ctx.trace_id;
    s.span_id = id;
    s.parent_span_id = parent;
    s.name = std::move(name);
    s.start_unix_ns = start;
    s.end_unix_ns = std::max(start, end);
    return s;
  };
  observe::Span root = span(ex.request.method + " " + ex.request.path, ctx.span_id, ex.trace.parent,
                            wall(ex.arrived_ns), now_wall);
  root.kind = observe::Span::Kind::kServer;
  root.attributes = {{"http.request.method", ex.request.method},
                     {"url.path", ex.request.path},
                     {"http.response.status_code", int64_t{ex.response.status}},
                     {"modelfn.request_id", ex.request_id},
                     {"modelfn.function", ex.function->name}};
  if (!ex.principal.id.empty()) root.attributes.emplace_back("enduser.id", ex.principal.id);
  root.error = ex.response.status >= 500;
  if (ex.forwarded && ex.forward_ns != 0) {
    tracer_->Record(span("gateway stages", tracer_->NewSpanId(), ctx.span_id, wall(ex.arrived_ns),
                         wall(ex.forward_ns)));
    observe::Span fwd =
        span("forward", ex.forward_span, ctx.span_id, wall(ex.forward_ns), now_wall);
    fwd.kind = observe::Span::Kind::kClient;
    fwd.attributes = {{"modelfn.version", ex.reply.version},
                      {"modelfn.instance", ex.reply.instance},
                      {"faas.coldstart", ex.reply.cold_start}};
    fwd.error = !ex.reply.code.empty() && ex.response.status >= 500;
    if (fwd.error) fwd.status_message = ex.reply.code;
    observe::Span wait =
        span("queue wait", tracer_->NewSpanId(), ex.forward_span, wall(ex.forward_ns),
             wall(ex.forward_ns) + static_cast<int64_t>(ex.reply.queue_ms * 1e6));
    wait.attributes = {{"faas.coldstart", ex.reply.cold_start}};
    tracer_->Record(std::move(wait));
    tracer_->Record(std::move(fwd));
  }
  tracer_->Record(std::move(root));
}

void ObserveStage::OnAnswer(Exchange& ex) {
  if (ex.function == nullptr) return;
  if (ex.traced && tracer_ != nullptr) RecordSpans(ex);
  double seconds = static_cast<double>(clock_->MonotonicNanos() - ex.arrived_ns) / 1e9;
  const double wall_s = static_cast<double>(clock_->WallNanos()) / 1e9;
  static const std::string kNoVersion;
  metrics_->Record(ex.function->name, ex.forwarded ? ex.reply.version : kNoVersion, ex.route,
                   ex.response.status, seconds,
                   ex.traced ? ex.trace.ctx.TraceIdHex() : std::string(), wall_s);
  if (!ex.forwarded) return;
  if (traffic_ != nullptr) traffic_->Record(ex.function->name, wall_s - seconds);
  if (access_log_ == nullptr) return;
  EventLog::Line line = access_log_->Begin("access");
  JsonWriter& w = line.w();
  w.Key("request_id").String(ex.request_id);
  if (ex.traced) {
    w.Key("trace_id").String(ex.trace.ctx.TraceIdHex());
  } else if (!ex.traceparent_in.empty()) {
    w.Key("trace_id").String(ex.traceparent_in.substr(3, 32));
  }
  w.Key("method").String(ex.request.method);
  w.Key("path").String(ex.request.path);
  w.Key("function").String(ex.function->name);
  w.Key("version").String(ex.reply.version);
  w.Key("status").Int(ex.response.status);
  if (!ex.reply.code.empty()) w.Key("code").String(ex.reply.code);
  w.Key("ms").Double(seconds * 1e3);
  w.Key("queue_ms").Double(ex.reply.queue_ms);
  w.Key("instance").String(ex.reply.instance);
  w.Key("cold_start").Bool(ex.reply.cold_start);
  if (!ex.principal.id.empty()) w.Key("principal").String(ex.principal.id);
  access_log_->Emit(line);
}

}  // namespace modelfn::gateway

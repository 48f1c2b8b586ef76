#include "gateway/observe_stage.h"

namespace modelfn::gateway {

void ObserveStage::OnAnswer(Exchange& ex) {
  if (ex.function == nullptr) return;
  double seconds = static_cast<double>(clock_->MonotonicNanos() - ex.arrived_ns) / 1e9;
  static const std::string kNoVersion;
  metrics_->Record(ex.function->name, ex.forwarded ? ex.reply.version : kNoVersion, ex.route,
                   ex.response.status, seconds);
  if (!ex.forwarded || access_log_ == nullptr) return;
  EventLog::Line line = access_log_->Begin("access");
  JsonWriter& w = line.w();
  w.Key("request_id").String(ex.request_id);
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

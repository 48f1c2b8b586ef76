#include "observe/tracer.h"

#include <gtest/gtest.h>

#include <map>

#include "common/json.h"
#include "store/fake_http_client.h"

namespace modelfn::observe {
namespace {

TracerConfig Config(double ratio = 1.0) {
  TracerConfig c;
  c.endpoint = "http://collector:4318/v1/traces";
  c.sample_ratio = ratio;
  c.resource = {{"service.name", "digits"}};
  return c;
}

Span SpanOf(const Tracer::Begun& b, const std::string& name) {
  Span s;
  s.trace_id = b.ctx.trace_id;
  s.span_id = b.ctx.span_id;
  s.parent_span_id = b.parent;
  s.name = name;
  s.kind = Span::Kind::kServer;
  s.start_unix_ns = 1'000;
  s.end_unix_ns = 5'000;
  s.attributes = {{"http.route", std::string("/v1/infer")},
                  {"batch.size", int64_t{4}},
                  {"ratio", 0.5},
                  {"cold_start", true}};
  return s;
}

TEST(TracerTest, SampledSpansAreSentAsOtlpJson) {
  FakeClock clock(1'700'000'000'000'000'000);
  auto http = std::make_unique<FakeHttpClient>();
  FakeHttpClient* fake = http.get();
  fake->Reply(200, "{}");
  Tracer t(Config(), std::move(http), &clock);
  auto received = ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  Tracer::Begun b = t.Begin(received);
  EXPECT_EQ(b.ctx.TraceIdHex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_NE(b.ctx.SpanIdHex(), "b7ad6b7169203331");  // ours, a child of the received span
  EXPECT_TRUE(b.ctx.sampled);
  Span s = SpanOf(b, "POST /v1/infer");
  s.error = true;
  s.status_message = "model_error";
  t.Record(s);
  t.Flush();
  ASSERT_EQ(fake->calls.size(), 1u);
  EXPECT_EQ(fake->calls[0].url, "http://collector:4318/v1/traces");
  EXPECT_EQ(fake->calls[0].Header("Content-Type"), "application/json");
  auto doc = Json::Parse(fake->calls[0].body);
  ASSERT_TRUE(doc.ok());
  const Json& rs = doc->Find("resourceSpans")->AsArray()[0];
  EXPECT_EQ(rs.Find("resource")
                ->Find("attributes")
                ->AsArray()[0]
                .Find("value")
                ->Find("stringValue")
                ->AsString(),
            "digits");
  const Json& span = rs.Find("scopeSpans")->AsArray()[0].Find("spans")->AsArray()[0];
  EXPECT_EQ(span.Find("traceId")->AsString(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(span.Find("parentSpanId")->AsString(), "b7ad6b7169203331");
  EXPECT_EQ(span.Find("kind")->AsInt64(), 2);
  EXPECT_EQ(span.Find("startTimeUnixNano")->AsString(), "1000");
  EXPECT_EQ(span.Find("status")->Find("code")->AsInt64(), 2);
  const Json& attrs = *span.Find("attributes");
  EXPECT_EQ(attrs.AsArray()[1].Find("value")->Find("intValue")->AsString(), "4");
  EXPECT_EQ(attrs.AsArray()[2].Find("value")->Find("doubleValue")->AsDouble(), 0.5);
  EXPECT_TRUE(attrs.AsArray()[3].Find("value")->Find("boolValue")->AsBool());
  EXPECT_EQ(t.counters().exported, 1u);
}

TEST(TracerTest, SamplingFollowsTheParentElseTheRatio) {
  FakeClock clock(1'700'000'000'000'000'000);
  Tracer all(Config(1.0), std::make_unique<FakeHttpClient>(), &clock);
  Tracer none(Config(0.0), std::make_unique<FakeHttpClient>(), &clock);
  auto unsampled = ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
  auto sampled = ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_TRUE(all.Begin(std::nullopt).ctx.sampled);
  EXPECT_FALSE(none.Begin(std::nullopt).ctx.sampled);
  EXPECT_FALSE(all.Begin(unsampled).ctx.sampled);
  EXPECT_TRUE(none.Begin(sampled).ctx.sampled);  // the caller's decision holds
  // About a tenth at 0.1, decided by the trace id.
  Tracer tenth(Config(0.1), std::make_unique<FakeHttpClient>(), &clock);
  int n = 0;
  for (int i = 0; i < 10000; ++i) n += tenth.Begin(std::nullopt).ctx.sampled;
  EXPECT_GT(n, 800);
  EXPECT_LT(n, 1200);
  // A new root's id starts with the time, as X-Ray wants.
  EXPECT_EQ(all.Begin(std::nullopt).ctx.TraceIdHex().substr(0, 8), "6553f100");
}

TEST(TracerTest, OffItRecordsNothingAndPassesTheContextOn) {
  FakeClock clock;
  Tracer off(TracerConfig(), nullptr, &clock);
  EXPECT_FALSE(off.enabled());
  auto sampled = ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  Tracer::Begun b = off.Begin(sampled);
  EXPECT_TRUE(b.ctx.sampled);  // passed on to the next hop, which may be tracing
  EXPECT_EQ(b.ctx.TraceIdHex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_FALSE(off.Begin(std::nullopt).ctx.sampled);
  off.Record(Span());
  off.Flush();
  EXPECT_EQ(off.counters().exported, 0u);
}

TEST(TracerTest, AFullQueueDropsAndACollectorThatFailsIsCounted) {
  FakeClock clock;
  auto http = std::make_unique<FakeHttpClient>();
  FakeHttpClient* fake = http.get();
  fake->Reply(503, "busy");
  TracerConfig c = Config();
  c.max_queue = 2;
  c.flush_ms = 60000;
  Tracer t(c, std::move(http), &clock);
  Tracer::Begun b = t.Begin(std::nullopt);
  for (int i = 0; i < 5; ++i) t.Record(SpanOf(b, "s"));
  t.Flush();
  Tracer::Counters k = t.counters();
  EXPECT_EQ(k.exported, 0u);
  EXPECT_EQ(k.export_errors, 1u);
  EXPECT_EQ(k.dropped, 3u + 2u);  // three over the queue, two the collector refused
}

TEST(TracerConfigTest, TheEndpointAndRatioComeFromTheEnvironment) {
  auto env = [](std::map<std::string, std::string> m) {
    return [m](const std::string& k) -> std::optional<std::string> {
      auto it = m.find(k);
      if (it == m.end()) return std::nullopt;
      return it->second;
    };
  };
  EXPECT_EQ(TracerConfig::FromEnv(env({}), "x").endpoint, "");
  EXPECT_EQ(
      TracerConfig::FromEnv(env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"}}), "x").endpoint,
      "http://c:4318/v1/traces");
  auto c = TracerConfig::FromEnv(env({{"MODELFN_OTLP_ENDPOINT", "http://m:4318"},
                                      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/v1/traces"},
                                      {"MODELFN_TRACE_SAMPLE", "0.25"},
                                      {"OTEL_SERVICE_NAME", "svc"}}),
                                 "x");
  EXPECT_EQ(c.endpoint, "http://t/v1/traces");
  EXPECT_EQ(c.sample_ratio, 0.25);
  EXPECT_EQ(c.resource[0].second, "svc");
  EXPECT_EQ(TracerConfig::FromEnv(env({{"MODELFN_TRACE_SAMPLE", "2"}}), "x").sample_ratio, 1.0);
}

}  // namespace
}  // namespace modelfn::observe

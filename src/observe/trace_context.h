// Trace context on the wire (docs/api.md "Traces"): W3C Trace Context (`traceparent`,
// `tracestate`) on every HTTP face and through the gateway, and AWS X-Ray's header
// (`Lambda-Runtime-Trace-Id`, `_X_AMZN_TRACE_ID`: "Root=1-5759e988-bd862e3fe1be46a994272793;
// Parent=53995c3f42cd8ad8;Sampled=1") in Lambda mode, converted both ways: an X-Ray root is the
// W3C trace id's first 8 hex digits (its epoch seconds) and last 24. Pure.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace modelfn::observe {

struct TraceContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};  // the parent's span, for a context received
  bool sampled = false;
  std::string tracestate;  // passed on as received (W3C), at most 512 bytes

  std::string TraceIdHex() const;
  std::string SpanIdHex() const;
};

// A `traceparent` header: "00-<32 hex>-<16 hex>-<2 hex>" (lowercase; a later version's longer
// header is read by its first four fields). nullopt for anything else, all-zero ids, version ff.
std::optional<TraceContext> ParseTraceparent(std::string_view header);
std::string FormatTraceparent(const TraceContext& c);

// An X-Ray trace header (fields in any order, Root required, Parent and Sampled optional;
// Lineage and others ignored). nullopt when Root is not "1-<8 hex>-<24 hex>".
std::optional<TraceContext> ParseXRay(std::string_view header);
std::string FormatXRay(const TraceContext& c);

// Random ids (never all zero). A trace id starts with `unix_seconds` (4 bytes, big-endian), as
// X-Ray's do, so that the same id is valid in both formats.
std::array<uint8_t, 16> NewTraceId(std::mt19937_64& rng, int64_t unix_seconds);
std::array<uint8_t, 8> NewSpanId(std::mt19937_64& rng);

}  // namespace modelfn::observe

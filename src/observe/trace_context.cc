#include "observe/trace_context.h"

#include <cstring>

namespace modelfn::observe {
namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // W3C: lowercase only
}

int HexAnyCase(char c) {
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return Hex(c);
}

template <size_t N>
bool ReadHex(std::string_view s, std::array<uint8_t, N>* out, bool any_case = false) {
  if (s.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    int hi = any_case ? HexAnyCase(s[2 * i]) : Hex(s[2 * i]);
    int lo = any_case ? HexAnyCase(s[2 * i + 1]) : Hex(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

template <size_t N>
std::string ToHex(const std::array<uint8_t, N>& a) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t b : a) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& a) {
  for (uint8_t b : a) {
    if (b != 0) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string TraceContext::TraceIdHex() const { return ToHex(trace_id); }
std::string TraceContext::SpanIdHex() const { return ToHex(span_id); }

std::optional<TraceContext> ParseTraceparent(std::string_view h) {
  h = Trim(h);
  if (h.size() < 55) return std::nullopt;
  std::array<uint8_t, 1> version{}, flags{};
  if (!ReadHex(h.substr(0, 2), &version) || version[0] == 0xff || h[2] != '-') return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may add fields after a '-'.
  if (version[0] == 0 ? h.size() != 55 : (h.size() > 55 && h[55] != '-')) return std::nullopt;
  TraceContext c;
  if (!ReadHex(h.substr(3, 32), &c.trace_id) || h[35] != '-' ||
      !ReadHex(h.substr(36, 16), &c.span_id) || h[52] != '-' || !ReadHex(h.substr(53, 2), &flags))
    return std::nullopt;
  if (AllZero(c.trace_id) || AllZero(c.span_id)) return std::nullopt;
  c.sampled = flags[0] & 1;
  return c;
}

std::string FormatTraceparent(const TraceContext& c) {
  return "00-" + ToHex(c.trace_id) + "-" + ToHex(c.span_id) + (c.sampled ? "-01" : "-00");
}

std::optional<TraceContext> ParseXRay(std::string_view h) {
  TraceContext c;
  bool root = false;
  while (!h.empty()) {
    size_t semi = h.find(';');
    std::string_view field = Trim(h.substr(0, semi));
    h = semi == std::string_view::npos ? std::string_view() : h.substr(semi + 1);
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = field.substr(0, eq), value = field.substr(eq + 1);
    if (key == "Root") {
      // 1-<8 hex epoch>-<24 hex>
      if (value.size() != 35 || value.substr(0, 2) != "1-" || value[10] != '-') return std::nullopt;
      std::array<uint8_t, 4> epoch{};
      std::array<uint8_t, 12> rest{};
      if (!ReadHex(value.substr(2, 8), &epoch, true) || !ReadHex(value.substr(11, 24), &rest, true))
        return std::nullopt;
      memcpy(c.trace_id.data(), epoch.data(), 4);
      memcpy(c.trace_id.data() + 4, rest.data(), 12);
      root = true;
    } else if (key == "Parent") {
      if (!ReadHex(value, &c.span_id, true)) return std::nullopt;
    } else if (key == "Sampled") {
      c.sampled = value == "1";
    }
  }
  if (!root || AllZero(c.trace_id)) return std::nullopt;
  return c;
}

std::string FormatXRay(const TraceContext& c) {
  std::string id = ToHex(c.trace_id);
  std::string out = "Root=1-" + id.substr(0, 8) + "-" + id.substr(8);
  if (!AllZero(c.span_id)) out += ";Parent=" + ToHex(c.span_id);
  return out + (c.sampled ? ";Sampled=1" : ";Sampled=0");
}

std::array<uint8_t, 16> NewTraceId(std::mt19937_64& rng, int64_t unix_seconds) {
  std::array<uint8_t, 16> id{};
  const uint32_t t = static_cast<uint32_t>(unix_seconds);
  for (int i = 0; i < 4; ++i) id[static_cast<size_t>(i)] = static_cast<uint8_t>(t >> (24 - 8 * i));
  do {
    for (size_t i = 4; i < 16; i += 4) {
      uint32_t v = static_cast<uint32_t>(rng());
      memcpy(id.data() + i, &v, 4);
    }
  } while (AllZero(id));
  return id;
}

std::array<uint8_t, 8> NewSpanId(std::mt19937_64& rng) {
  std::array<uint8_t, 8> id{};
  do {
    uint64_t v = rng();
    memcpy(id.data(), &v, 8);
  } while (AllZero(id));
  return id;
}

}  // namespace modelfn::observe

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "common/json.h"

namespace modelfn {

// ---------------------------------------------------------------------------------------------
namespace {

// Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0 when the bytes there
// are not one: a stray continuation byte, an overlong form, a surrogate, a code point above
// U+10FFFF, or a truncated sequence (RFC 3629's table).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto cont = [&](size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  unsigned char c = byte(i);
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    unsigned char c1 = byte(i + 1);
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    unsigned char c1 = byte(i + 1);
    if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
    if (c == 0xF4 && c1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// True when none of the eight bytes at p needs a look of its own: each is printable ASCII other
// than '"' and '\\' (0x20-0x7E). Exact: a false answer only sends the bytes to the slow path.
bool PlainWord(const char* p) {
  constexpr uint64_t k01 = 0x0101010101010101ull, k80 = 0x8080808080808080ull;
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  auto has_zero = [](uint64_t v) { return (v - k01) & ~v & k80; };
  uint64_t special = ((w - k01 * 0x20) & ~w & k80)  // a byte below 0x20
                     | (w & k80)                    // 0x80 and above
                     | has_zero(w ^ (k01 * '"')) | has_zero(w ^ (k01 * '\\')) |
                     has_zero(w ^ (k01 * 0x7F));
  return special == 0;
}

void AppendUnicodeEscape(std::string* out, unsigned code) {
  static const char kHex[] = "0123456789abcdef";
  char e[6] = {
      '\\',           'u', kHex[(code >> 12) & 15], kHex[(code >> 8) & 15], kHex[(code >> 4) & 15],
      kHex[code & 15]};
  out->append(e, sizeof e);
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  size_t run = 0;  // start of the bytes not yet copied
  size_t i = 0;
  while (i < s.size()) {
    while (i + 8 <= s.size() && PlainWord(s.data() + i)) i += 8;  // the common case
    if (i >= s.size()) break;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      size_t n = Utf8SequenceLength(s, i);
      // C1 controls (U+0080-U+009F, C2 80..C2 9F) are escaped like C0 ones: terminals act on them.
      if (n != 0 && !(c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0)) {
        i += n;
        continue;
      }
      out->append(s.data() + run, i - run);
      if (n == 0) {
        AppendUnicodeEscape(out, 0xFFFD);
        i += 1;
      } else {
        AppendUnicodeEscape(out, static_cast<unsigned char>(s[i + 1]));
        i += 2;
      }
      run = i;
      continue;
    }
    out->append(s.data() + run, i - run);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        AppendUnicodeEscape(out, c);
    }
    i += 1;
    run = i;
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

void JsonWriter::Sep() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_->push_back(',');
    first_.back() = false;
  }
}
JsonWriter& JsonWriter::BeginObject() {
  Sep();
  out_->push_back('{');
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::EndObject() {
  out_->push_back('}');
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::BeginArray() {
  Sep();
  out_->push_back('[');
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::EndArray() {
  out_->push_back(']');
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::Key(std::string_view k) {
  Sep();
  AppendJsonString(out_, k);
  out_->push_back(':');
  after_key_ = true;
  return *this;
}
JsonWriter& JsonWriter::String(std::string_view s) {
  Sep();
  AppendJsonString(out_, s);
  return *this;
}
JsonWriter& JsonWriter::Bool(bool b) {
  Sep();
  out_->append(b ? "true" : "false");
  return *this;
}
JsonWriter& JsonWriter::Null() {
  Sep();
  out_->append("null");
  return *this;
}
JsonWriter& JsonWriter::Int(int64_t v) {
  Sep();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
  return *this;
}
JsonWriter& JsonWriter::Uint(uint64_t v) {
  Sep();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
  return *this;
}
// Writes the values the shortest form cannot: non-finite ones (JSON has no NaN/Infinity: null)
// and negative zero ("-0" would read back as the integer 0). True when it wrote v.
static bool AppendSpecialNumber(double v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return true;
  }
  if (v == 0 && std::signbit(v)) {
    out->append("-0.0");
    return true;
  }
  return false;
}

JsonWriter& JsonWriter::Double(double v) {
  Sep();
  if (AppendSpecialNumber(v, out_)) return *this;
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  // The shortest form of a double from 2^64 up to 1e22 can be all digits ("131170777777777780000"):
  // an integer too wide for 64 bits, which strict parsers refuse or turn into a big integer (ours
  // reads it back as a double only through a slower second parse). Such doubles get an exponent.
  if (std::fabs(v) >= 18446744073709551616.0 &&
      std::string_view(buf, static_cast<size_t>(r.ptr - buf)).find_first_of(".e") ==
          std::string_view::npos) {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  }
  out_->append(buf, r.ptr);
  return *this;
}
JsonWriter& JsonWriter::Float(float v) {
  Sep();
  if (AppendSpecialNumber(v, out_)) return *this;
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
  return *this;
}
JsonWriter& JsonWriter::Raw(std::string_view json) {
  Sep();
  out_->append(json);
  return *this;
}
JsonWriter& JsonWriter::Value(const Json& v) {
  switch (v.type()) {
    case Json::Type::kNull:
      return Null();
    case Json::Type::kBool:
      return Bool(v.AsBool());
    case Json::Type::kNumber:
      if (!v.is_integral()) return Double(v.AsDouble());
      if (v.fits_int64()) return Int(v.AsInt64());
      return Uint(v.AsUint64());
    case Json::Type::kString:
      return String(v.AsString());
    case Json::Type::kArray:
      BeginArray();
      for (const Json& e : v.AsArray()) Value(e);
      return EndArray();
    case Json::Type::kObject:
      BeginObject();
      for (const auto& [k, e] : v.AsObject()) {
        Key(k);
        Value(e);
      }
      return EndObject();
  }
  return *this;
}

}  // namespace modelfn

// The hand-written JSON parser modelfn used before simdjson (kept verbatim from the project's
// history, renamed), so parsers_bench can measure old against new in one run. Not used by any
// binary but the benchmark.
#include "legacy_json.h"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

namespace modelfn {
namespace {

class LegacyJsonParser {
 public:
  LegacyJsonParser(std::string_view text, int max_depth)
      : p_(text.data()),
        begin_(text.data()),
        end_(text.data() + text.size()),
        max_depth_(max_depth) {}

  StatusOr<Json> ParseDocument() {
    Json v;
    SkipSpace();
    if (!ParseValue(&v, 0)) return Error();
    SkipSpace();
    if (p_ != end_) {
      Fail("unexpected data after the JSON value");
      return Error();
    }
    return v;
  }

 private:
  Status Error() const {
    return InvalidArgumentError("invalid JSON at byte " + std::to_string(err_at_ - begin_) + ": " +
                                err_);
  }
  bool Fail(const char* what) {
    if (err_.empty()) {
      err_ = what;
      err_at_ = p_;
    }
    return false;
  }
  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Literal(const char* word, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) {
      return Fail("invalid literal");
    }
    p_ += n;
    return true;
  }

  bool ParseValue(Json* out, int depth) {
    if (p_ >= end_) return Fail("unexpected end of input");
    switch (*p_) {
      case '{':
        return ParseObject(out, depth + 1);
      case '[':
        return ParseArray(out, depth + 1);
      case '"': {
        std::string s;
        if (!ParseString(&s)) return false;
        *out = Json::String(std::move(s));
        return true;
      }
      case 't':
        *out = Json::Bool(true);
        return Literal("true", 4);
      case 'f':
        *out = Json::Bool(false);
        return Literal("false", 5);
      case 'n':
        *out = Json();
        return Literal("null", 4);
      default:
        return ParseNumber(out);
    }
  }

  bool ParseArray(Json* out, int depth) {
    if (depth > max_depth_) return Fail("nesting too deep");
    ++p_;  // '['
    *out = Json::MakeArray();
    Json::Array& arr = out->MutableArray();
    SkipSpace();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    while (true) {
      SkipSpace();
      arr.emplace_back();
      if (!ParseValue(&arr.back(), depth)) return false;
      SkipSpace();
      if (p_ >= end_) return Fail("unterminated array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      return Fail("expected ',' or ']' in array");
    }
  }

  bool ParseObject(Json* out, int depth) {
    if (depth > max_depth_) return Fail("nesting too deep");
    ++p_;  // '{'
    *out = Json::MakeObject();
    Json::Object& obj = out->MutableObject();
    SkipSpace();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    while (true) {
      SkipSpace();
      if (p_ >= end_ || *p_ != '"') return Fail("expected a string key in object");
      std::string key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (p_ >= end_ || *p_ != ':') return Fail("expected ':' after object key");
      ++p_;
      SkipSpace();
      Json v;
      if (!ParseValue(&v, depth)) return false;
      // Duplicate keys: the last one wins, as most parsers do.
      bool replaced = false;
      for (auto& [k, old] : obj) {
        if (k == key) {
          old = std::move(v);
          replaced = true;
          break;
        }
      }
      if (!replaced) obj.emplace_back(std::move(key), std::move(v));
      SkipSpace();
      if (p_ >= end_) return Fail("unterminated object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      return Fail("expected ',' or '}' in object");
    }
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool Hex4(uint32_t* cp) {
    if (end_ - p_ < 4) return Fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = Hex(p_[i]);
      if (h < 0) return Fail("invalid \\u escape");
      v = v * 16 + static_cast<uint32_t>(h);
    }
    p_ += 4;
    *cp = v;
    return true;
  }
  static void AppendUtf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      s->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool ParseString(std::string* s) {
    ++p_;  // opening quote
    while (true) {
      const char* run = p_;
      while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20)
        ++p_;
      s->append(run, static_cast<size_t>(p_ - run));
      if (p_ >= end_) return Fail("unterminated string");
      char c = *p_;
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c != '\\') return Fail("control character in string");
      ++p_;
      if (p_ >= end_) return Fail("unterminated string");
      char e = *p_++;
      switch (e) {
        case '"':
          s->push_back('"');
          break;
        case '\\':
          s->push_back('\\');
          break;
        case '/':
          s->push_back('/');
          break;
        case 'b':
          s->push_back('\b');
          break;
        case 'f':
          s->push_back('\f');
          break;
        case 'n':
          s->push_back('\n');
          break;
        case 'r':
          s->push_back('\r');
          break;
        case 't':
          s->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return Fail("unpaired surrogate");
            p_ += 2;
            if (!Hex4(&lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return Fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail("unpaired surrogate");
          }
          AppendUtf8(s, cp);
          break;
        }
        default:
          --p_;
          return Fail("invalid escape in string");
      }
    }
  }

  bool ParseNumber(Json* out) {
    const char* start = p_;
    bool integral = true;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) {
      p_ = start;
      return Fail("expected a value");
    }
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return Fail("digit expected after '.'");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return Fail("digit expected in exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (integral &&
        !(p_ - start == 2 && start[0] == '-' && start[1] == '0')) {  // "-0" stays a double
      int64_t i;
      auto r = std::from_chars(start, p_, i);
      if (r.ec == std::errc() && r.ptr == p_) {
        *out = Json::Int(i);
        return true;
      }
      if (*start != '-') {
        uint64_t u;
        r = std::from_chars(start, p_, u);
        if (r.ec == std::errc() && r.ptr == p_) {
          *out = Json::Uint(u);
          return true;
        }
      }
    }
    double d;
    auto r = std::from_chars(start, p_, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Overflow becomes ±inf, underflow 0, as strtod does; callers that care check finiteness.
      d = std::strtod(std::string(start, p_).c_str(), nullptr);
    } else if (r.ec != std::errc() || r.ptr != p_) {
      return Fail("invalid number");
    }
    *out = Json::Double(d);
    return true;
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  int max_depth_;
  std::string err_;
  const char* err_at_ = nullptr;
};

}  // namespace

StatusOr<Json> LegacyParseJson(std::string_view text) {
  return LegacyJsonParser(text, 64).ParseDocument();
}

}  // namespace modelfn

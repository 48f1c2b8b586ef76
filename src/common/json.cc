#include "common/json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <variant>

namespace modelfn {

struct Json::Heavy {
  std::variant<std::string, Array, Object> v;
};

Json::Json() = default;
Json::~Json() = default;
Json::Json(Json&&) noexcept = default;
Json& Json::operator=(Json&&) noexcept = default;

Json Json::Bool(bool b) {
  Json j;
  j.type_ = Type::kBool;
  j.b_ = b;
  return j;
}
Json Json::Int(int64_t v) {
  Json j;
  j.type_ = Type::kNumber;
  j.num_ = NumKind::kInt;
  j.i_ = v;
  return j;
}
Json Json::Uint(uint64_t v) {
  if (v <= static_cast<uint64_t>(INT64_MAX)) return Int(static_cast<int64_t>(v));
  Json j;
  j.type_ = Type::kNumber;
  j.num_ = NumKind::kUint;
  j.u_ = v;
  return j;
}
Json Json::Double(double v) {
  Json j;
  j.type_ = Type::kNumber;
  j.num_ = NumKind::kDouble;
  j.d_ = v;
  return j;
}
Json Json::String(std::string s) {
  Json j;
  j.type_ = Type::kString;
  j.heavy_ = std::make_unique<Heavy>(Heavy{std::move(s)});
  return j;
}
Json Json::MakeArray() {
  Json j;
  j.type_ = Type::kArray;
  j.heavy_ = std::make_unique<Heavy>(Heavy{Array()});
  return j;
}
Json Json::MakeObject() {
  Json j;
  j.type_ = Type::kObject;
  j.heavy_ = std::make_unique<Heavy>(Heavy{Object()});
  return j;
}

Json Json::Clone() const {
  Json j;
  j.type_ = type_;
  j.num_ = num_;
  j.b_ = b_;
  j.u_ = u_;
  switch (type_) {
    case Type::kString:
      j.heavy_ = std::make_unique<Heavy>(Heavy{AsString()});
      break;
    case Type::kArray: {
      j.heavy_ = std::make_unique<Heavy>(Heavy{Array()});
      for (const Json& e : AsArray()) j.Push(e.Clone());
      break;
    }
    case Type::kObject: {
      j.heavy_ = std::make_unique<Heavy>(Heavy{Object()});
      for (const auto& [k, v] : AsObject()) j.Set(k, v.Clone());
      break;
    }
    default:
      break;
  }
  return j;
}

double Json::AsDouble() const {
  switch (num_) {
    case NumKind::kInt:
      return static_cast<double>(i_);
    case NumKind::kUint:
      return static_cast<double>(u_);
    case NumKind::kDouble:
      return d_;
  }
  return 0;
}
const std::string& Json::AsString() const { return std::get<std::string>(heavy_->v); }
const Json::Array& Json::AsArray() const { return std::get<Array>(heavy_->v); }
Json::Array& Json::MutableArray() { return std::get<Array>(heavy_->v); }
const Json::Object& Json::AsObject() const { return std::get<Object>(heavy_->v); }
Json::Object& Json::MutableObject() { return std::get<Object>(heavy_->v); }

const Json* Json::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& [k, v] : AsObject()) {
    if (k == key) return &v;
  }
  return nullptr;
}
void Json::Push(Json v) { MutableArray().push_back(std::move(v)); }
void Json::Set(std::string key, Json v) {
  for (auto& [k, old] : MutableObject()) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  MutableObject().emplace_back(std::move(key), std::move(v));
}

std::string Json::Dump() const {
  std::string out;
  JsonWriter(&out).Value(*this);
  return out;
}

const char* Json::TypeName(Type t) {
  switch (t) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
class JsonParser {
 public:
  JsonParser(std::string_view text, int max_depth)
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

StatusOr<Json> Json::Parse(std::string_view text, const ParseOptions& options) {
  return JsonParser(text, options.max_depth).ParseDocument();
}

// ---------------------------------------------------------------------------------------------
void AppendJsonString(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
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
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
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
JsonWriter& JsonWriter::Double(double v) {
  Sep();
  if (!std::isfinite(v)) {
    out_->append("null");
    return *this;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
  return *this;
}
JsonWriter& JsonWriter::Float(float v) {
  Sep();
  if (!std::isfinite(v)) {
    out_->append("null");
    return *this;
  }
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

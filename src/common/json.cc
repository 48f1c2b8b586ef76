#include "common/json.h"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <optional>
#include <string>
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
      j.MutableArray().reserve(AsArray().size());
      for (const Json& e : AsArray()) j.Push(e.Clone());
      break;
    }
    case Type::kObject: {
      j.heavy_ = std::make_unique<Heavy>(Heavy{Object()});
      Object& obj = j.MutableObject();
      obj.reserve(AsObject().size());
      // Keys are already unique: Set's replace-scan would make cloning quadratic.
      for (const auto& [k, v] : AsObject()) obj.emplace_back(k, v.Clone());
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
namespace {

// Objects of fewer members than this are checked for duplicate keys by scanning the members
// already built (cheaper than hashing for the small objects requests are made of); larger ones
// use a hash set.
constexpr size_t kLinearDuplicateScan = 16;
// A thread keeps its simdjson parser for texts up to this size; a larger text gets a parser of
// its own, freed on return. simdjson's buffers take about 15 bytes per byte of capacity, so this
// pins at most ~1 MB per thread; a fresh parser for a 1 MB body parsed in the same time as a
// reused one (1.43 ms both, measured).
constexpr size_t kReusedParserBytes = 64 << 10;
// How much of an offending key an error message quotes.
constexpr size_t kQuotedKeyBytes = 64;

Status SyntaxError(std::string what) {
  return Status(StatusCode::kInvalidArgument, "invalid JSON: " + what, "invalid_json");
}

// The keys of one object, in member order: the DOM's members while building, simdjson's keys
// (valid while its document lives) while only validating.
std::string_view KeyAt(const Json::Object& obj, uint32_t index) { return obj[index].first; }
std::string_view KeyAt(const std::vector<std::string_view>& keys, uint32_t index) {
  return keys[index];
}

// The keys of one large object, for duplicate detection: open addressing over member indices,
// so no allocation per key (std::unordered_set's nodes took half the time of a 500,000-key object).
class KeyIndex {
 public:
  // `members` sizes the table up front, within bounds; it grows as needed past that (simdjson
  // caps its member count at 2^24 - 1).
  explicit KeyIndex(size_t members)
      : slots_(std::bit_ceil(std::clamp<size_t>(members, 8, size_t{1} << 16) * 2)) {}

  // Records keys[index]; false when an earlier member has the same key.
  template <typename Keys>
  bool Insert(const Keys& keys, uint32_t index) {
    const std::string_view key = KeyAt(keys, index);
    const size_t hash = std::hash<std::string_view>()(key);
    const uint32_t tag = static_cast<uint32_t>(hash >> 32) | 1;  // 0 marks a free slot
    if (++used_ * 2 > slots_.size()) Grow(keys);
    for (size_t i = hash & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      Slot& s = slots_[i];
      if (s.tag == 0) {
        s = {tag, index};
        return true;
      }
      if (s.tag == tag && KeyAt(keys, s.index) == key) return false;
    }
  }

 private:
  struct Slot {
    uint32_t tag = 0;
    uint32_t index = 0;
  };
  template <typename Keys>
  void Grow(const Keys& keys) {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.tag == 0) continue;
      size_t i = std::hash<std::string_view>()(KeyAt(keys, s.index)) & (slots_.size() - 1);
      while (slots_[i].tag != 0) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

// Walks simdjson's validated document, enforcing the limits simdjson does not (values, depth,
// duplicate keys); with kBuild it also builds the Json DOM, without it only checks.
template <bool kBuild>
class DomWalker {
 public:
  explicit DomWalker(const Json::ParseOptions& options) : options_(options) {}

  // The first error, once Walk has returned false.
  const Status& error() const { return error_; }

  // A bool, not a Status, per value: this runs once per element of every request. `out` is
  // written only with kBuild.
  bool Walk(simdjson::dom::element e, int depth, Json* out) {
    if (++elements_ > options_.max_elements) {
      return Fail(SyntaxError("more than " + std::to_string(options_.max_elements) + " values"));
    }
    switch (e.type()) {
      case simdjson::dom::element_type::ARRAY: {
        if (depth + 1 > options_.max_depth) return Fail(SyntaxError("nesting too deep"));
        simdjson::dom::array a = e.get_array().value_unsafe();
        if constexpr (kBuild) {
          *out = Json::MakeArray();
          Json::Array& arr = out->MutableArray();
          arr.reserve(a.size());
          for (simdjson::dom::element child : a) {
            arr.emplace_back();
            if (!Walk(child, depth + 1, &arr.back())) return false;
          }
        } else {
          for (simdjson::dom::element child : a) {
            if (!Walk(child, depth + 1, nullptr)) return false;
          }
        }
        return true;
      }
      case simdjson::dom::element_type::OBJECT: {
        if (depth + 1 > options_.max_depth) return Fail(SyntaxError("nesting too deep"));
        simdjson::dom::object o = e.get_object().value_unsafe();
        // Building, the DOM's members hold the keys seen so far; checking, a list of views.
        std::vector<std::string_view> views;
        Json::Object* obj = nullptr;
        if constexpr (kBuild) {
          *out = Json::MakeObject();
          obj = &out->MutableObject();
          obj->reserve(o.size());
        } else {
          views.reserve(o.size());
        }
        std::optional<KeyIndex> keys;
        if (o.size() >= kLinearDuplicateScan) keys.emplace(o.size());
        for (simdjson::dom::key_value_pair field : o) {
          bool duplicate = false;
          if (!keys) {
            if constexpr (kBuild) {
              for (const auto& member : *obj) duplicate = duplicate || member.first == field.key;
            } else {
              for (std::string_view k : views) duplicate = duplicate || k == field.key;
            }
          }
          Json* value = nullptr;
          uint32_t index;
          if constexpr (kBuild) {
            obj->emplace_back(std::string(field.key), Json());
            value = &obj->back().second;
            index = static_cast<uint32_t>(obj->size() - 1);
            if (keys) duplicate = !keys->Insert(*obj, index);
          } else {
            views.push_back(field.key);
            index = static_cast<uint32_t>(views.size() - 1);
            if (keys) duplicate = !keys->Insert(views, index);
          }
          if (duplicate) return Fail(DuplicateKey(field.key));
          if (!Walk(field.value, depth + 1, value)) return false;
        }
        return true;
      }
      case simdjson::dom::element_type::STRING:
        if constexpr (kBuild) *out = Json::String(std::string(e.get_string().value_unsafe()));
        return true;
      case simdjson::dom::element_type::INT64:
        if constexpr (kBuild) *out = Json::Int(e.get_int64().value_unsafe());
        return true;
      case simdjson::dom::element_type::UINT64:
        if constexpr (kBuild) *out = Json::Uint(e.get_uint64().value_unsafe());
        return true;
      case simdjson::dom::element_type::DOUBLE:
        if constexpr (kBuild) *out = Json::Double(e.get_double().value_unsafe());
        return true;
      case simdjson::dom::element_type::BOOL:
        if constexpr (kBuild) *out = Json::Bool(e.get_bool().value_unsafe());
        return true;
      case simdjson::dom::element_type::NULL_VALUE:
        if constexpr (kBuild) *out = Json();
        return true;
    }
    return Fail(SyntaxError("unknown value type"));
  }

 private:
  static Status DuplicateKey(std::string_view key) {
    std::string quoted(key.substr(0, kQuotedKeyBytes));
    if (key.size() > kQuotedKeyBytes) quoted += "...";
    return Status(StatusCode::kInvalidArgument,
                  "invalid JSON: duplicate key \"" + quoted + "\" in an object", "duplicate_key");
  }

  bool Fail(Status s) {
    error_ = std::move(s);
    return false;
  }

  const Json::ParseOptions& options_;
  size_t elements_ = 0;
  Status error_;
};

std::string DescribeError(simdjson::error_code code) {
  switch (code) {
    case simdjson::DEPTH_ERROR:
      return "nesting too deep";
    case simdjson::UTF8_ERROR:
      return "the text is not valid UTF-8";
    case simdjson::EMPTY:
      return "no value";
    case simdjson::NUMBER_ERROR:
      return "invalid number, or one outside the range of a double or 64-bit integer";
    case simdjson::STRING_ERROR:
      return "invalid string (bad escape or unpaired surrogate)";
    case simdjson::UNESCAPED_CHARS:
      return "control character in string";
    case simdjson::UNCLOSED_STRING:
      return "unterminated string";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR:
      return "invalid literal";
    case simdjson::CAPACITY:
      return "text too large";
    default:
      return simdjson::error_message(code);
  }
}

// Where a text simdjson's DOM parser refused goes wrong. The DOM parser reports only what is wrong;
// walking the text again with simdjson's On Demand API, which stops at the first bad token, says
// where. Only failed parses pay for this.
class ErrorLocator {
 public:
  explicit ErrorLocator(int max_depth) : max_depth_(max_depth) {}

  // The byte offset of the first error, and a better description when one is known (nesting).
  // Returns false when the walk finds no position.
  bool Locate(std::string_view text, size_t* offset, std::string* what) {
    simdjson::padded_string padded(text.data(), text.size());
    simdjson::ondemand::parser parser(std::max<size_t>(text.size(), 64));
    simdjson::ondemand::document doc;
    if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return false;
    simdjson::ondemand::json_type type;
    if (doc.type().get(type) != simdjson::SUCCESS) return false;
    if (type != simdjson::ondemand::json_type::array &&
        type != simdjson::ondemand::json_type::object) {
      // A bad scalar document: the error is at the value.
      size_t i = 0;
      while (i < text.size() && IsSpace(text[i])) ++i;
      *offset = i;
      return true;
    }
    simdjson::ondemand::value root;
    if (doc.get_value().get(root) == simdjson::SUCCESS) Walk(root, 1);
    if (too_deep_) *what = "nesting too deep";
    const char* at = nullptr;
    if (doc.current_location().get(at) != simdjson::SUCCESS || at == nullptr) return false;
    *offset = static_cast<size_t>(at - padded.data());
    return *offset <= text.size();
  }

 private:
  static bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

  // Visits every value; false at the first error (the document then knows the position).
  bool Walk(simdjson::ondemand::value v, int depth) {
    using simdjson::SUCCESS;
    namespace od = simdjson::ondemand;
    od::json_type type;
    if (v.type().get(type) != SUCCESS) return false;
    switch (type) {
      case od::json_type::array: {
        if (depth > max_depth_) return !(too_deep_ = true);
        od::array a;
        if (v.get_array().get(a) != SUCCESS) return false;
        for (auto child : a) {
          od::value c;
          if (child.get(c) != SUCCESS || !Walk(c, depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::object: {
        if (depth > max_depth_) return !(too_deep_ = true);
        od::object o;
        if (v.get_object().get(o) != SUCCESS) return false;
        for (auto field : o) {
          std::string_view key;
          od::value c;
          if (field.unescaped_key().get(key) != SUCCESS || field.value().get(c) != SUCCESS ||
              !Walk(c, depth + 1)) {
            return false;
          }
        }
        return true;
      }
      case od::json_type::number: {
        od::number n;
        return v.get_number().get(n) == SUCCESS;
      }
      case od::json_type::string: {
        std::string_view str;
        return v.get_string().get(str) == SUCCESS;
      }
      case od::json_type::boolean: {
        bool b;
        return v.get_bool().get(b) == SUCCESS;
      }
      case od::json_type::null: {
        bool is_null = false;
        return v.is_null().get(is_null) == SUCCESS && is_null;
      }
    }
    return false;
  }

  int max_depth_;
  bool too_deep_ = false;
};

// simdjson's DOM refuses integer literals beyond 64 bits, which JavaScript writes for doubles
// from 2^64 up to 1e21 (JSON.stringify(1e20) is "100000000000000000000"). A text it refused for
// a number is given once more with each such literal marked as a double ("...0.0"), which is how
// the former parser read them; nullopt when the text has none.
std::optional<std::string> MarkWideIntegersAsDoubles(std::string_view text) {
  std::string out;
  size_t copied = 0;
  size_t i = 0;
  const auto digit = [&](size_t k) { return k < text.size() && text[k] >= '0' && text[k] <= '9'; };
  while (i < text.size()) {
    char c = text[i];
    if (c == '"') {  // a string: nothing in it is a number
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
      ++i;
      continue;
    }
    if (c != '-' && !digit(i)) {
      ++i;
      continue;
    }
    const size_t start = i;
    if (c == '-') ++i;
    while (digit(i)) ++i;
    const bool integer = i == text.size() || (text[i] != '.' && text[i] != 'e' && text[i] != 'E');
    if (integer && i > start) {
      int64_t s;
      uint64_t u;
      bool wide = text[start] == '-'
                      ? std::from_chars(text.data() + start, text.data() + i, s).ec ==
                            std::errc::result_out_of_range
                      : std::from_chars(text.data() + start, text.data() + i, u).ec ==
                            std::errc::result_out_of_range;
      if (wide) {
        out.append(text.substr(copied, i - copied)).append(".0");
        copied = i;
      }
    }
    while (i < text.size() && (digit(i) || text[i] == '.' || text[i] == 'e' || text[i] == 'E' ||
                               text[i] == '+' || text[i] == '-')) {
      ++i;
    }
  }
  if (copied == 0) return std::nullopt;
  out.append(text.substr(copied));
  return out;
}

Status ParseError(std::string_view text, simdjson::error_code code, int max_depth) {
  std::string what = DescribeError(code);
  size_t offset = 0;
  if (ErrorLocator(max_depth).Locate(text, &offset, &what)) {
    return Status(StatusCode::kInvalidArgument,
                  "invalid JSON at byte " + std::to_string(offset) + ": " + what, "invalid_json");
  }
  return SyntaxError(what);
}

}  // namespace

namespace {

// simdjson's document of `text`, from this thread's reused parser or, for a large text, from
// `*own` (which then owns it). Parse's errors.
StatusOr<simdjson::dom::element> ParseDocument(std::string_view text,
                                               const Json::ParseOptions& options,
                                               std::unique_ptr<simdjson::dom::parser>* own) {
  if (options.max_depth < 0) return SyntaxError("nesting too deep");
  // simdjson counts the root as one level; ours counts containers. One spare level lets our
  // walker, which knows the exact rule, report the limit.
  const size_t simd_depth = static_cast<size_t>(options.max_depth) + 2;
  thread_local simdjson::dom::parser reused;
  simdjson::dom::parser* parser = &reused;
  if (text.size() > kReusedParserBytes) {
    *own = std::make_unique<simdjson::dom::parser>();
    parser = own->get();
  }
  if (parser->max_depth() != simd_depth || parser->capacity() < text.size()) {
    size_t capacity = std::max(text.size(), parser->capacity());
    if (simdjson::error_code e = parser->allocate(capacity, simd_depth); e != simdjson::SUCCESS) {
      return SyntaxError(DescribeError(e));
    }
  }
  simdjson::dom::element root;
  if (simdjson::error_code e = parser->parse(text.data(), text.size()).get(root);
      e != simdjson::SUCCESS) {
    std::optional<std::string> marked;
    if (e == simdjson::NUMBER_ERROR) marked = MarkWideIntegersAsDoubles(text);
    if (!marked || parser->parse(marked->data(), marked->size()).get(root) != simdjson::SUCCESS) {
      return ParseError(text, e, options.max_depth);
    }
  }
  return root;
}

}  // namespace

StatusOr<Json> Json::Parse(std::string_view text, const ParseOptions& options) {
  std::unique_ptr<simdjson::dom::parser> own;
  auto root = ParseDocument(text, options, &own);
  if (!root.ok()) return root.status();
  Json out;
  DomWalker<true> builder(options);
  if (!builder.Walk(*root, 0, &out)) return builder.error();
  return out;
}

StatusOr<Json::Type> Json::Validate(std::string_view text, const ParseOptions& options) {
  std::unique_ptr<simdjson::dom::parser> own;
  auto root = ParseDocument(text, options, &own);
  if (!root.ok()) return root.status();
  DomWalker<false> checker(options);
  if (!checker.Walk(*root, 0, nullptr)) return checker.error();
  switch (root->type()) {
    case simdjson::dom::element_type::ARRAY:
      return Type::kArray;
    case simdjson::dom::element_type::OBJECT:
      return Type::kObject;
    case simdjson::dom::element_type::STRING:
      return Type::kString;
    case simdjson::dom::element_type::BOOL:
      return Type::kBool;
    case simdjson::dom::element_type::NULL_VALUE:
      return Type::kNull;
    default:
      return Type::kNumber;
  }
}

bool IsValidUtf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

}  // namespace modelfn

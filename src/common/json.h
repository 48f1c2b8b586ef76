// A small JSON DOM, parser and writer, built for request bodies. Parsing is simdjson's (fully
// validating, UTF-8 checked, linear time) feeding this DOM: bounded nesting depth and value count,
// duplicate keys refused, integers kept exact (int64/uint64). The writer emits valid UTF-8 JSON
// for any input bytes, shortest round-trip floats, no exceptions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace modelfn {

class Json {
 public:
  enum class Type : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  // Keeps document order. Find is a linear scan: callers look up a fixed handful of names, so
  // the cost per document stays linear even for huge objects.
  using Object = std::vector<Member>;

  struct ParseOptions {
    int max_depth = 64;  // deeper nesting is rejected (no unbounded recursion on hostile input)
    // Values of any kind (containers, keys' values, scalars) in the document, bounding the DOM's
    // memory for a body under the configured size limit.
    size_t max_elements = size_t{1} << 22;
  };

  Json();  // null (out of line: the payload type is complete only in json.cc)
  static Json Bool(bool b);
  static Json Int(int64_t v);
  static Json Uint(uint64_t v);
  static Json Double(double v);
  static Json String(std::string s);
  static Json MakeArray();
  static Json MakeObject();

  ~Json();
  Json(Json&&) noexcept;
  Json& operator=(Json&&) noexcept;
  Json(const Json&) = delete;
  Json& operator=(const Json&) = delete;
  Json Clone() const;

  // Parses one JSON text (RFC 8259, UTF-8 only); trailing non-space is an error. Thread-safe
  // (each thread reuses its own simdjson parser for small texts).
  // Errors are kInvalidArgument with a message starting "invalid JSON" (naming the byte offset
  // when one is known) and reason "invalid_json"; an object naming the same key twice fails with
  // reason "duplicate_key" (a message naming the key); more than max_elements values or deeper
  // nesting than max_depth fail with reason "invalid_json". Numbers outside double's range are
  // refused; integers beyond int64/uint64 are read as doubles; "-0" is the integer 0 ("-0.0"
  // keeps its sign).
  static StatusOr<Json> Parse(std::string_view text, const ParseOptions& options);
  static StatusOr<Json> Parse(std::string_view text) { return Parse(text, ParseOptions()); }

  // Accepts exactly the texts Parse accepts, with the same errors, and builds nothing: the type
  // of the root value, or Parse's error. For a text that is only to be checked (the gateway
  // checks each request it merges into a batch) this skips the DOM's allocations.
  static StatusOr<Type> Validate(std::string_view text, const ParseOptions& options);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Numbers: a literal without fraction or exponent that fits int64 (or uint64 when positive) is
  // "integral" and exact; anything else is a double.
  bool is_integral() const { return type_ == Type::kNumber && num_ != NumKind::kDouble; }
  bool is_negative_integral() const { return num_ == NumKind::kInt && i_ < 0; }
  bool AsBool() const { return b_; }
  double AsDouble() const;
  // Precondition: is_integral(). Values above INT64_MAX wrap; check fits_int64() first.
  int64_t AsInt64() const { return num_ == NumKind::kUint ? static_cast<int64_t>(u_) : i_; }
  uint64_t AsUint64() const { return num_ == NumKind::kUint ? u_ : static_cast<uint64_t>(i_); }
  bool fits_int64() const { return num_ == NumKind::kInt; }
  const std::string& AsString() const;
  const Array& AsArray() const;
  Array& MutableArray();
  const Object& AsObject() const;
  Object& MutableObject();

  // Object member lookup; nullptr when absent or when this is not an object.
  const Json* Find(std::string_view key) const;
  // Appends to an array / object (precondition: the right type).
  void Push(Json v);
  void Set(std::string key, Json v);

  // Compact serialisation.
  std::string Dump() const;

  // A short name of the type, for error messages ("string", "array", ...).
  static const char* TypeName(Type t);

 private:
  enum class NumKind : uint8_t { kInt, kUint, kDouble };
  struct Heavy;

  Type type_ = Type::kNull;
  NumKind num_ = NumKind::kInt;
  bool b_ = false;
  union {
    int64_t i_ = 0;
    uint64_t u_;
    double d_;
  };
  std::unique_ptr<Heavy> heavy_;  // string, array or object payload
};

// Streaming writer for compact JSON. Callers must produce a well-formed sequence of calls.
// Strings and keys may hold any bytes: the output is always valid UTF-8 (see AppendJsonString).
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view k);
  JsonWriter& String(std::string_view s);
  JsonWriter& Bool(bool b);
  JsonWriter& Null();
  JsonWriter& Int(int64_t v);
  JsonWriter& Uint(uint64_t v);
  // Non-finite values are written as null (JSON has no NaN/Infinity).
  JsonWriter& Double(double v);
  JsonWriter& Float(float v);  // shortest text that round-trips as a float
  JsonWriter& Value(const Json& v);
  // Appends already-serialised JSON as one value.
  JsonWriter& Raw(std::string_view json);

 private:
  void Sep();
  std::string* out_;
  std::vector<bool> first_;  // one entry per open container
  bool after_key_ = false;
};

// Appends s to out as a quoted JSON string that is valid UTF-8 whatever s holds: '"', '\\' and
// the control characters U+0000-U+001F, U+007F and U+0080-U+009F are escaped (\n, \u0000...), so
// valid UTF-8 (NUL included) round-trips exactly; each byte that is not part of a valid UTF-8
// sequence (overlong forms and surrogates included) becomes \ufffd.
void AppendJsonString(std::string* out, std::string_view s);

// True when s is valid UTF-8 (no overlong forms, no surrogates), as RFC 3629 defines it.
bool IsValidUtf8(std::string_view s);

}  // namespace modelfn

#include "platform/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

namespace modelfn {
namespace {

constexpr int kMaxDepth = 64;
// Values in the document once aliases are expanded: a "billion laughs" document (aliases of
// aliases) is refused here, before it is expanded into memory.
constexpr size_t kMaxValues = 100000;

const std::string kCoreTag = "tag:yaml.org,2002:";

Status LineError(int line, const std::string& what) {
  return InvalidArgumentError("line " + std::to_string(line) + ": " + what);
}
int LineOf(const YAML::Mark& mark) { return mark.line + 1; }

bool IsDecimalInteger(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// YAML 1.2's core schema for an untagged plain scalar: null, booleans, integers (decimal, 0o,
// 0x), floats (with .inf and .nan); anything else is a string.
Json ResolvePlain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Json();
  if (s == "true" || s == "True" || s == "TRUE") return Json::Bool(true);
  if (s == "false" || s == "False" || s == "FALSE") return Json::Bool(false);
  std::string_view v = s;
  bool negative = !v.empty() && v[0] == '-';
  std::string_view unsigned_part = (!v.empty() && (v[0] == '-' || v[0] == '+')) ? v.substr(1) : v;
  if (IsDecimalInteger(v)) {
    int64_t i = 0;
    auto r = std::from_chars(unsigned_part.data(), unsigned_part.data() + unsigned_part.size(), i);
    if (r.ec == std::errc() && r.ptr == unsigned_part.data() + unsigned_part.size()) {
      return Json::Int(negative ? -i : i);
    }
  }
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'o')) {
    int64_t i = 0;
    auto r = std::from_chars(v.data() + 2, v.data() + v.size(), i, v[1] == 'x' ? 16 : 8);
    if (r.ec == std::errc() && r.ptr == v.data() + v.size()) return Json::Int(i);
  }
  if (unsigned_part == ".inf" || unsigned_part == ".Inf" || unsigned_part == ".INF") {
    return Json::Double(negative ? -HUGE_VAL : HUGE_VAL);
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    return Json::Double(std::numeric_limits<double>::quiet_NaN());
  }
  bool number_chars =
      !unsigned_part.empty() && ((unsigned_part[0] >= '0' && unsigned_part[0] <= '9') ||
                                 (unsigned_part[0] == '.' && unsigned_part.size() > 1 &&
                                  unsigned_part[1] >= '0' && unsigned_part[1] <= '9'));
  if (number_chars) {
    double d = 0;
    auto r = std::from_chars(unsigned_part.data(), unsigned_part.data() + unsigned_part.size(), d,
                             std::chars_format::general);
    if (r.ec == std::errc() && r.ptr == unsigned_part.data() + unsigned_part.size()) {
      return Json::Double(negative ? -d : d);
    }
  }
  return Json::String(s);
}

// Builds the Json DOM from yaml-cpp's parse events. yaml-cpp reports syntax errors (with a mark)
// by exception; this builder records the first error of its own (depth, expansion, keys, tags)
// and ignores the events after it.
class JsonBuilder : public YAML::EventHandler {
 public:
  Status status() const { return status_; }
  int documents() const { return documents_; }
  int second_document_line() const { return second_document_line_; }
  Json Take() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) second_document_line_ = LineOf(mark);
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Add(mark, anchor, Json(), 1);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (!status_.ok()) return;
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) return Fail(LineError(LineOf(mark), "unknown alias"));
    // Counted before it is copied, so a billion laughs stops at the limit.
    if (values_ + it->second.values > kMaxValues) return (void)Count(mark, it->second.values);
    Add(mark, 0, it->second.value.Clone(), it->second.values);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (AwaitingKey() && (tag == "?" || tag == "!")) return AddKey(mark, value);
    if (tag == "?") return Add(mark, anchor, ResolvePlain(value), 1);
    // "!" is a quoted or block scalar: always a string, as is an explicit !!str.
    if (tag == "!" || tag == kCoreTag + "str") return Add(mark, anchor, Json::String(value), 1);
    Fail(LineError(LineOf(mark), "tags are not supported"));
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, tag, anchor, Json::MakeArray(), "seq");
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, tag, anchor, Json::MakeObject(), "map");
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Collection {
    Json value;
    YAML::anchor_t anchor = 0;
    size_t values_before = 0;  // values_ when this collection started
    bool have_key = false;     // a map's key is waiting for its value
    std::string key;
    int key_line = 0;
    std::unordered_set<std::string> keys;
  };
  struct Anchored {
    Json value;
    size_t values = 0;  // values inside, counted again at every alias
  };

  bool AwaitingKey() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().have_key;
  }
  // Keys are taken as written ("1.50" stays "1.50").
  void AddKey(const YAML::Mark& mark, const std::string& key) {
    if (!status_.ok()) return;
    Collection& parent = stack_.back();
    parent.key = key;
    parent.key_line = LineOf(mark);
    parent.have_key = true;
  }

  void Fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

  bool Count(const YAML::Mark& mark, size_t n) {
    values_ += n;
    if (values_ <= kMaxValues) return true;
    Fail(LineError(LineOf(mark), "the document holds more than " + std::to_string(kMaxValues) +
                                     " values once its aliases are expanded"));
    return false;
  }

  void Open(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, Json value,
            const char* kind) {
    if (!status_.ok()) return;
    if (tag != "?" && tag != "!" && tag != kCoreTag + kind) {
      return Fail(LineError(LineOf(mark), "tags are not supported"));
    }
    if (stack_.size() >= kMaxDepth) return Fail(LineError(LineOf(mark), "nesting too deep"));
    if (AwaitingKey()) return Fail(LineError(LineOf(mark), "keys must be scalars"));
    if (!Count(mark, 1)) return;
    Collection o;
    o.value = std::move(value);
    o.anchor = anchor;
    o.values_before = values_ - 1;
    stack_.push_back(std::move(o));
    marks_.push_back(mark);
  }

  void Close() {
    if (!status_.ok()) return;
    Collection done = std::move(stack_.back());
    YAML::Mark mark = marks_.back();
    stack_.pop_back();
    marks_.pop_back();
    size_t inside = values_ - done.values_before;
    values_ = done.values_before;  // Add counts them again
    Add(mark, done.anchor, std::move(done.value), inside);
  }

  // Places a complete value (with `values` values inside, itself included) in its parent.
  void Add(const YAML::Mark& mark, YAML::anchor_t anchor, Json value, size_t values) {
    if (!status_.ok() || !Count(mark, values)) return;
    if (anchor != 0) anchors_[anchor] = Anchored{value.Clone(), values};
    if (stack_.empty()) {
      root_ = std::move(value);
      return;
    }
    Collection& parent = stack_.back();
    if (parent.value.is_array()) {
      parent.value.Push(std::move(value));
      return;
    }
    if (!parent.have_key) {
      // A null (empty) key or an alias as a key.
      if (value.is_null()) return AddKey(mark, "");
      if (value.is_string()) return AddKey(mark, value.AsString());
      return Fail(LineError(LineOf(mark), "keys must be plain or quoted scalars"));
    }
    parent.have_key = false;
    if (!parent.keys.insert(parent.key).second) {
      return Fail(LineError(parent.key_line, "duplicate key '" + parent.key + "'"));
    }
    parent.value.MutableObject().emplace_back(std::move(parent.key), std::move(value));
  }

  Status status_;
  int documents_ = 0;
  int second_document_line_ = 0;
  size_t values_ = 0;
  std::vector<Collection> stack_;
  std::vector<YAML::Mark> marks_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  Json root_;
};

}  // namespace

StatusOr<Json> ParseYaml(std::string_view text) {
  // YAML is Unicode text; bytes that are not UTF-8 would also make distinct keys read alike.
  if (!IsValidUtf8(text)) return InvalidArgumentError("the YAML document is not valid UTF-8");
  std::istringstream in{std::string(text)};
  JsonBuilder builder;
  try {
    YAML::Parser parser(in);
    while (builder.status().ok() && builder.documents() < 2 && parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::Exception& e) {
    if (!builder.status().ok()) return builder.status();
    if (e.mark.is_null()) return InvalidArgumentError(e.msg);
    return LineError(LineOf(e.mark), e.msg);
  } catch (const std::exception& e) {  // yaml-cpp may throw standard exceptions (bad_alloc)
    return InvalidArgumentError(std::string("cannot parse YAML: ") + e.what());
  }
  if (!builder.status().ok()) return builder.status();
  if (builder.documents() > 1) {
    return LineError(builder.second_document_line(), "only one document is supported");
  }
  return builder.Take();
}

}  // namespace modelfn

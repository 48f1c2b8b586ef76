#include "platform/yaml.h"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

namespace modelfn {
namespace {

struct Line {
  int number = 0;  // 1-based, for messages
  int indent = 0;
  std::string text;  // without indentation, comment and trailing space
};

Status LineError(int number, const std::string& what) {
  return InvalidArgumentError("line " + std::to_string(number) + ": " + what);
}

// Removes a comment: '#' at the start or after a space, outside quotes.
std::string StripComment(const std::string& s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\' && quote == '"') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      if (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '[' || s[i - 1] == '{' ||
          s[i - 1] == ',' || s[i - 1] == ':') {
        quote = c;
      }
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return s.substr(0, i);
    }
  }
  return s;
}

Json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Json();
  if (s == "true" || s == "True" || s == "TRUE") return Json::Bool(true);
  if (s == "false" || s == "False" || s == "FALSE") return Json::Bool(false);
  const char* b = s.c_str();
  char* end = nullptr;
  bool digits = (s[0] >= '0' && s[0] <= '9') ||
                ((s[0] == '-' || s[0] == '+') && s.size() > 1 && s[1] >= '0' && s[1] <= '9');
  if (digits) {
    errno = 0;
    long long v = strtoll(b, &end, 10);
    if (*end == '\0' && errno == 0) return Json::Int(v);
    errno = 0;
    double d = strtod(b, &end);
    if (*end == '\0' && errno == 0) return Json::Double(d);
  }
  return Json::String(s);
}

// Parses flow values and scalars on one line.
class FlowParser {
 public:
  FlowParser(std::string_view s, int line) : s_(s), line_(line) {}

  StatusOr<Json> ParseAll() {
    ASSIGN_OR_RETURN(Json v, Value(false));
    SkipSpace();
    if (pos_ != s_.size()) return Error("unexpected '" + std::string(1, s_[pos_]) + "'");
    return v;
  }

 private:
  Status Error(const std::string& what) { return LineError(line_, what); }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }

  StatusOr<Json> Value(bool in_flow) {
    SkipSpace();
    if (pos_ >= s_.size()) return Json();
    char c = s_[pos_];
    if (c == '{') return Mapping();
    if (c == '[') return Sequence();
    if (c == '"' || c == '\'') return Quoted();
    if (c == '&' || c == '*' || c == '!')
      return Error("anchors, aliases and tags are not supported");
    if (c == '|' || c == '>') return Error("block scalars (| and >) are not supported");
    size_t start = pos_;
    while (pos_ < s_.size()) {
      char d = s_[pos_];
      if (in_flow && (d == ',' || d == '}' || d == ']')) break;
      if (in_flow && d == ':' && (pos_ + 1 == s_.size() || s_[pos_ + 1] == ' ')) break;
      ++pos_;
    }
    std::string text(s_.substr(start, pos_ - start));
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
    return PlainScalar(text);
  }

  StatusOr<Json> Quoted() {
    char q = s_[pos_++];
    std::string out;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (q == '\'' && c == '\'') {
        if (pos_ < s_.size() && s_[pos_] == '\'') {
          out.push_back('\'');
          ++pos_;
          continue;
        }
        return Json::String(std::move(out));
      }
      if (q == '"' && c == '"') return Json::String(std::move(out));
      if (q == '"' && c == '\\') {
        if (pos_ >= s_.size()) break;
        char e = s_[pos_++];
        switch (e) {
          case 'n':
            out.push_back('\n');
            break;
          case 't':
            out.push_back('\t');
            break;
          case '"':
          case '\\':
          case '/':
            out.push_back(e);
            break;
          default:
            return Error(std::string("unsupported escape \\") + e);
        }
        continue;
      }
      out.push_back(c);
    }
    return Error("unterminated quoted string");
  }

  StatusOr<Json> Mapping() {
    ++pos_;  // '{'
    Json obj = Json::MakeObject();
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return obj;
    }
    while (true) {
      ASSIGN_OR_RETURN(Json key, Value(true));
      if (!key.is_string() && !key.is_number() && !key.is_bool()) {
        return Error("a mapping key must be a scalar");
      }
      std::string k = key.is_string() ? key.AsString() : key.Dump();
      SkipSpace();
      Json value;
      if (pos_ < s_.size() && s_[pos_] == ':') {
        ++pos_;
        ASSIGN_OR_RETURN(value, Value(true));
      }
      if (obj.Find(k) != nullptr) return Error("duplicate key '" + k + "'");
      obj.Set(std::move(k), std::move(value));
      SkipSpace();
      if (pos_ >= s_.size()) return Error("unterminated '{'");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        return obj;
      }
      return Error("expected ',' or '}'");
    }
  }

  StatusOr<Json> Sequence() {
    ++pos_;  // '['
    Json arr = Json::MakeArray();
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return arr;
    }
    while (true) {
      ASSIGN_OR_RETURN(Json v, Value(true));
      arr.Push(std::move(v));
      SkipSpace();
      if (pos_ >= s_.size()) return Error("unterminated '['");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        return arr;
      }
      return Error("expected ',' or ']'");
    }
  }

  std::string_view s_;
  int line_;
  size_t pos_ = 0;
};

// Finds "key: value" / "key:" at the top level of a block line; npos when the line is no mapping
// entry. Quoted keys are allowed.
size_t MappingColon(const std::string& t) {
  size_t i = 0;
  if (!t.empty() && (t[0] == '"' || t[0] == '\'')) {
    char q = t[0];
    for (i = 1; i < t.size() && t[i] != q; ++i) {
      if (q == '"' && t[i] == '\\') ++i;
    }
    ++i;
  }
  if (!t.empty() && (t[0] == '{' || t[0] == '[')) return std::string::npos;
  for (; i < t.size(); ++i) {
    if (t[i] == ':' && (i + 1 == t.size() || t[i + 1] == ' ' || t[i + 1] == '\t')) return i;
  }
  return std::string::npos;
}

bool IsSeqItem(const std::string& t) { return t == "-" || t.rfind("- ", 0) == 0; }

class BlockParser {
 public:
  explicit BlockParser(std::vector<Line> lines) : lines_(std::move(lines)) {}

  StatusOr<Json> Document() {
    if (lines_.empty()) return Json();
    ASSIGN_OR_RETURN(Json v, Block(lines_[0].indent));
    if (i_ < lines_.size()) return LineError(lines_[i_].number, "unexpected indentation");
    return v;
  }

 private:
  StatusOr<Json> Block(int indent) {
    const Line& l = lines_[i_];
    if (IsSeqItem(l.text)) return Sequence(indent);
    if (MappingColon(l.text) != std::string::npos) return Mapping(indent);
    ++i_;
    return FlowParser(l.text, l.number).ParseAll();
  }

  // The value after "key:" (or "-") when it is on following lines.
  StatusOr<Json> Nested(int parent_indent, bool allow_same_indent_seq) {
    if (i_ >= lines_.size()) return Json();
    const Line& next = lines_[i_];
    if (next.indent > parent_indent) return Block(next.indent);
    if (allow_same_indent_seq && next.indent == parent_indent && IsSeqItem(next.text)) {
      return Sequence(parent_indent);
    }
    return Json();
  }

  StatusOr<Json> Mapping(int indent) {
    Json obj = Json::MakeObject();
    while (i_ < lines_.size() && lines_[i_].indent == indent && !IsSeqItem(lines_[i_].text)) {
      const Line& l = lines_[i_];
      size_t colon = MappingColon(l.text);
      if (colon == std::string::npos) return LineError(l.number, "expected 'key: value'");
      ASSIGN_OR_RETURN(Json key, FlowParser(l.text.substr(0, colon), l.number).ParseAll());
      std::string k = key.is_string() ? key.AsString() : key.Dump();
      std::string rest = l.text.substr(colon + 1);
      size_t b = rest.find_first_not_of(" \t");
      rest = b == std::string::npos ? "" : rest.substr(b);
      int number = l.number;
      ++i_;
      Json value;
      if (rest.empty()) {
        ASSIGN_OR_RETURN(value, Nested(indent, true));
      } else {
        ASSIGN_OR_RETURN(value, FlowParser(rest, number).ParseAll());
      }
      if (obj.Find(k) != nullptr) return LineError(number, "duplicate key '" + k + "'");
      obj.Set(std::move(k), std::move(value));
    }
    if (i_ < lines_.size() && lines_[i_].indent > indent) {
      return LineError(lines_[i_].number, "unexpected indentation");
    }
    return obj;
  }

  StatusOr<Json> Sequence(int indent) {
    Json arr = Json::MakeArray();
    while (i_ < lines_.size() && lines_[i_].indent == indent && IsSeqItem(lines_[i_].text)) {
      Line& l = lines_[i_];
      std::string rest = l.text == "-" ? "" : l.text.substr(2);
      size_t b = rest.find_first_not_of(' ');
      if (rest.empty() || b == std::string::npos) {
        ++i_;
        ASSIGN_OR_RETURN(Json v, Nested(indent, false));
        arr.Push(std::move(v));
        continue;
      }
      // "- key: v" opens a mapping whose keys sit where "key" starts: re-read this line there.
      l.indent = indent + 2 + static_cast<int>(b);
      l.text = rest.substr(b);
      ASSIGN_OR_RETURN(Json v, Block(l.indent));
      arr.Push(std::move(v));
    }
    return arr;
  }

  std::vector<Line> lines_;
  size_t i_ = 0;
};

}  // namespace

StatusOr<Json> ParseYaml(std::string_view text) {
  std::vector<Line> lines;
  int number = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string raw(text.substr(pos, end - pos));
    pos = end + 1;
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    if (number == 1 && raw.rfind("\xEF\xBB\xBF", 0) == 0) raw = raw.substr(3);
    size_t ind = 0;
    while (ind < raw.size() && raw[ind] == ' ') ++ind;
    if (ind < raw.size() && raw[ind] == '\t') {
      return LineError(number, "tabs cannot indent YAML; use spaces");
    }
    std::string body = StripComment(raw.substr(ind));
    while (!body.empty() && (body.back() == ' ' || body.back() == '\t')) body.pop_back();
    if (body.empty()) continue;
    if (body == "---" && lines.empty()) continue;
    if (body == "---" || body == "...") return LineError(number, "only one document is supported");
    lines.push_back(Line{number, static_cast<int>(ind), std::move(body)});
    if (end == text.size()) break;
  }
  return BlockParser(std::move(lines)).Document();
}

}  // namespace modelfn

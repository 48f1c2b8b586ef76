#include "observe/log_view.h"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace modelfn::observe {
namespace {

const std::string* Str(const Json& doc, std::string_view key) {
  const Json* v = doc.Find(key);
  return v != nullptr && v->is_string() ? &v->AsString() : nullptr;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

int LevelRank(std::string_view level) {
  if (level == "debug") return 0;
  if (level == "warn" || level == "warning") return 2;
  if (level == "error" || level == "fatal") return 3;
  return 1;
}

std::optional<int64_t> ParseTimestamp(std::string_view ts) {
  // YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)
  struct tm t {};
  int y, mo, d, h, mi, s;
  if (ts.size() < 20 || !Digits(ts, 0, 4, &y) || ts[4] != '-' || !Digits(ts, 5, 2, &mo) ||
      ts[7] != '-' || !Digits(ts, 8, 2, &d) || (ts[10] != 'T' && ts[10] != ' ') ||
      !Digits(ts, 11, 2, &h) || ts[13] != ':' || !Digits(ts, 14, 2, &mi) || ts[16] != ':' ||
      !Digits(ts, 17, 2, &s) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
      s > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < ts.size() && ts[pos] == '.') {
    ++pos;
    int64_t scale = 100;
    while (pos < ts.size() && ts[pos] >= '0' && ts[pos] <= '9') {
      ms += (ts[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  int64_t offset_s = 0;
  if (pos < ts.size() && (ts[pos] == 'Z' || ts[pos] == 'z')) {
    ++pos;
  } else if (pos < ts.size() && (ts[pos] == '+' || ts[pos] == '-')) {
    int oh, om;
    if (!Digits(ts, pos + 1, 2, &oh) || pos + 3 >= ts.size() || ts[pos + 3] != ':' ||
        !Digits(ts, pos + 4, 2, &om))
      return std::nullopt;
    offset_s = (ts[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != ts.size()) return std::nullopt;
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = s;
  return (static_cast<int64_t>(timegm(&t)) - offset_s) * 1000 + ms;
}

StatusOr<int64_t> ParseSince(std::string_view text, int64_t now_ms) {
  if (auto ts = ParseTimestamp(text)) return *ts;
  if (text.size() >= 2) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
    const char unit = text.back();
    const int64_t scale = unit == 's'   ? 1000
                          : unit == 'm' ? 60'000
                          : unit == 'h' ? 3'600'000
                          : unit == 'd' ? 86'400'000
                                        : 0;
    if (ec == std::errc() && end == text.data() + text.size() - 1 && n >= 0 && scale != 0 &&
        n <= 3650LL * 86'400'000 / scale)
      return now_ms - n * scale;
  }
  return InvalidArgumentError(
      "--since takes a duration (30s, 10m, 2h, 1d) or a time "
      "(2026-12-04T10:00:00Z): " +
      std::string(text));
}

bool LogFilter::Matches(const Json& line) const {
  if (!line.is_object()) return since_ms == 0 && min_level == 0 && request_id.empty();
  if (since_ms != 0) {
    const std::string* ts = Str(line, "ts");
    auto ms = ts ? ParseTimestamp(*ts) : std::nullopt;
    if (!ms || *ms < since_ms) return false;
  }
  if (min_level > 0) {
    const std::string* level = Str(line, "level");
    if (LevelRank(level ? *level : "info") < min_level) return false;
  }
  if (!request_id.empty()) {
    const std::string* id = Str(line, "request_id");
    if (id == nullptr || *id != request_id) return false;
  }
  return true;
}

std::string PrettyLine(const std::string& function, const Json& line, bool color) {
  auto str = [&](const char* k) {
    const std::string* v = line.is_object() ? Str(line, k) : nullptr;
    return v ? *v : std::string();
  };
  std::string ts = str("ts");
  std::string time = ts.size() >= 23 ? ts.substr(11, 12) : ts;
  std::string level = str("level");
  std::string upper;
  for (char c : level.empty() ? std::string("info") : level) upper += static_cast<char>(toupper(c));
  const char* level_color = LevelRank(level) >= 3   ? "\033[31m"
                            : LevelRank(level) == 2 ? "\033[33m"
                                                    : "\033[32m";
  char head[160];
  snprintf(head, sizeof head, "%s %s%-12s%s %s%-5s%s", time.c_str(), color ? "\033[36m" : "",
           function.c_str(), color ? "\033[0m" : "", color ? level_color : "", upper.c_str(),
           color ? "\033[0m" : "");
  std::string out = head;
  std::string event = str("event");
  out += " " + (event.empty() ? std::string("log") : event);
  if (std::string id = str("request_id"); !id.empty()) out += " " + id;
  if (event == "request") {
    out += " " + str("method") + " " + str("path");
    if (const Json* st = line.Find("status"); st && st->is_number()) out += " " + st->Dump();
    if (const Json* ms = line.Find("handler_ms"); ms && ms->is_number())
      out += " " + ms->Dump() + " ms";
    if (std::string code = str("code"); !code.empty()) out += " " + code;
    if (const Json* cold = line.Find("cold_start"); cold && cold->is_bool() && cold->AsBool())
      out += " cold";
  } else if (std::string msg = str("msg"); !msg.empty()) {
    out += " " + msg;
  } else if (std::string err = str("error"); !err.empty()) {
    out += " " + err;
  }
  return out;
}

}  // namespace modelfn::observe

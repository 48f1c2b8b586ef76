#include "plan/traffic.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>
#include <set>

#include "common/json.h"

namespace modelfn {
namespace plan {
namespace {

Status Bad(const std::string& message) {
  return Status(StatusCode::kInvalidArgument, message, "invalid_traffic");
}

// A finite non-negative number at the front of `w`; the rest in `*unit`.
bool SplitNumber(std::string_view w, double* value, std::string_view* unit) {
  size_t i = 0;
  while (i < w.size() && (isdigit(static_cast<unsigned char>(w[i])) || w[i] == '.')) ++i;
  if (i == 0 || i > 32) return false;
  std::string num(w.substr(0, i));
  char* end = nullptr;
  double v = strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size() || !std::isfinite(v) || v < 0) return false;
  *value = v;
  *unit = w.substr(i);
  return true;
}

StatusOr<double> ParseRate(std::string_view w) {
  double v;
  std::string_view unit;
  if (!SplitNumber(w, &v, &unit)) return Bad("traffic: \"" + std::string(w) + "\" is not a rate");
  double per_s;
  if (unit == "rps" || unit == "/s") {
    per_s = v;
  } else if (unit == "/min" || unit == "rpm") {
    per_s = v / 60;
  } else if (unit == "/h") {
    per_s = v / 3600;
  } else if (unit == "/d" || unit == "/day") {
    per_s = v / 86400;
  } else {
    return Bad("traffic: \"" + std::string(w) +
               "\" is not a rate (say 20rps, 20/s, 300/min, 5000/h or 1000/day)");
  }
  if (per_s > 100'000) return Bad("traffic: a rate above 100,000 requests per second");
  return per_s;
}

StatusOr<double> ParseFactor(std::string_view w) {
  double v;
  std::string_view unit;
  if (!SplitNumber(w, &v, &unit) || (unit != "x" && unit != "X"))
    return Bad("traffic: \"" + std::string(w) + "\" is not a factor like 10x");
  if (v > 10'000) return Bad("traffic: a spike above 10,000x");
  return v;
}

StatusOr<int64_t> ParseCount(std::string_view w) {
  double v;
  std::string_view unit;
  if (!SplitNumber(w, &v, &unit) || !unit.empty() || v != std::floor(v) || v < 1 || v > 1e6)
    return Bad("traffic: \"" + std::string(w) + "\" is not a count from 1 to 1,000,000");
  return static_cast<int64_t>(v);
}

struct Periodic {
  double factor = 1;  // spike: the rate's multiplier; off: 0
  double dur_s = 0;
  double per_s = 0;
  bool at_end = false;  // off: the last dur_s of each period
};

struct Burst {
  int64_t n = 0;
  double per_s = 0;
};

// Is `t` inside `p`'s active part?
bool Active(const Periodic& p, double t) {
  double phase = std::fmod(t, p.per_s);
  return p.at_end ? phase >= p.per_s - p.dur_s : phase < p.dur_s;
}

bool ParseTimeOfDay(const std::string& ts, double* seconds) {
  int y, mo, d, h, mi;
  double s;
  char z = 0;
  if (sscanf(ts.c_str(), "%4d-%2d-%2dT%2d:%2d:%lf%c", &y, &mo, &d, &h, &mi, &s, &z) != 7 ||
      z != 'Z')
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s < 0 || s >= 61) return false;
  tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  *seconds = static_cast<double>(timegm(&t)) + s;
  return true;
}

}  // namespace

StatusOr<double> ParseDuration(std::string_view w) {
  double v;
  std::string_view unit;
  if (!SplitNumber(w, &v, &unit))
    return Bad("traffic: \"" + std::string(w) + "\" is not a duration");
  double mult;
  if (unit == "ms") {
    mult = 1e-3;
  } else if (unit == "s") {
    mult = 1;
  } else if (unit == "m" || unit == "min") {
    mult = 60;
  } else if (unit == "h") {
    mult = 3600;
  } else if (unit == "d") {
    mult = 86400;
  } else {
    return Bad("traffic: \"" + std::string(w) +
               "\" is not a duration (say 500ms, 30s, 2m, 1h or 1d)");
  }
  double s = v * mult;
  if (s <= 0) return Bad("traffic: the duration \"" + std::string(w) + "\" is not above zero");
  return s;
}

StatusOr<Traffic> TrafficFromPattern(std::string_view pattern) {
  std::vector<std::string> words;
  std::string cur;
  for (char c : pattern) {
    if (c == ' ' || c == ',' || c == '\t' || c == '\n') {
      if (!cur.empty()) words.push_back(std::move(cur)), cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) words.push_back(cur);
  if (words.empty())
    return Bad("traffic: the pattern is empty (e.g. \"20rps spike 10x for 2m every 1h\")");
  if (words.size() > 200) return Bad("traffic: a pattern of more than 200 words");

  double base_rps = -1;
  std::vector<Periodic> periodic;
  std::vector<Burst> bursts;
  double duration = 0;
  bool uniform = false;
  uint64_t seed = 1;
  size_t i = 0;
  auto expect = [&](size_t at, const char* word, const char* form) -> Status {
    if (at >= words.size() || words[at] != word)
      return Bad(std::string("traffic: expected \"") + word + "\" in \"" + form + "\"" +
                 (at < words.size() ? " at \"" + words[at] + "\"" : std::string(" at the end")));
    return Status::Ok();
  };
  while (i < words.size()) {
    const std::string& w = words[i];
    if (w == "spike") {
      // spike Kx for DUR every PER
      if (i + 1 >= words.size()) return Bad("traffic: \"spike\" needs \"Kx for DUR every PER\"");
      ASSIGN_OR_RETURN(double k, ParseFactor(words[i + 1]));
      RETURN_IF_ERROR(expect(i + 2, "for", "spike Kx for DUR every PER"));
      if (i + 3 >= words.size()) return Bad("traffic: \"spike\" needs a duration after \"for\"");
      ASSIGN_OR_RETURN(double dur, ParseDuration(words[i + 3]));
      RETURN_IF_ERROR(expect(i + 4, "every", "spike Kx for DUR every PER"));
      if (i + 5 >= words.size()) return Bad("traffic: \"spike\" needs a period after \"every\"");
      ASSIGN_OR_RETURN(double per, ParseDuration(words[i + 5]));
      if (dur >= per) return Bad("traffic: a spike lasts less than its period");
      periodic.push_back({k, dur, per, false});
      i += 6;
    } else if (w == "off") {
      // off DUR every PER
      if (i + 3 >= words.size()) return Bad("traffic: \"off\" needs \"DUR every PER\"");
      ASSIGN_OR_RETURN(double dur, ParseDuration(words[i + 1]));
      RETURN_IF_ERROR(expect(i + 2, "every", "off DUR every PER"));
      ASSIGN_OR_RETURN(double per, ParseDuration(words[i + 3]));
      if (dur >= per) return Bad("traffic: an off time lasts less than its period");
      periodic.push_back({0, dur, per, true});
      i += 4;
    } else if (w == "burst") {
      // burst N every PER
      if (i + 3 >= words.size()) return Bad("traffic: \"burst\" needs \"N every PER\"");
      ASSIGN_OR_RETURN(int64_t n, ParseCount(words[i + 1]));
      RETURN_IF_ERROR(expect(i + 2, "every", "burst N every PER"));
      ASSIGN_OR_RETURN(double per, ParseDuration(words[i + 3]));
      bursts.push_back({n, per});
      i += 4;
    } else if (w == "for") {
      if (i + 1 >= words.size()) return Bad("traffic: \"for\" needs a duration");
      ASSIGN_OR_RETURN(duration, ParseDuration(words[i + 1]));
      i += 2;
    } else if (w == "uniform") {
      uniform = true;
      ++i;
    } else if (w == "seed") {
      if (i + 1 >= words.size()) return Bad("traffic: \"seed\" needs a number");
      ASSIGN_OR_RETURN(int64_t s, ParseCount(words[i + 1]));
      seed = static_cast<uint64_t>(s);
      i += 2;
    } else if (w == "steady" || w == "with" || w == "and") {
      ++i;  // readable filler: "steady 20rps with a spike ..." minus the "a"
    } else {
      if (base_rps >= 0) return Bad("traffic: \"" + w + "\" is not a word of a traffic pattern");
      auto r = ParseRate(w);
      if (!r.ok()) {
        return Bad("traffic: \"" + w +
                   "\" is not a word of a traffic pattern (a rate like 20rps, or spike, off, "
                   "burst, for, uniform, seed)");
      }
      base_rps = *r;
      ++i;
    }
  }
  if (base_rps < 0 && bursts.empty())
    return Bad("traffic: the pattern names no rate (e.g. \"20rps\") and no burst");
  if (base_rps < 0) base_rps = 0;
  if (duration == 0) {
    double longest = 0;
    for (const auto& p : periodic) longest = std::max(longest, p.per_s);
    for (const auto& b : bursts) longest = std::max(longest, b.per_s);
    duration = std::max(600.0, longest);
  }
  if (duration > 7 * 86400) return Bad("traffic: simulate at most 7 days (\"for 7d\")");

  // Expected arrivals, refused before any is made.
  double expected = 0;
  {
    double active_share = 1;
    for (const auto& p : periodic) {
      double share = p.dur_s / p.per_s;
      active_share *= p.factor == 0 ? 1 - share : 1 + (p.factor - 1) * share;
    }
    expected = base_rps * duration * active_share;
    for (const auto& b : bursts) expected += b.n * std::ceil(duration / b.per_s);
  }
  if (expected > kMaxArrivals) {
    return Bad("traffic: the pattern makes about " +
               std::to_string(static_cast<int64_t>(expected)) + " requests; at most " +
               std::to_string(kMaxArrivals) + " are simulated (shorten it with \"for DUR\")");
  }

  for (const auto& p : periodic) {
    if (duration / p.per_s > 100'000)
      return Bad("traffic: a period repeats more than 100,000 times in the window");
  }
  for (const auto& b : bursts) {
    if (duration / b.per_s > 1'000'000)
      return Bad("traffic: a burst repeats more than 1,000,000 times in the window");
  }
  // Piecewise-constant rate: change points are the periodic clauses' edges.
  std::set<double> edges = {0.0, duration};
  for (const auto& p : periodic) {
    for (double start = 0; start < duration; start += p.per_s) {
      double a = p.at_end ? start + p.per_s - p.dur_s : start;
      if (a < duration) edges.insert(a);
      if (a + p.dur_s < duration) edges.insert(a + p.dur_s);
      if (p.at_end && start + p.per_s < duration) edges.insert(start + p.per_s);
    }
  }
  Traffic t;
  t.description = std::string(pattern);
  t.duration_s = duration;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double carry = 0;  // uniform: the fraction of a gap carried across segments
  for (auto it = edges.begin(); std::next(it) != edges.end(); ++it) {
    double a = *it, b = *std::next(it);
    double mid = (a + b) / 2;
    double rate = base_rps;
    for (const auto& p : periodic)
      if (Active(p, mid)) rate *= p.factor;
    if (rate <= 0) continue;
    if (uniform) {
      double gap = 1 / rate;
      double k = 0;
      double x = a + carry * gap;
      while (x < b - 1e-9) {
        t.arrivals_s.push_back(x);
        k += 1;
        x = a + (carry + k) * gap;  // by index: no drift from summing gaps
      }
      carry = (x - b) / gap;
      if (carry < 1e-9) carry = 0;
    } else {
      double x = a;
      while (true) {
        x += -std::log(1 - unit(rng)) / rate;
        if (x >= b) break;
        t.arrivals_s.push_back(x);
      }
    }
  }
  for (const auto& b : bursts) {
    for (double at = 0; at < duration; at += b.per_s)
      for (int64_t k = 0; k < b.n; ++k) t.arrivals_s.push_back(at);
  }
  std::sort(t.arrivals_s.begin(), t.arrivals_s.end());
  if (t.arrivals_s.empty()) return Bad("traffic: the pattern makes no request in its window");
  return t;
}

StatusOr<Traffic> TrafficFromTrace(std::string_view text, const std::string& name,
                                   const std::string& function) {
  std::map<std::string, std::vector<double>> by_function;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    std::string where = name + " line " + std::to_string(line_no);
    if (line.front() != '{') {
      return Bad("traffic: " + where + " is not a JSON object (a trace is JSON lines)");
    }
    Json::ParseOptions opts;
    opts.max_depth = 8;
    opts.max_elements = 4096;
    auto j = Json::Parse(line, opts);
    if (!j.ok()) return Bad("traffic: " + where + ": " + j.status().message());
    if (!j->is_object()) return Bad("traffic: " + where + " is not a JSON object");
    const Json* ev = j->Find("event");
    if (ev != nullptr && ev->is_string() && ev->AsString() != "access") continue;  // other logs
    const Json* fn = j->Find("function");
    std::string f = fn != nullptr && fn->is_string() ? fn->AsString() : "";
    double at;
    if (const Json* tv = j->Find("t"); tv != nullptr) {
      if (!tv->is_number() || !std::isfinite(tv->AsDouble()))
        return Bad("traffic: " + where + ": \"t\" is not a number of seconds");
      at = tv->AsDouble();
    } else if (const Json* ts = j->Find("ts"); ts != nullptr && ts->is_string()) {
      if (!ParseTimeOfDay(ts->AsString(), &at))
        return Bad("traffic: " + where + ": \"ts\" is not an RFC 3339 UTC time");
      const Json* ms = j->Find("ms");
      if (ev == nullptr) {
        return Bad("traffic: " + where + " has \"ts\" but is not an access line of modelfn up");
      }
      if (ms == nullptr || !ms->is_number() || ms->AsDouble() < 0)
        return Bad("traffic: " + where + ": an access line without its \"ms\"");
      at -= ms->AsDouble() / 1e3;
    } else {
      return Bad("traffic: " + where + " has neither \"t\" (seconds) nor \"ts\" (an access line)");
    }
    auto& v = by_function[f];
    if (v.size() >= kMaxArrivals)
      return Bad("traffic: " + name + " holds more than " + std::to_string(kMaxArrivals) +
                 " requests");
    v.push_back(at);
  }
  std::vector<double>* picked = nullptr;
  std::string picked_name = function;
  if (!function.empty()) {
    auto it = by_function.find(function);
    if (it == by_function.end()) {
      std::string names;
      for (const auto& [f, v] : by_function)
        names += (names.empty() ? "" : ", ") + (f.empty() ? "(none)" : f);
      return Bad("traffic: " + name + " has no request of function \"" + function + "\"" +
                 (names.empty() ? "" : " (it has: " + names + ")"));
    }
    picked = &it->second;
  } else if (by_function.size() == 1) {
    picked = &by_function.begin()->second;
    picked_name = by_function.begin()->first;
  } else if (by_function.empty()) {
    return Bad("traffic: " + name + " holds no request");
  } else {
    std::string names;
    for (const auto& [f, v] : by_function) names += (names.empty() ? "" : ", ") + f;
    return Bad("traffic: " + name + " holds requests of several functions (" + names +
               "): name one with --function");
  }
  std::sort(picked->begin(), picked->end());
  if (picked->back() - picked->front() > 7 * 86400) {
    return Bad("traffic: " + name + " spans more than 7 days: plan a part of it");
  }
  Traffic t;
  double origin = picked->front();
  t.arrivals_s.reserve(picked->size());
  for (double a : *picked) t.arrivals_s.push_back(a - origin);
  // The window ends one mean gap after the last arrival (a single request: one second).
  double last = t.arrivals_s.back();
  t.duration_s = t.arrivals_s.size() > 1 ? last + last / (t.arrivals_s.size() - 1) : 1.0;
  if (t.duration_s <= 0) t.duration_s = 1.0;
  t.function = picked_name;
  t.description = "trace " + name + (picked_name.empty() ? "" : " (function " + picked_name + ")");
  return t;
}

StatusOr<Traffic> TrafficFromArrivals(std::vector<double> wall, double now,
                                      const std::string& description) {
  if (wall.size() < 2) {
    return Bad("traffic: " + std::to_string(wall.size()) +
               " requests recorded so far: send some, or name a pattern (?traffic=20rps)");
  }
  std::sort(wall.begin(), wall.end());
  double origin = wall.front();
  if (now < wall.back()) now = wall.back();
  if (now - origin > 7 * 86400) return Bad("traffic: the recorded arrivals span more than 7 days");
  Traffic t;
  t.arrivals_s.reserve(wall.size());
  for (double a : wall) t.arrivals_s.push_back(a - origin);
  t.duration_s = std::max(now - origin, 1.0);
  t.description = description;
  return t;
}

}  // namespace plan
}  // namespace modelfn

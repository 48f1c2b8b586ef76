// modelfn logs: the logs of a running (or stopped) `modelfn up`'s instances, filtered, merged by
// time, followed as `tail -f` does (observe/log_view.h does the reading).
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "common/clock.h"
#include "common/json.h"
#include "observe/log_view.h"
#include "platform/config.h"

namespace modelfn {
namespace {

constexpr const char* kLogsUsage =
    "usage: modelfn logs [-f|--follow] [--function F] [--since 10m|TIME] [--level warn]\n"
    "                    [--request-id ID] [--config modelfn.yaml] [--json]\n"
    "\n"
    "The logs of modelfn up's instances (<state_dir>/logs/<function>.log), every function's "
    "merged\n"
    "by time: each line readable (coloured on a terminal), or as the JSON it is with --json (a\n"
    "\"function\" member added). -f keeps following, across instances and functions that start\n"
    "later, until interrupted. --since: a duration back from now (30s, 10m, 2h, 1d) or a time\n"
    "(2026-12-04T10:00:00Z); --level: debug, info, warn or error and above.\n";

struct Source {
  std::string function;
  std::string path;
  uint64_t offset = 0;
  std::string partial;  // a line not yet ended
};

struct Entry {
  int64_t ts = 0;
  std::string function;
  std::string text;  // the line as written
};

// The .log files of the folder, by function (added to `sources` when new).
void Discover(const std::string& dir, const std::string& only,
              std::map<std::string, Source>* sources) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
    std::string function = name.substr(0, name.size() - 4);
    if (!only.empty() && function != only) continue;
    if (sources->count(function) == 0)
      (*sources)[function] = Source{function, dir + "/" + name, 0, ""};
  }
  closedir(d);
}

// The complete lines written to each source since the last call.
void ReadNew(std::map<std::string, Source>* sources, std::vector<Entry>* out) {
  for (auto& [function, src] : *sources) {
    struct stat st;
    if (stat(src.path.c_str(), &st) != 0) continue;
    if (static_cast<uint64_t>(st.st_size) < src.offset) {  // truncated or replaced: from the top
      src.offset = 0;
      src.partial.clear();
    }
    if (static_cast<uint64_t>(st.st_size) == src.offset) continue;
    std::ifstream f(src.path, std::ios::binary);
    f.seekg(static_cast<std::streamoff>(src.offset));
    std::string chunk(static_cast<size_t>(st.st_size) - src.offset, '\0');
    f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<size_t>(f.gcount()));
    src.offset += chunk.size();
    std::string text = src.partial + chunk;
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      Entry e;
      e.function = function;
      e.text = text.substr(start, nl - start);
      out->push_back(std::move(e));
    }
    src.partial = text.substr(start);
  }
}

volatile sig_atomic_t stop_following = 0;

}  // namespace

int CmdLogs(int argc, char** argv) {
  Args a(argc, argv, {"function", "since", "level", "request-id", "config", "file"},
         {"f", "follow", "json", "help"});
  if (a.Has("help")) return fputs(kLogsUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty()) return Usage(kLogsUsage, a.ok() ? "" : a.error());
  auto config = LoadPlatformConfig(a.Get("config", a.Get("file", "modelfn.yaml")));
  if (!config.ok()) return Fail(config.status());
  observe::LogFilter filter;
  const int64_t now_ms = RealClock::Get().WallNanos() / 1'000'000;
  if (a.Has("since")) {
    auto since = observe::ParseSince(a.Get("since"), now_ms);
    if (!since.ok()) return Usage(kLogsUsage, since.status().message());
    filter.since_ms = *since;
  }
  if (a.Has("level")) {
    std::string level = a.Get("level");
    if (level != "debug" && level != "info" && level != "warn" && level != "error")
      return Usage(kLogsUsage, "--level takes debug, info, warn or error");
    filter.min_level = observe::LevelRank(level);
  }
  filter.request_id = a.Get("request-id");
  const std::string only = a.Get("function");
  const bool json = a.Has("json");
  const bool follow = a.Has("f") || a.Has("follow");
  const bool color = !json && isatty(STDOUT_FILENO);
  const std::string dir = config->state_dir + "/logs";
  std::map<std::string, Source> sources;
  Discover(dir, only, &sources);
  if (sources.empty() && !follow) {
    return Fail(only.empty() ? "no logs in " + dir + " (has modelfn up run here?)"
                             : "no logs of function " + only + " in " + dir);
  }
  auto show = [&](std::vector<Entry> entries) {
    std::vector<std::pair<Entry, Json>> shown;
    for (Entry& e : entries) {
      auto doc = Json::Parse(e.text);
      Json line = doc.ok() ? std::move(doc).value() : Json::String(e.text);
      if (!filter.Matches(line)) continue;
      const Json* ts = line.is_object() ? line.Find("ts") : nullptr;
      auto ms = ts && ts->is_string() ? observe::ParseTimestamp(ts->AsString()) : std::nullopt;
      e.ts = ms.value_or(0);
      shown.emplace_back(std::move(e), std::move(line));
    }
    std::stable_sort(shown.begin(), shown.end(),
                     [](const auto& x, const auto& y) { return x.first.ts < y.first.ts; });
    for (auto& [e, line] : shown) {
      if (json) {
        if (line.is_object()) {
          line.Set("function", Json::String(e.function));
          printf("%s\n", line.Dump().c_str());
        } else {
          Json wrapped = Json::MakeObject();
          wrapped.Set("function", Json::String(e.function));
          wrapped.Set("raw", Json::String(e.text));
          printf("%s\n", wrapped.Dump().c_str());
        }
      } else {
        printf("%s\n", line.is_object() ? observe::PrettyLine(e.function, line, color).c_str()
                                        : (e.function + " " + e.text).c_str());
      }
    }
    fflush(stdout);
  };
  std::vector<Entry> entries;
  ReadNew(&sources, &entries);
  show(std::move(entries));
  if (!follow) return 0;
  signal(SIGINT, [](int) { stop_following = 1; });
  signal(SIGTERM, [](int) { stop_following = 1; });
  while (!stop_following) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Discover(dir, only, &sources);
    std::vector<Entry> more;
    ReadNew(&sources, &more);
    show(std::move(more));
  }
  return 0;
}

}  // namespace modelfn

#include "cli/args.h"

#include <unistd.h>

#include <cstdio>
#include <string_view>

#include "common/json.h"

namespace modelfn {

Args::Args(int argc, char** argv, std::set<std::string> value_flags,
           std::set<std::string> bool_flags) {
  // Under --json even the errors are JSON (on stdout, where the data would have been), from the
  // first one: a flag this command does not know is reported as JSON too.
  if (bool_flags.count("json")) {
    for (int i = 0; i < argc; ++i) {
      if (std::string_view(argv[i]) == "--json") SetJsonErrors(true);
    }
  }
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    // A one-letter short option ("-f FILE") is the long option of that letter.
    if (a.size() == 2 && a[0] == '-' && a[1] != '-' && a[1] != 'h') a = "--" + a.substr(1);
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      bool inline_value = false;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      if (bool_flags.count(name)) {
        values_.emplace(name, "1");
      } else if (value_flags.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argc) {
            error_ = "--" + name + " needs a value";
            return;
          }
          value = argv[++i];
        }
        values_.emplace(name, value);
      } else {
        error_ = "unknown option --" + name;
        return;
      }
    } else if (a == "-h") {
      values_.emplace("help", "1");
    } else {
      positional_.push_back(a);
    }
  }
}

std::string Args::Get(const std::string& flag, const std::string& def) const {
  auto it = values_.find(flag);
  return it == values_.end() ? def : it->second;
}

std::vector<std::string> Args::GetAll(const std::string& flag) const {
  std::vector<std::string> out;
  auto [lo, hi] = values_.equal_range(flag);
  for (auto it = lo; it != hi; ++it) out.push_back(it->second);
  return out;
}

namespace {
bool json_errors = false;
}  // namespace

void SetJsonErrors(bool on) { json_errors = on; }
bool JsonErrors() { return json_errors; }

void PrintJsonError(const std::string& code, const std::string& title, const std::string& detail,
                    int exit_code) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("error").BeginObject().Key("code").String(code).Key("title").String(title);
  w.Key("detail").String(detail).Key("exit_code").Int(exit_code).EndObject().EndObject();
  printf("%s\n", out.c_str());
  fflush(stdout);
}

int Usage(const char* text, const std::string& error) {
  if (!error.empty()) fprintf(stderr, "modelfn: %s\n", error.c_str());
  fputs(text, stderr);
  if (json_errors) PrintJsonError("usage_error", "Usage error", error.empty() ? "usage" : error, 2);
  return 2;
}

int Fail(const std::string& message) {
  fprintf(stderr, "modelfn: %s\n", message.c_str());
  if (json_errors) PrintJsonError("command_failed", "Command failed", message, 1);
  return 1;
}

std::string SelfDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/'));
}

std::string BinariesFor(const std::string& arch) {
#if defined(__x86_64__)
  const char* host = "x86_64";
#else
  const char* host = "arm64";
#endif
  return arch == host ? SelfDir() : SelfDir() + "/" + arch;
}

}  // namespace modelfn

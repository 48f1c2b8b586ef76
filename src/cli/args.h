// A small command-line flag parser for the modelfn subcommands: "--flag value", "--flag=value",
// boolean "--flag", and positional arguments, with usage errors reported as text.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace modelfn {

class Args {
 public:
  // `value_flags` take a value; `bool_flags` do not. Anything else starting with "--" is an error.
  Args(int argc, char** argv, std::set<std::string> value_flags, std::set<std::string> bool_flags);

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool Has(const std::string& flag) const { return values_.count(flag) > 0; }
  std::string Get(const std::string& flag, const std::string& def = "") const;
  std::vector<std::string> GetAll(const std::string& flag) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
  std::string error_;
};

// Shared by the subcommands: a usage error (the message, then the usage text; exit code 2), a
// failure (exit code 1), and the folder holding this executable (where modelfn-fn is installed).
// Under --json (SetJsonErrors, set by Args when a command that takes --json got it), both also
// print {"error": {"code", "title", "detail", "exit_code"}} on stdout: code "usage_error" (exit
// 2), "command_failed" (exit 1), or the problem code of a failed Status (cli_common.h Fail).
int Usage(const char* text, const std::string& error = "");
int Fail(const std::string& message);
void SetJsonErrors(bool on);
bool JsonErrors();
void PrintJsonError(const std::string& code, const std::string& title, const std::string& detail,
                    int exit_code);
std::string SelfDir();
// Where the function binaries (modelfn-fn, modelfn-bootstrap) for a Lambda `arch` are: SelfDir()
// for this machine's architecture, else its arm64/ or x86_64/ folder.
std::string BinariesFor(const std::string& arch);

}  // namespace modelfn

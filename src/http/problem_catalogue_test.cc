// The problem catalogue (problem.cc) and the list users read (docs/api.md, "Errors") name the same
// codes with the same statuses.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "http/problem.h"

namespace modelfn {
namespace {

// code -> the statuses docs/api.md gives it ("501/505" lists two).
using Documented = std::map<std::string, std::set<int>>;

// Codes of the "## Errors" section: its table rows (| `code` | 400 | ...) and the gateway's codes
// in prose (`code` 401).
Documented ReadDocumentedCodes(const std::string& markdown) {
  size_t start = markdown.find("\n## Errors\n");
  EXPECT_NE(start, std::string::npos) << "docs/api.md has no '## Errors' section";
  if (start == std::string::npos) return {};
  size_t end = markdown.find("\n## ", start + 1);
  std::string section = markdown.substr(start, end == std::string::npos ? end : end - start);
  Documented out;
  auto add = [&](const std::string& code, const std::string& statuses) {
    std::stringstream ss(statuses);
    std::string one;
    while (std::getline(ss, one, '/')) out[code].insert(std::stoi(one));
  };
  static const std::regex kRow(R"(^\| `([a-z][a-z0-9_]*)` \| ([0-9/]+) \|)");
  static const std::regex kProse(R"(`([a-z][a-z0-9_]*)`\s+([1-5][0-9][0-9])\b)");
  std::stringstream lines(section);
  std::string line;
  std::string prose;  // lines outside the table, joined: a code and its status may wrap
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, kRow)) {
      add(m[1], m[2]);
    } else {
      prose += line + " ";
    }
  }
  for (auto it = std::sregex_iterator(prose.begin(), prose.end(), kProse);
       it != std::sregex_iterator(); ++it) {
    add((*it)[1], (*it)[2]);
  }
  return out;
}

std::string ReadApiDoc() {
  std::ifstream f(std::string(MODELFN_SOURCE_DIR) + "/docs/api.md");
  EXPECT_TRUE(f.good()) << "cannot read docs/api.md";
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(ProblemCatalogueTest, EveryCodeIsDocumentedWithItsStatus) {
  Documented docs = ReadDocumentedCodes(ReadApiDoc());
  for (std::string_view code : ProblemCodes()) {
    auto it = docs.find(std::string(code));
    if (it == docs.end()) {
      ADD_FAILURE() << "code '" << code << "' is in src/http/problem.cc but not in docs/api.md";
      continue;
    }
    EXPECT_TRUE(it->second.count(StatusForCode(code)))
        << "docs/api.md gives '" << code << "' another status than " << StatusForCode(code);
  }
}

TEST(ProblemCatalogueTest, EveryDocumentedCodeExists) {
  Documented docs = ReadDocumentedCodes(ReadApiDoc());
  EXPECT_GT(docs.size(), 10u) << "the list in docs/api.md was not found where expected";
  std::set<std::string_view> known;
  for (std::string_view code : ProblemCodes()) known.insert(code);
  for (const auto& [code, statuses] : docs) {
    EXPECT_TRUE(known.count(code))
        << "docs/api.md lists '" << code << "', which src/http/problem.cc does not have";
  }
}

TEST(ProblemCatalogueTest, TheReaderSeesRowsAndProse) {
  Documented d = ReadDocumentedCodes(
      "intro `x` 404\n## Errors\n| code | status | when |\n| --- | --- | --- |\n"
      "| `a_b` | 400 | text `not_a_code` here |\n| `c` | 501/505 | two |\n"
      "Gateway: `d` 401, `e`\n429 (busy).\n## Next\n| `f` | 500 | after |\n");
  Documented want = {{"a_b", {400}}, {"c", {501, 505}}, {"d", {401}}, {"e", {429}}};
  EXPECT_EQ(d, want);
}

}  // namespace
}  // namespace modelfn

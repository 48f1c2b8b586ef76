#include "common/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

namespace modelfn {
namespace {

// Reads what the log wrote to a pipe, split into lines.
std::vector<std::string> Lines(int fd) {
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  std::vector<std::string> lines;
  std::istringstream in(all);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Whatever a client puts in a logged field (line breaks, NUL, ANSI escapes, invalid UTF-8), each
// event stays one line that parses as one JSON object and gives the text back escaped.
TEST(EventLogTest, HostileFieldsStayOneJsonObjectPerLine) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  FakeClock clock;
  EventLog log(fds[1], &clock);
  const char kHostile[] = "id\n{\"event\":\"forged\"}\r\x00\x1b[2J\xff\xc0\xaf\xed\xa0\x80";
  const std::string hostile(kHostile, sizeof kHostile - 1);
  log.Message("warn", hostile);
  auto line = log.Begin("request");
  line.w().Key("request_id").String(hostile).Key(hostile).Int(1);
  log.Emit(line);
  close(fds[1]);
  std::vector<std::string> lines = Lines(fds[0]);
  close(fds[0]);
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& l : lines) {
    auto j = Json::Parse(l);  // also checks the line is valid UTF-8
    ASSERT_TRUE(j.ok()) << j.status().ToString() << ": " << l;
    EXPECT_TRUE(j->is_object());
    EXPECT_EQ(l.find('\x1b'), std::string::npos);
  }
  auto req = Json::Parse(lines[1]);
  const std::string kept = hostile.substr(0, hostile.find('\xff'));  // valid UTF-8, escaped
  std::string replaced;
  for (int i = 0; i < 6; ++i) replaced += "\xef\xbf\xbd";  // U+FFFD per byte of the rest
  EXPECT_EQ(req->Find("request_id")->AsString(), kept + replaced);
}

}  // namespace
}  // namespace modelfn

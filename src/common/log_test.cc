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

// Inside a LogBatch, info lines wait for Flush (or the batch's end) and go out in order; a warning
// flushes what is gathered and goes out at once; a nested batch changes nothing.
TEST(LogBatchTest, GathersInfoLinesUntilFlushAndWritesUrgentOnesAtOnce) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  FakeClock clock;
  EventLog log(fds[1], &clock);
  {
    LogBatch batch;
    log.Message("info", "one");
    log.Message("info", "two");
    EXPECT_TRUE(Lines(fds[0]).empty());
    {
      LogBatch nested;  // inert: the outer batch keeps gathering
      log.Message("info", "three");
    }
    EXPECT_TRUE(Lines(fds[0]).empty());
    batch.Flush();
    std::vector<std::string> lines = Lines(fds[0]);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_NE(lines[0].find("\"one\""), std::string::npos);
    EXPECT_NE(lines[2].find("\"three\""), std::string::npos);

    log.Message("info", "four");
    log.Message("error", "five");  // flushes "four" first
    lines = Lines(fds[0]);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("\"four\""), std::string::npos);
    EXPECT_NE(lines[1].find("\"five\""), std::string::npos);
    log.Message("info", "six");
  }
  std::vector<std::string> lines = Lines(fds[0]);  // the batch's end wrote "six"
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"six\""), std::string::npos);
  log.Message("info", "seven");  // no batch: at once
  EXPECT_EQ(Lines(fds[0]).size(), 1u);
  close(fds[0]);
  close(fds[1]);
}

// Lines for another descriptor flush the gathered ones first, so each descriptor keeps its order;
// a batch that grows past its limit writes without waiting for Flush.
TEST(LogBatchTest, AnotherDescriptorOrALargeBatchFlushes) {
  int a[2], b[2];
  ASSERT_EQ(pipe(a), 0);
  ASSERT_EQ(pipe(b), 0);
  ASSERT_EQ(fcntl(a[0], F_SETFL, O_NONBLOCK), 0);
  ASSERT_EQ(fcntl(b[0], F_SETFL, O_NONBLOCK), 0);
  ASSERT_EQ(fcntl(a[1], F_SETPIPE_SZ, 1 << 20), 1 << 20);
  FakeClock clock;
  EventLog la(a[1], &clock), lb(b[1], &clock);
  LogBatch batch;
  la.Message("info", "a1");
  lb.Message("info", "b1");
  EXPECT_EQ(Lines(a[0]).size(), 1u);
  EXPECT_TRUE(Lines(b[0]).empty());
  la.Message("info", "a2");
  EXPECT_EQ(Lines(b[0]).size(), 1u);
  const std::string big(1000, 'x');
  size_t written = 0;
  for (int i = 0; i < 100; ++i) {
    la.Message("info", big);
    written += Lines(a[0]).size();
  }
  EXPECT_GE(written, 50u);  // 100 lines of ~1.1 KB: a 64 KiB batch went out before Flush
  batch.Flush();
  EXPECT_EQ(written + Lines(a[0]).size(), 101u);
  for (int fd : {a[0], a[1], b[0], b[1]}) close(fd);
}

}  // namespace
}  // namespace modelfn

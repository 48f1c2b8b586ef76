#include "gateway/observe_stage.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::MakeExchange;

TEST(ObserveStageTest, FunctionAnswersAreCountedOthersAreNot) {
  GatewayMetrics metrics;
  FakeClock clock;
  ObserveStage stage(&metrics, nullptr, &clock);
  FunctionRoute fn;
  fn.name = "digits";
  auto ex = MakeExchange("POST", "/v1/infer");
  ex->function = &fn;
  ex->route = "/v1/infer";
  ex->arrived_ns = clock.MonotonicNanos();
  ex->response.status = 405;
  clock.Advance(3'000'000);
  stage.OnAnswer(*ex);
  auto local = MakeExchange("GET", "/v1/health");
  stage.OnAnswer(*local);
  auto s = metrics.Summaries();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s["digits"].requests, 1u);
  EXPECT_EQ(s["digits"].client_errors, 1u);
}

TEST(ObserveStageTest, ForwardedRequestsAreLogged) {
  char path[] = "/tmp/observe_logXXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  FakeClock clock;
  EventLog log(fd, &clock);
  GatewayMetrics metrics;
  ObserveStage stage(&metrics, &log, &clock);
  FunctionRoute fn;
  fn.name = "digits";
  auto ex = MakeExchange("POST", "/v1/infer");
  ex->function = &fn;
  ex->request_id = "rid-9";
  ex->principal.id = "key:abc";
  ex->forwarded = true;
  ex->reply.version = "4";
  ex->reply.instance = "digits-4-1";
  ex->response.status = 200;
  stage.OnAnswer(*ex);
  auto unforwarded = MakeExchange("POST", "/v1/infer");
  unforwarded->function = &fn;
  stage.OnAnswer(*unforwarded);
  close(fd);
  FILE* f = fopen(path, "r");
  char line[4096];
  int lines = 0;
  std::string first;
  while (fgets(line, sizeof line, f)) {
    if (lines++ == 0) first = line;
  }
  fclose(f);
  unlink(path);
  EXPECT_EQ(lines, 1);
  auto j = Json::Parse(first);
  ASSERT_TRUE(j.ok()) << first;
  EXPECT_EQ(j->Find("event")->AsString(), "access");
  EXPECT_EQ(j->Find("request_id")->AsString(), "rid-9");
  EXPECT_EQ(j->Find("version")->AsString(), "4");
  EXPECT_EQ(j->Find("principal")->AsString(), "key:abc");
  EXPECT_EQ(metrics.Summaries()["digits"].requests, 2u);
}

}  // namespace
}  // namespace modelfn::gateway

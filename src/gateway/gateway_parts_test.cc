// Unit tests of the gateway's smaller parts: token buckets, latency quantiles, the key store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "common/json.h"
#include "gateway/keys.h"
#include "gateway/metrics.h"
#include "gateway/rate_limit.h"

namespace modelfn {
namespace {

constexpr int64_t kSec = 1'000'000'000;

TEST(RateLimiterTest, BurstThenRefillAtTheRate) {
  RateLimiter r;
  int64_t t = 100 * kSec;
  EXPECT_TRUE(r.Take("k", 2, 3, t).allowed);
  EXPECT_TRUE(r.Take("k", 2, 3, t).allowed);
  RateDecision last = r.Take("k", 2, 3, t);
  EXPECT_TRUE(last.allowed);
  EXPECT_EQ(last.remaining, 0);
  RateDecision refused = r.Take("k", 2, 3, t);
  EXPECT_FALSE(refused.allowed);
  EXPECT_DOUBLE_EQ(refused.retry_after_s, 0.5);
  EXPECT_TRUE(r.Take("k", 2, 3, t + kSec / 2).allowed);  // one token back after 1/rate
  EXPECT_FALSE(r.Take("k", 2, 3, t + kSec / 2).allowed);
  EXPECT_TRUE(r.Take("other", 2, 3, t).allowed);  // buckets are per key
  // Never more than the burst, however long the wait.
  RateDecision later = r.Take("k", 2, 3, t + 1000 * kSec);
  EXPECT_EQ(later.remaining, 2);
}

TEST(LatencyHistogramTest, QuantilesInterpolateWithinBuckets) {
  LatencyHistogram h;
  EXPECT_EQ(h.Quantile(0.5), 0);
  for (int i = 0; i < 99; ++i) h.Add(0.0007);  // bucket (0.0005, 0.001]
  h.Add(2.0);                                  // bucket (1, 2.5]
  EXPECT_GT(h.Quantile(0.5), 0.0005);
  EXPECT_LE(h.Quantile(0.5), 0.001);
  EXPECT_GT(h.Quantile(0.999), 1.0);
  EXPECT_EQ(h.count, 100u);
}

TEST(GatewayMetricsTest, RendersPrometheusText) {
  GatewayMetrics m;
  m.Record("f\"x", "1.0", "/v1/infer", 200, 0.002);
  m.Record("f\"x", "1.0", "/v1/infer", 503, 0.2);
  std::string text = m.Render();
  EXPECT_NE(text.find("modelfn_gateway_requests_total{function=\"f\\\"x\",version=\"1.0\","
                      "route=\"/v1/infer\",status=\"503\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("le=\"+Inf\"} 2"), std::string::npos);
  auto s = m.Summaries().at("f\"x");
  EXPECT_EQ(s.requests, 2u);
  EXPECT_EQ(s.errors, 1u);
}

TEST(KeyStoreTest, CreateAuthenticateRevokeAndCountUsage) {
  std::string path = ::testing::TempDir() + "/keys" + std::to_string(getpid()) + ".db";
  unlink(path.c_str());
  auto store = KeyStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto k = (*store)->Create("alice", "free", "2026-11-28T00:00:00.000Z");
  ASSERT_TRUE(k.ok());
  const std::string& key = k->second;
  auto who = (*store)->Authenticate(key);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->name, "alice");
  EXPECT_EQ(who->plan, "free");
  std::string tampered = key;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  EXPECT_EQ((*store)->Authenticate(tampered).status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*store)->Authenticate("mfn_short").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*(*store)->AddUsage(who->id, "2026-11-28", 1), 1);
  EXPECT_EQ(*(*store)->AddUsage(who->id, "2026-11-28", 1), 2);
  EXPECT_EQ(*(*store)->AddUsage(who->id, "2026-11", 1), 1);
  ASSERT_TRUE((*store)->Revoke("alice", "2026-11-28T01:00:00.000Z").ok());
  EXPECT_EQ((*store)->Authenticate(key).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*store)->Revoke("alice", "x").code(), StatusCode::kNotFound);
  // A second connection (the CLI) sees the same keys.
  auto again = KeyStore::Open(path);
  EXPECT_EQ((*again)->List()->size(), 1u);
}

// A key store whose file is then changed under it by `damage`: every later call must fail
// closed, with Unavailable, whatever the key.
void ExpectFailsClosedAfter(const std::string& name, void (*damage)(const std::string& path)) {
  std::string path = ::testing::TempDir() + "/" + name + std::to_string(getpid()) + ".db";
  unlink(path.c_str());
  auto store = KeyStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto k = (*store)->Create("alice", "free", "2026-11-28T00:00:00.000Z");
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE((*store)->Authenticate(k->second).ok());
  damage(path);
  auto who = (*store)->Authenticate(k->second);
  EXPECT_EQ(who.status().code(), StatusCode::kUnavailable) << who.status().ToString();
  EXPECT_EQ(who.status().reason(), "auth_unavailable");
  EXPECT_EQ((*store)->Authenticate("mfn_0000000_x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*store)->AddUsage(k->first.id, "2026-11", 1).status().code(),
            StatusCode::kUnavailable);
}

TEST(KeyStoreTest, DeletedDatabaseFailsClosed) {
  ExpectFailsClosedAfter("deleted", [](const std::string& path) { unlink(path.c_str()); });
}

TEST(KeyStoreTest, ReplacedDatabaseFailsClosed) {
  ExpectFailsClosedAfter("replaced", [](const std::string& path) {
    std::string other = path + ".new";
    FILE* f = fopen(other.c_str(), "w");
    fputs("not a database", f);
    fclose(f);
    rename(other.c_str(), path.c_str());
  });
}

TEST(KeyStoreTest, TruncatedDatabaseFailsClosed) {
  ExpectFailsClosedAfter("truncated",
                         [](const std::string& path) { ASSERT_EQ(truncate(path.c_str(), 0), 0); });
}

}  // namespace
}  // namespace modelfn

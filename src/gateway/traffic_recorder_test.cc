#include "gateway/traffic_recorder.h"

#include <gtest/gtest.h>

#include <thread>

namespace modelfn::gateway {
namespace {

TEST(TrafficRecorderTest, KeepsTheMostRecentArrivalsOldestFirst) {
  TrafficRecorder r({"digits"}, 3);
  for (double t : {1.0, 2.0}) r.Record("digits", t);
  EXPECT_EQ(r.Snapshot("digits"), (std::vector<double>{1, 2}));
  for (double t : {3.0, 4.0, 5.0}) r.Record("digits", t);
  EXPECT_EQ(r.Snapshot("digits"), (std::vector<double>{3, 4, 5}));
  r.Record("other", 9);
  EXPECT_TRUE(r.Snapshot("other").empty());
}

TEST(TrafficRecorderTest, ConcurrentRecordsAreAllCounted) {
  TrafficRecorder r({"f"}, 100000);
  std::vector<std::thread> ts;
  for (int k = 0; k < 4; ++k)
    ts.emplace_back([&r] {
      for (int i = 0; i < 10000; ++i) r.Record("f", i);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(r.Snapshot("f").size(), 40000u);
}

}  // namespace
}  // namespace modelfn::gateway

#include "events/async_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

namespace modelfn::events {
namespace {

constexpr int64_t kMs = 1'000'000;  // nanoseconds

AsyncRequest Request(const std::string& function, const std::string& body = "{}") {
  AsyncRequest r;
  r.function = function;
  r.path = "/v1/infer";
  r.content_type = "application/json";
  r.body = body;
  r.request_id = "req-" + function;
  return r;
}

std::unique_ptr<AsyncStore> OpenOrDie(const std::string& path, const Clock* clock) {
  auto store = AsyncStore::Open(path, clock);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::string Submit(AsyncStore& store, const AsyncRequest& r) {
  auto s = store.Submit(r, "", 0);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? s->id : "";
}

std::vector<std::string> Ids(const std::vector<AsyncRecord>& records) {
  std::vector<std::string> ids;
  for (const AsyncRecord& r : records) ids.push_back(r.id);
  return ids;
}

// A fresh path under the test's scratch folder.
std::string TempPath(const std::string& name) {
  std::string path = ::testing::TempDir() + "/async_" + name + std::to_string(getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) unlink((path + suffix).c_str());
  return path;
}

TEST(AsyncStoreTest, SubmitThenGetRoundTripsEveryField) {
  FakeClock clock(1'700'000'000'000 * kMs);
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  AsyncRequest r;
  r.function = "resnet";
  r.method = "PUT";
  r.path = "/v1/infer";
  r.query = "a=1&b=%20";
  r.content_type = "application/octet-stream";
  r.headers = {{"x-one", "1"}, {"x-quote", "say \"hi\"\\"}, {"x-one", "again"}};
  r.body = std::string("a\0b\xff\x00z", 6);
  r.request_id = "req-123";
  auto sub = store->Submit(r, "key-1", 60'000);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_TRUE(sub->created);

  auto got = store->Get(sub->id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, sub->id);
  EXPECT_EQ(got->request.function, "resnet");
  EXPECT_EQ(got->request.method, "PUT");
  EXPECT_EQ(got->request.path, "/v1/infer");
  EXPECT_EQ(got->request.query, "a=1&b=%20");
  EXPECT_EQ(got->request.content_type, "application/octet-stream");
  EXPECT_EQ(got->request.headers, r.headers);
  EXPECT_EQ(got->request.body.size(), 6u);
  EXPECT_EQ(got->request.body, r.body);
  EXPECT_EQ(got->request.request_id, "req-123");
  EXPECT_EQ(got->idempotency_key, "key-1");
  EXPECT_EQ(got->state, AsyncState::kQueued);
  EXPECT_EQ(got->attempts, 0);
  EXPECT_EQ(got->created_ms, 1'700'000'000'000);
  EXPECT_EQ(got->updated_ms, 1'700'000'000'000);
  EXPECT_EQ(got->next_at_ms, 1'700'000'000'000);
  EXPECT_EQ(got->result.status, 0);
  EXPECT_EQ(got->result.body, "");

  // An empty body and no headers stay empty (not NULL, not "[]").
  AsyncRequest bare = Request("bare", "");
  std::string id = Submit(*store, bare);
  auto b = store->Get(id);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->request.body, "");
  EXPECT_TRUE(b->request.headers.empty());
  EXPECT_EQ(b->idempotency_key, "");

  auto missing = store->Get("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// A database written before the `patient` column opens, gains it, and keeps its rows.
TEST(AsyncStoreTest, ADatabaseFromBeforeTheRetryFlagIsUpgraded) {
  std::string path = TempPath("old");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE invocations (id TEXT PRIMARY KEY, function TEXT NOT NULL, "
                         "method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL, "
                         "content_type TEXT NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL, "
                         "request_id TEXT NOT NULL, idempotency_key TEXT, state TEXT NOT NULL, "
                         "attempts INTEGER NOT NULL, created_ms INTEGER NOT NULL, updated_ms "
                         "INTEGER NOT NULL, next_at_ms INTEGER NOT NULL, result_status INTEGER "
                         "NOT NULL, result_content_type TEXT NOT NULL, result_body BLOB NOT NULL, "
                         "result_code TEXT NOT NULL, result_detail TEXT NOT NULL);"
                         "INSERT INTO invocations VALUES ('0123', 'digits', 'POST', '/v1/infer', "
                         "'', 'application/json', '[]', x'7b7d', 'r', NULL, 'queued', 0, 1, 1, 1, "
                         "0, '', x'', '', '');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  FakeClock clock;
  auto store = OpenOrDie(path, &clock);
  ASSERT_NE(store, nullptr);
  auto got = store->Get("0123");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  AsyncRecord old = std::move(got).value();
  EXPECT_EQ(old.request.body, "{}");
  EXPECT_FALSE(old.request.retry_until_max_age);
  AsyncRequest r = Request("digits");
  r.retry_until_max_age = true;
  std::string id = Submit(*store, r);
  EXPECT_TRUE(store->Get(id).value().request.retry_until_max_age);
}

TEST(AsyncStoreTest, IdsAre32LowercaseHexAndDistinct) {
  FakeClock clock;
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    std::string id = Submit(*store, Request("f"));
    ASSERT_EQ(id.size(), 32u) << id;
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

TEST(AsyncStoreTest, ClaimTakesDueOnesOldestFirstUpToMax) {
  FakeClock clock;
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  std::string a = Submit(*store, Request("f"));
  clock.Advance(10 * kMs);
  std::string b = Submit(*store, Request("g"));
  clock.Advance(10 * kMs);
  std::string c = Submit(*store, Request("f"));
  std::string d = Submit(*store, Request("f"));  // same millisecond as c: submission order
  int64_t now = clock.WallNanos() / kMs;

  auto first = store->Claim("", 2);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(Ids(*first), (std::vector<std::string>{a, b}));
  for (const AsyncRecord& r : *first) {
    EXPECT_EQ(r.state, AsyncState::kRunning);
    EXPECT_EQ(r.attempts, 1);
    EXPECT_EQ(r.updated_ms, now);
    EXPECT_EQ(r.request.path, "/v1/infer");
  }
  auto stored = store->Get(a);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state, AsyncState::kRunning);
  EXPECT_EQ(stored->attempts, 1);

  // Of one function only; the running ones are not claimed again.
  auto only_g = store->Claim("g", 10);
  ASSERT_TRUE(only_g.ok());
  EXPECT_TRUE(only_g->empty());
  auto rest = store->Claim("f", 10);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Ids(*rest), (std::vector<std::string>{c, d}));
  auto none = store->Claim("", 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto zero = store->Claim("", 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->empty());
}

TEST(AsyncStoreTest, ClaimSkipsOnesNotYetDue) {
  FakeClock clock;
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  std::string a = Submit(*store, Request("f"));
  ASSERT_EQ(store->Claim("", 1)->size(), 1u);
  int64_t now = clock.WallNanos() / kMs;
  ASSERT_TRUE(store->Retry(a, now + 500, AsyncResult{503, "text/plain", "busy", "", ""}).ok());
  std::string b = Submit(*store, Request("f"));

  auto claimed = store->Claim("", 10);
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(Ids(*claimed), std::vector<std::string>{b});
  clock.Advance(499 * kMs);
  EXPECT_TRUE(store->Claim("", 10)->empty());
  clock.Advance(1 * kMs);
  auto again = store->Claim("", 10);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(Ids(*again), std::vector<std::string>{a});
  EXPECT_EQ((*again)[0].attempts, 2);
  EXPECT_EQ((*again)[0].result.status, 503);  // the last failure is kept while it runs again
}

TEST(AsyncStoreTest, FinishAndRetryChangeState) {
  FakeClock clock;
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  std::string ok_id = Submit(*store, Request("f"));
  std::string bad_id = Submit(*store, Request("f"));
  std::string retry_id = Submit(*store, Request("f"));
  ASSERT_EQ(store->Claim("", 3)->size(), 3u);
  clock.Advance(7 * kMs);
  int64_t now = clock.WallNanos() / kMs;

  std::string answer("{\"y\":[1]}\0", 10);
  ASSERT_TRUE(
      store->Finish(ok_id, true, AsyncResult{200, "application/json", answer, "", ""}).ok());
  auto ok = store->Get(ok_id);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->state, AsyncState::kSucceeded);
  EXPECT_EQ(ok->updated_ms, now);
  EXPECT_EQ(ok->result.status, 200);
  EXPECT_EQ(ok->result.content_type, "application/json");
  EXPECT_EQ(ok->result.body, answer);

  ASSERT_TRUE(
      store->Finish(bad_id, false, AsyncResult{0, "", "", "function_timeout", "took 30 s"}).ok());
  auto bad = store->Get(bad_id);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->state, AsyncState::kFailed);
  EXPECT_EQ(bad->result.code, "function_timeout");
  EXPECT_EQ(bad->result.detail, "took 30 s");

  ASSERT_TRUE(store->Retry(retry_id, now + 1000, AsyncResult{502, "", "", "bad_gateway", ""}).ok());
  auto retried = store->Get(retry_id);
  ASSERT_TRUE(retried.ok());
  EXPECT_EQ(retried->state, AsyncState::kQueued);
  EXPECT_EQ(retried->next_at_ms, now + 1000);
  EXPECT_EQ(retried->attempts, 1);
  EXPECT_EQ(retried->result.code, "bad_gateway");

  // Finished and queued ones are not running.
  Status twice = store->Finish(ok_id, true, AsyncResult{});
  EXPECT_EQ(twice.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(twice.reason(), "not_running");
  EXPECT_EQ(store->Retry(bad_id, now, AsyncResult{}).code(), StatusCode::kFailedPrecondition);
  Status queued = store->Finish(retry_id, true, AsyncResult{});
  EXPECT_EQ(queued.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(queued.reason(), "not_running");
  EXPECT_EQ(store->Get(ok_id)->result.body, answer);  // the refused Finish changed nothing

  EXPECT_EQ(store->Finish("nope", true, AsyncResult{}).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Retry("nope", now, AsyncResult{}).code(), StatusCode::kNotFound);
}

TEST(AsyncStoreTest, IdempotencyKeyHoldsWithinTheWindowOnly) {
  FakeClock clock;
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  auto first = store->Submit(Request("f"), "k", 1000);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->created);

  clock.Advance(999 * kMs);
  auto same = store->Submit(Request("f", "other body"), "k", 1000);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->id, first->id);
  EXPECT_FALSE(same->created);
  EXPECT_EQ(store->Get(first->id)->request.body, "{}");  // nothing recorded
  EXPECT_EQ(store->CountByFunction()->at("f").queued, 1u);

  // Another function or another key is another invocation; so is one without a key.
  auto other_fn = store->Submit(Request("g"), "k", 1000);
  ASSERT_TRUE(other_fn.ok());
  EXPECT_TRUE(other_fn->created);
  auto other_key = store->Submit(Request("f"), "k2", 1000);
  ASSERT_TRUE(other_key.ok());
  EXPECT_TRUE(other_key->created);
  EXPECT_NE(Submit(*store, Request("f")), Submit(*store, Request("f")));

  clock.Advance(1 * kMs);  // 1000 ms after the first: out of the window
  auto fresh = store->Submit(Request("f"), "k", 1000);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_TRUE(fresh->created);
  EXPECT_NE(fresh->id, first->id);
  EXPECT_EQ(store->Get(fresh->id)->idempotency_key, "k");
  clock.Advance(500 * kMs);
  auto again = store->Submit(Request("f"), "k", 1000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, fresh->id);  // the new one took the key
  EXPECT_FALSE(again->created);
}

TEST(AsyncStoreTest, ReopenKeepsEverythingAndRequeuesRunning) {
  std::string path = TempPath("reopen");
  FakeClock clock;
  std::string queued, running, done;
  {
    auto store = OpenOrDie(path, &clock);
    ASSERT_TRUE(store);
    running = Submit(*store, Request("f", std::string("x\0y", 3)));
    done = Submit(*store, Request("f"));
    ASSERT_EQ(store->Claim("", 2)->size(), 2u);
    ASSERT_TRUE(store->Finish(done, true, AsyncResult{200, "text/plain", "ok", "", ""}).ok());
    clock.Advance(1 * kMs);
    queued = Submit(*store, Request("g"));
  }
  clock.Advance(5000 * kMs);
  int64_t now = clock.WallNanos() / kMs;
  auto store = OpenOrDie(path, &clock);
  ASSERT_TRUE(store);

  auto r = store->Get(running);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, AsyncState::kQueued);
  EXPECT_EQ(r->attempts, 1);  // the interrupted send stays counted
  EXPECT_EQ(r->next_at_ms, now);
  EXPECT_EQ(r->request.body, std::string("x\0y", 3));
  auto d = store->Get(done);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, AsyncState::kSucceeded);
  EXPECT_EQ(d->result.body, "ok");
  auto q = store->Get(queued);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->state, AsyncState::kQueued);
  EXPECT_EQ(q->next_at_ms, now - 5000);

  auto claimed = store->Claim("", 10);
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(Ids(*claimed), (std::vector<std::string>{queued, running}));
  EXPECT_EQ(store->Get(running)->attempts, 2);
}

TEST(AsyncStoreTest, CountByFunction) {
  FakeClock clock;
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  std::string f1 = Submit(*store, Request("f"));
  std::string f2 = Submit(*store, Request("f"));
  Submit(*store, Request("f"));
  Submit(*store, Request("f"));
  Submit(*store, Request("g"));
  ASSERT_EQ(store->Claim("f", 3)->size(), 3u);
  ASSERT_TRUE(store->Finish(f1, true, AsyncResult{}).ok());
  ASSERT_TRUE(store->Finish(f2, false, AsyncResult{}).ok());

  auto counts = store->CountByFunction();
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  ASSERT_EQ(counts->size(), 2u);
  const AsyncStore::Counts& f = counts->at("f");
  EXPECT_EQ(f.queued, 1u);
  EXPECT_EQ(f.running, 1u);
  EXPECT_EQ(f.succeeded, 1u);
  EXPECT_EQ(f.failed, 1u);
  const AsyncStore::Counts& g = counts->at("g");
  EXPECT_EQ(g.queued, 1u);
  EXPECT_EQ(g.running + g.succeeded + g.failed, 0u);
}

TEST(AsyncStoreTest, PruneDeletesOnlyFinishedOnesOlderThanTheBound) {
  FakeClock clock;
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  std::string old_ok = Submit(*store, Request("f"));
  std::string old_bad = Submit(*store, Request("f"));
  std::string old_running = Submit(*store, Request("f"));
  std::string new_ok = Submit(*store, Request("f"));
  ASSERT_EQ(store->Claim("", 4)->size(), 4u);
  std::string old_queued = Submit(*store, Request("f"));
  ASSERT_TRUE(store->Finish(old_ok, true, AsyncResult{}).ok());
  ASSERT_TRUE(store->Finish(old_bad, false, AsyncResult{}).ok());
  int64_t bound = clock.WallNanos() / kMs + 1;
  clock.Advance(1 * kMs);
  ASSERT_TRUE(store->Finish(new_ok, true, AsyncResult{}).ok());  // updated at the bound: kept

  auto pruned = store->Prune(bound);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 2u);
  EXPECT_EQ(store->Get(old_ok).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Get(old_bad).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->Get(old_running).ok());
  EXPECT_TRUE(store->Get(old_queued).ok());
  EXPECT_TRUE(store->Get(new_ok).ok());
  EXPECT_EQ(*store->Prune(bound), 0u);
}

TEST(AsyncStoreTest, NextDueIsTheEarliestQueued) {
  FakeClock clock;
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  auto empty = store->NextDue();
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());

  int64_t t0 = clock.WallNanos() / kMs;
  std::string a = Submit(*store, Request("f"));
  std::string b = Submit(*store, Request("f"));
  EXPECT_EQ(*store->NextDue(), std::optional<int64_t>(t0));
  ASSERT_EQ(store->Claim("", 2)->size(), 2u);
  EXPECT_FALSE(store->NextDue()->has_value());  // running ones are not due
  ASSERT_TRUE(store->Retry(a, t0 + 300, AsyncResult{}).ok());
  ASSERT_TRUE(store->Retry(b, t0 + 200, AsyncResult{}).ok());
  EXPECT_EQ(*store->NextDue(), std::optional<int64_t>(t0 + 200));
}

TEST(AsyncStoreTest, OpeningADirectoryIsUnavailable) {
  std::string dir = ::testing::TempDir() + "/async_dir" + std::to_string(getpid());
  mkdir(dir.c_str(), 0700);
  FakeClock clock;
  auto store = AsyncStore::Open(dir, &clock);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store.status().reason(), "async_store_unavailable");
  EXPECT_NE(store.status().message().find(dir), std::string::npos) << store.status().message();
  rmdir(dir.c_str());
}

TEST(AsyncStoreTest, OpeningAFileThatIsNotADatabaseIsUnavailable) {
  std::string path = TempPath("notdb");
  {
    std::ofstream out(path);
    for (int i = 0; i < 100; ++i) out << "this is a text file, not an SQLite database\n";
  }
  FakeClock clock;
  auto store = AsyncStore::Open(path, &clock);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find(path), std::string::npos) << store.status().message();
  unlink(path.c_str());
}

TEST(AsyncStoreTest, ConcurrentSubmitsAreEachClaimedExactlyOnce) {
  constexpr int kSubmitters = 8, kPerSubmitter = 200, kClaimers = 4;
  FakeClock clock;
  // In memory: a file would add 1600 fsyncs and nothing more to check (one mutex either way).
  auto store = OpenOrDie(":memory:", &clock);
  ASSERT_TRUE(store);
  std::vector<std::vector<std::string>> submitted(kSubmitters);
  std::vector<std::vector<std::string>> claimed(kClaimers);
  std::atomic<int> submitters_left{kSubmitters};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kSubmitters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerSubmitter; ++i) {
        auto s = store->Submit(Request("f" + std::to_string(t % 3)), "", 0);
        if (!s.ok()) {
          ++errors;
          continue;
        }
        submitted[t].push_back(s->id);
      }
      --submitters_left;
    });
  }
  for (int t = 0; t < kClaimers; ++t) {
    threads.emplace_back([&, t] {
      for (;;) {
        bool last_round = submitters_left.load() == 0;  // read before claiming: nothing comes later
        auto got = store->Claim("", 7);
        if (!got.ok()) {
          ++errors;
          return;
        }
        for (const AsyncRecord& r : *got) {
          if (r.attempts != 1 || r.state != AsyncState::kRunning) ++errors;
          claimed[t].push_back(r.id);
        }
        if (got->empty() && last_round) return;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);

  std::multiset<std::string> all_submitted, all_claimed;
  for (const auto& v : submitted) all_submitted.insert(v.begin(), v.end());
  for (const auto& v : claimed) all_claimed.insert(v.begin(), v.end());
  EXPECT_EQ(all_submitted.size(), 1600u);
  EXPECT_EQ(std::set<std::string>(all_submitted.begin(), all_submitted.end()).size(), 1600u);
  EXPECT_EQ(all_claimed, all_submitted);  // every one, none twice
  auto counts = store->CountByFunction();
  ASSERT_TRUE(counts.ok());
  uint64_t running = 0;
  for (const auto& [fn, c] : *counts) {
    EXPECT_EQ(c.queued, 0u) << fn;
    running += c.running;
  }
  EXPECT_EQ(running, 1600u);
}

}  // namespace
}  // namespace modelfn::events

#include "platform/config.h"

#include <gtest/gtest.h>

#include "platform/yaml.h"

namespace modelfn {
namespace {

StatusOr<PlatformConfig> Parse(std::string_view yaml, int host_cpus = 4) {
  auto doc = ParseYaml(yaml);
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  return ParsePlatformConfig(*doc, "/srv/app", host_cpus);
}

std::string Error(std::string_view yaml) {
  auto c = Parse(yaml);
  return c.ok() ? "ok" : c.status().message();
}

TEST(ConfigTest, DefaultsAndRelativePaths) {
  auto c = Parse("functions:\n  digits: {}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->store, "file:///srv/app/models");
  EXPECT_EQ(c->state_dir, "/srv/app/.modelfn");
  ASSERT_EQ(c->functions.size(), 1u);
  const FunctionConfig& f = c->functions[0];
  EXPECT_EQ(f.model, "digits");
  EXPECT_EQ(f.version, "");
  EXPECT_EQ(f.mode, InstanceMode::kLambda);
  EXPECT_EQ(f.max_instances, 4);  // the host's CPUs
  EXPECT_EQ(c->gateway.host, "127.0.0.1");
  EXPECT_EQ(c->gateway.port, 8080);
  EXPECT_EQ(c->gateway.drain_timeout_s, 10);
}

TEST(ConfigTest, DrainTimeoutIsSecondsWithinAnHour) {
  auto c = Parse("functions:\n  d: {}\ngateway: {drain_timeout_s: 0.5}");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->gateway.drain_timeout_s, 0.5);
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {drain_timeout_s: 3601}"),
            "gateway.drain_timeout_s: expected a number in [0, 3600]");
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {drain_timeout_s: soon}"),
            "gateway.drain_timeout_s: expected a number in [0, 3600]");
}

TEST(ConfigTest, MaxInstancesFollowsTheHostUnlessSet) {
  EXPECT_EQ(Parse("functions:\n  d: {}\n", 2)->functions[0].max_instances, 2);
  EXPECT_EQ(Parse("functions:\n  d: {}\n", 64)->functions[0].max_instances, 64);
  // Enough for the instances asked to be kept.
  EXPECT_EQ(Parse("functions:\n  d: {min_instances: 3}\n", 2)->functions[0].max_instances, 3);
  EXPECT_EQ(Parse("functions:\n  d: {max_instances: 8}\n", 2)->functions[0].max_instances, 8);
}

TEST(ConfigTest, StartForkByDefaultExecPerFunctionOrEverywhere) {
  auto c = Parse("functions:\n  a: {}\n  b: {start: exec}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->functions[0].start, StartMode::kFork);
  EXPECT_EQ(c->functions[1].start, StartMode::kExec);
  c = Parse("start: exec\nfunctions:\n  a: {}\n  b: {start: fork}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->functions[0].start, StartMode::kExec);
  EXPECT_EQ(c->functions[1].start, StartMode::kFork);
  EXPECT_EQ(Error("functions:\n  a: {start: zygote}\n"),
            "functions.a.start: expected fork or exec");
  EXPECT_EQ(Error("start: 1\nfunctions:\n  a: {}\n"), "start: expected fork or exec");
}

TEST(ConfigTest, FullFunctionAndGateway) {
  auto c = Parse(R"(store: s3://bucket/models
functions:
  digits:
    model: digits@1.2.0
    mode: http
    concurrency: 4
    min_instances: 1
    max_instances: 3
    idle_ttl_s: 0.5
    timeout_s: 2
    traffic: {digits@1.2.0: 90, digits@1.3.0: 10}
    env: {MODELFN_LOG_REQUESTS: 0}
gateway:
  listen: 0.0.0.0:9000
  auth: {api_keys: true, jwt: {jwks: keys/jwks.json, issuer: iss, audience: [a, b]}}
  cors: {origins: ["*"]}
plans:
  free: {rate_per_s: 5, daily_quota: 1000}
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->store, "s3://bucket/models");
  const FunctionConfig& f = c->functions[0];
  EXPECT_EQ(f.version, "1.2.0");
  EXPECT_EQ(f.mode, InstanceMode::kHttp);
  EXPECT_EQ(f.concurrency, 4);
  EXPECT_DOUBLE_EQ(f.idle_ttl_s, 0.5);
  ASSERT_EQ(f.traffic.size(), 2u);
  EXPECT_EQ(f.traffic[1].version, "1.3.0");
  EXPECT_EQ(f.traffic[1].weight, 10);
  EXPECT_EQ(f.env.at("MODELFN_LOG_REQUESTS"), "0");
  EXPECT_EQ(c->gateway.host, "0.0.0.0");
  EXPECT_EQ(c->gateway.port, 9000);
  EXPECT_EQ(c->gateway.jwt.jwks, "/srv/app/keys/jwks.json");
  EXPECT_EQ(c->gateway.jwt.audience.size(), 2u);
  ASSERT_NE(c->FindPlan("free"), nullptr);
  EXPECT_DOUBLE_EQ(c->FindPlan("free")->burst, 5);
}

TEST(ConfigTest, MistakesNameTheField) {
  EXPECT_EQ(Error("functions: {}"), "functions: expected at least one function");
  EXPECT_EQ(Error("functions:\n  d: {max_instanses: 3}"),
            "functions.d.max_instanses: unknown setting");
  EXPECT_EQ(Error("functions:\n  d: {min_instances: 4, max_instances: 2}"),
            "functions.d.min_instances: is above max_instances");
  EXPECT_EQ(Error("functions:\n  d: {mode: lambda, concurrency: 2}"),
            "functions.d.concurrency: lambda mode serves one request per instance");
  EXPECT_EQ(Error("functions:\n  d: {mode: fast}"),
            "functions.d.mode: expected lambda or http, got 'fast'");
  EXPECT_EQ(Error("functions:\n  d: {traffic: {other@1: 5}}"),
            "functions.d.traffic.other@1: expected d@VERSION (the function's model, pinned)");
  EXPECT_EQ(Error("functions:\n  d: {timeout_s: -1}"),
            "functions.d.timeout_s: expected a number in [0.001, 900]");
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {listen: 'nope'}"),
            "gateway.listen: expected HOST:PORT");
}

TEST(ConfigTest, BatchingReachesHttpInstancesThroughTheirEnvironment) {
  auto c = Parse(
      "functions:\n"
      "  a: {mode: http, concurrency: 16, batching: {max_batch: 16, p99_ms: 50}}\n"
      "  b: {mode: http, concurrency: 8, batching: on}\n"
      "  c: {mode: http, concurrency: 8, batching: {max_delay_ms: auto, runners: 1}}\n"
      "  d: {mode: http, concurrency: 8, batching: off}\n"
      "  e: {mode: http, concurrency: 8}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->functions[0].env.at("MODELFN_BATCHING"), "max_batch=16,max_delay_ms=auto,p99_ms=50");
  EXPECT_EQ(c->functions[1].env.at("MODELFN_BATCHING"), "max_batch=32,max_delay_ms=auto");
  EXPECT_EQ(c->functions[2].env.at("MODELFN_BATCHING"), "max_batch=32,max_delay_ms=auto,runners=1");
  EXPECT_EQ(c->functions[3].env.count("MODELFN_BATCHING"), 0u);
  EXPECT_EQ(c->functions[4].env.count("MODELFN_BATCHING"), 0u);
}

TEST(ConfigTest, BatchingMistakesNameTheField) {
  EXPECT_EQ(Error("functions:\n  d: {mode: http, batching: on}"),
            "functions.d.batching: batching merges concurrent requests; set concurrency above 1 "
            "(the requests an instance takes at once)");
  EXPECT_NE(Error("functions:\n  d: {mode: http, concurrency: 4, batching: {max_batch: 0}}")
                .find("functions.d.batching: batching: 'max_batch=0' is not one of"),
            std::string::npos);
  EXPECT_EQ(Error("functions:\n  d: {mode: http, concurrency: 4, batching: {max_batch: [1]}}"),
            "functions.d.batching.max_batch: expected a number (or auto for max_delay_ms)");
  EXPECT_EQ(Error("functions:\n  d: {mode: http, concurrency: 4, batching: [1]}"),
            "functions.d.batching: expected on, off or {max_batch, max_delay_ms, p99_ms, runners}");
  // A lambda-mode function may say it does not batch.
  EXPECT_EQ(Error("functions:\n  d: {batching: off}"), "ok");
}

TEST(ConfigTest, LambdaModeBatchingMergesWaitingRequestsAtTheGateway) {
  auto c = Parse(
      "functions:\n"
      "  a: {batching: on}\n"
      "  b: {batching: {max_batch: 8}}\n"
      "  c: {batching: off}\n"
      "  d: {}\n",
      2);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->functions[0].held_batch, 32);
  EXPECT_EQ(c->functions[1].held_batch, 8);
  EXPECT_EQ(c->functions[2].held_batch, 0);
  EXPECT_EQ(c->functions[3].held_batch, 0);
  for (const auto& f : c->functions) EXPECT_EQ(f.env.count("MODELFN_BATCHING"), 0u) << f.name;
  // Nothing is waited for in lambda mode: only the size applies.
  EXPECT_EQ(Error("functions:\n  d: {batching: {max_batch: 8, max_delay_ms: 5}}"),
            "functions.d.batching.max_delay_ms: lambda mode merges only requests already waiting "
            "for an instance; max_batch is the one setting (the others are for mode: http)");
  EXPECT_EQ(Error("functions:\n  d: {batching: {p99_ms: 50}}"),
            "functions.d.batching.p99_ms: lambda mode merges only requests already waiting for an "
            "instance; max_batch is the one setting (the others are for mode: http)");
  EXPECT_EQ(Error("functions:\n  d: {command: [python3, app.py], batching: on}"),
            "functions.d.batching: a custom runtime (command:) is not known to serve /v1/batch, "
            "which merged requests are sent as");
  // An http-mode function batches inside its instances instead.
  auto h = Parse("functions:\n  h: {mode: http, concurrency: 4, batching: on}\n", 2);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->functions[0].held_batch, 0);
}

TEST(ConfigTest, AsyncSettingsAndTheirMistakes) {
  auto c = Parse(
      "functions:\n"
      "  a: {async: {max_retries: 5, max_age_s: 60, retry_base_s: 0.5, retry_cap_s: 10,\n"
      "              on_success: ./ok, on_failure: s3://bucket/failed, idempotency_window_s: 0,\n"
      "              max_in_flight: 3}}\n"
      "  b: {max_instances: 3, mode: http, concurrency: 4}\n",
      2);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const AsyncConfig& a = c->functions[0].async;
  EXPECT_EQ(a.max_retries, 5);
  EXPECT_EQ(a.max_age_s, 60);
  EXPECT_EQ(a.retry_base_s, 0.5);
  EXPECT_EQ(a.retry_cap_s, 10);
  EXPECT_EQ(a.on_success.front(), '/');  // resolved against the config's folder
  EXPECT_EQ(a.on_success.substr(a.on_success.size() - 3), "/ok");
  EXPECT_EQ(a.on_failure, "s3://bucket/failed");
  EXPECT_EQ(a.idempotency_window_s, 0);
  EXPECT_EQ(a.max_in_flight, 3);
  const AsyncConfig& b = c->functions[1].async;
  EXPECT_EQ(b.max_retries, 2);
  EXPECT_EQ(b.max_age_s, 21600);
  EXPECT_EQ(b.max_in_flight, 12);  // max_instances x concurrency
  EXPECT_EQ(Error("functions:\n  d: {async: {retries: 2}}"),
            "functions.d.async.retries: unknown setting");
  EXPECT_EQ(Error("functions:\n  d: {async: {max_retries: -1}}"),
            "functions.d.async.max_retries: expected an integer in [0, 100]");
  EXPECT_EQ(Error("functions:\n  d: {async: {retry_base_s: 10, retry_cap_s: 1}}"),
            "functions.d.async.retry_cap_s: is below retry_base_s");
  EXPECT_NE(Error("functions:\n  d: {async: {on_failure: 'ftp://x/y'}}")
                .find("functions.d.async.on_failure"),
            std::string::npos);
  EXPECT_EQ(Error("functions:\n  d: {async: on}"), "functions.d.async: expected a mapping");
  EXPECT_EQ(c->async_retention_s, 7 * 86400);
  auto r = Parse("async_retention_s: 3600\nfunctions:\n  d: {}\n", 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->async_retention_s, 3600);
  EXPECT_EQ(Error("async_retention_s: 1\nfunctions:\n  d: {}\n"),
            "config.async_retention_s: expected a number in [60, 31536000]");
}

TEST(ConfigTest, AnSqsQueueFeedsALambdaModeFunction) {
  auto c = Parse(
      "functions:\n"
      "  a: {sqs: {queue_url: 'https://sqs.eu-west-1.amazonaws.com/1/jobs', batch_size: 100,\n"
      "            batching_window_s: 2, visibility_timeout_s: 60}}\n"
      "  b: {}\n",
      2);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->functions[0].sqs.queue_url, "https://sqs.eu-west-1.amazonaws.com/1/jobs");
  EXPECT_EQ(c->functions[0].sqs.batch_size, 100);
  EXPECT_EQ(c->functions[0].sqs.batching_window_s, 2);
  EXPECT_EQ(c->functions[0].sqs.visibility_timeout_s, 60);
  EXPECT_TRUE(c->functions[1].sqs.queue_url.empty());
  EXPECT_EQ(Error("functions:\n  d: {sqs: {queue_url: jobs}}"),
            "functions.d.sqs.queue_url: expected the queue's URL "
            "(https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)");
  EXPECT_EQ(Error("functions:\n  d: {sqs: {queue_url: 'http://x/1/q', batch_size: 0}}"),
            "functions.d.sqs.batch_size: expected an integer in [1, 10000]");
  EXPECT_EQ(Error("functions:\n  d: {mode: http, sqs: {queue_url: 'http://x/1/q'}}"),
            "functions.d.sqs: an SQS queue feeds lambda-mode functions (SQS events)");
  EXPECT_EQ(Error("functions:\n  d: {sqs: {url: 'http://x/1/q'}}"),
            "functions.d.sqs.url: unknown setting");
}

TEST(ConfigTest, ThreadsReachInstancesAndExecdLambdaInstancesShareTheHost) {
  auto c = Parse(
      "functions:\n"
      "  a: {threads: 3}\n"
      "  b: {threads: auto, mode: http}\n"
      "  c: {start: exec, max_instances: 2}\n"
      "  d: {start: exec, max_instances: 8}\n"
      "  e: {}\n"
      "  f: {start: exec, env: {MODELFN_ORT_INTRA_OP_THREADS: '1'}, threads: 4}\n",
      8);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto threads = [&](size_t i) {
    const auto& env = c->functions[i].env;
    auto it = env.find("MODELFN_ORT_INTRA_OP_THREADS");
    return it == env.end() ? std::string("(unset)") : it->second;
  };
  EXPECT_EQ(threads(0), "3");
  EXPECT_EQ(threads(1), "auto");
  EXPECT_EQ(threads(2), "4");  // 8 CPUs shared by up to 2 instances, one event each
  EXPECT_EQ(threads(3), "1");
  EXPECT_EQ(threads(4), "(unset)");  // forked from a template: its own choice (one thread)
  EXPECT_EQ(threads(5), "1");        // env: as written
  EXPECT_EQ(Error("functions:\n  d: {threads: 0}"),
            "functions.d.threads: ONNX Runtime threads must be auto or a number in [1, 256], not "
            "'0'");
  EXPECT_EQ(Error("functions:\n  d: {threads: [2]}"),
            "functions.d.threads: expected auto or a number");
}

TEST(ConfigTest, CpusIsAShareOfCpusPerInstanceAndSizesItsThreads) {
  auto c = Parse(
      "functions:\n"
      "  a: {cpus: 0.5}\n"
      "  b: {cpus: 2, start: exec, max_instances: 8}\n"
      "  c: {}\n",
      8);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_DOUBLE_EQ(c->functions[0].cpus, 0.5);
  EXPECT_DOUBLE_EQ(c->functions[1].cpus, 2);
  EXPECT_DOUBLE_EQ(c->functions[2].cpus, 0);  // no limit
  // Its instances size "auto" from their own share, not from the host's CPUs per instance.
  EXPECT_EQ(c->functions[1].env.count("MODELFN_ORT_INTRA_OP_THREADS"), 0u);
  EXPECT_EQ(Error("functions:\n  d: {cpus: 0.01}"),
            "functions.d.cpus: expected a number in [0.05, 64]");
  EXPECT_EQ(Error("functions:\n  d: {cpus: 65}"),
            "functions.d.cpus: expected a number in [0.05, 64]");
  EXPECT_EQ(Error("functions:\n  d: {cpus: half}"),
            "functions.d.cpus: expected a number in [0.05, 64]");
}

TEST(ConfigTest, FaceNamesTheCloudCodePathAndImpliesItsMode) {
  auto c = Parse(
      "functions:\n  a: {}\n  b: {mode: http}\n  c: {face: cloudevents, concurrency: 4}\n"
      "  d: {face: azure}\n  e: {face: http, mode: http}\n  f: {face: lambda}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto fn = [&](const std::string& name) -> const FunctionConfig& {
    for (const auto& f : c->functions) {
      if (f.name == name) return f;
    }
    ADD_FAILURE() << name;
    return c->functions[0];
  };
  EXPECT_EQ(fn("a").face, InstanceFace::kLambda);
  EXPECT_EQ(fn("a").mode, InstanceMode::kLambda);
  EXPECT_EQ(fn("b").face, InstanceFace::kHttp);
  EXPECT_EQ(fn("c").face, InstanceFace::kCloudEvents);
  EXPECT_EQ(fn("c").mode, InstanceMode::kHttp);
  EXPECT_EQ(fn("c").concurrency, 4);
  EXPECT_EQ(fn("d").face, InstanceFace::kAzure);
  EXPECT_EQ(fn("d").mode, InstanceMode::kHttp);
  EXPECT_EQ(fn("e").face, InstanceFace::kHttp);
  EXPECT_EQ(fn("f").mode, InstanceMode::kLambda);
  EXPECT_STREQ(InstanceFaceName(InstanceFace::kCloudEvents), "cloudevents");

  EXPECT_EQ(Error("functions:\n  d: {face: gcp}"),
            "functions.d.face: expected lambda, http, cloudevents or azure, got 'gcp'");
  EXPECT_EQ(Error("functions:\n  d: {face: azure, mode: lambda}"),
            "functions.d.face: the azure face runs in http mode");
  EXPECT_EQ(Error("functions:\n  d: {face: lambda, mode: http}"),
            "functions.d.face: the lambda face runs in lambda mode");
}

TEST(ConfigTest, CanaryWeightsArePercentagesThatAddUpTo100) {
  EXPECT_EQ(Error("functions:\n  d: {traffic: {d@1: 90, d@2: 20}}"),
            "functions.d.traffic: weights add up to 110, expected 100");
  EXPECT_EQ(Error("functions:\n  d: {traffic: {d@1: 1, d@2: 1}}"),
            "functions.d.traffic: weights add up to 2, expected 100");
  EXPECT_EQ(Error("functions:\n  d: {traffic: {d@1: 0, d@2: 0}}"),
            "functions.d.traffic: weights add up to 0, expected 100");
  EXPECT_EQ(Error("functions:\n  d: {traffic: {d@1: 150, d@2: -50}}"),
            "functions.d.traffic.d@1: expected a weight in [0, 100] (percent of requests)");
  EXPECT_EQ(Error("functions:\n  d: {traffic: {d@1: 100, d@2: 0}}"), "ok");
}

TEST(ConfigTest, ADailyQuotaAboveTheMonthlyOneIsRefused) {
  EXPECT_EQ(Error("functions:\n  d: {}\nplans:\n  p: {daily_quota: 100, monthly_quota: 50}"),
            "plans.p.daily_quota: is above monthly_quota: the month runs out first");
  EXPECT_EQ(Error("functions:\n  d: {}\nplans:\n  p: {daily_quota: 50, monthly_quota: 100}"), "ok");
}

TEST(ConfigTest, PublicRoutesAreThePlatformsOwn) {
  auto c = Parse("functions:\n  d: {}\ngateway: {public_routes: [/openapi.json, /v1/models]}");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->gateway.public_routes.size(), 2u);
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {public_routes: [/v1/infer]}"),
            "gateway.public_routes: '/v1/infer' is not one of the platform's own routes "
            "(/openapi.json, /v1/models, /v2, /v1/status, /metrics)");
}

TEST(ConfigTest, LoopbackIsAnAddressNotAPrefix) {
  for (const char* yes : {"127.0.0.1", "127.1.2.3", "::1", "localhost", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsLoopbackHost(yes)) << yes;
  }
  for (const char* no : {"127.evil.example", "127.0.0.1.evil.example", "0.0.0.0", "::", "",
                         "10.0.0.1", "::ffff:10.0.0.1", "localhost.evil.example", "1270.0.0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(no)) << no;
  }
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {listen: '127.evil.example:8080'}"),
            "gateway.listen: refusing to listen on 127.evil.example with no auth: enable "
            "gateway.auth (api_keys or jwt) or client certificates (gateway.tls.client_ca), or "
            "set gateway.allow_unauthenticated: true");
}

TEST(ConfigTest, RefusesAnOpenNonLoopbackListener) {
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {listen: '0.0.0.0:8080'}"),
            "gateway.listen: refusing to listen on 0.0.0.0 with no auth: enable gateway.auth "
            "(api_keys or jwt) or client certificates (gateway.tls.client_ca), or set "
            "gateway.allow_unauthenticated: true");
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {listen: '0.0.0.0:8080', "
                  "allow_unauthenticated: true}"),
            "ok");
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {listen: '0.0.0.0:8080', auth: {api_keys: "
                  "true}}"),
            "ok");
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {listen: '0.0.0.0:8080', tls: {cert: c.pem, "
                  "key: k.pem, client_ca: ca.pem}}"),
            "ok");
  EXPECT_EQ(Error("functions:\n  d: {}\ngateway: {tls: {cert: c.pem}}"),
            "gateway.tls: needs both cert and key (and client_ca only with them)");
}

}  // namespace
}  // namespace modelfn

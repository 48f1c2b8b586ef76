// libFuzzer target: a Lambda invocation payload (API Gateway v1/v2 and Function URL events, direct
// invokes, S3 and SQS record batches) never crashes the runtime and always gets a JSON answer.
// Record events read from and write to an in-memory bucket that starts with the same objects for
// every input, so each input is reproducible on its own.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "add2_core.h"
#include "common/json.h"
#include "faces/aws/lambda_runtime.h"
#include "store/memory_store.h"

using namespace modelfn;

namespace {

StatusOr<std::unique_ptr<ObjectStore>> OpenBucket(const std::string& bucket) {
  auto store = std::make_unique<MemoryStore>();
  const std::pair<const char*, const char*> kObjects[] = {
      {"incoming/rows.json", R"({"inputs": [[1, 2, 3]]})"},
      {"incoming/rows.jsonl", "[1, 2, 3]\n[4, 5, 6]\n"},
      {"incoming/bad.json", "[[1, 2"},
      {"results/old.json", "{}"},
  };
  for (const auto& [key, value] : kObjects) {
    if (!store->Put(key, value, PutOptions()).ok()) abort();
  }
  return std::unique_ptr<ObjectStore>(std::move(store));
}

LambdaRuntime& Runtime() {
  static LambdaRuntime* runtime = [] {
    static FakeClock clock;
    static EventLog log(-1, &clock);
    auto* r = new LambdaRuntime("127.0.0.1:9", nullptr, &fuzz::Add2Core(), "add2", &clock, &log);
    ObjectEventConfig config;
    config.sqs_output = "s3://out/prefix";
    r->EnableRecordEvents(config, OpenBucket);
    return r;
  }();
  return *runtime;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view payload(reinterpret_cast<const char*>(data), size);
  LambdaRuntime::Result r = Runtime().Invoke(payload, "fuzz-request", 0);
  if (!Json::Parse(r.body).ok()) {
    fprintf(stderr, "not JSON: %.200s\n", r.body.c_str());
    abort();
  }
  return 0;
}

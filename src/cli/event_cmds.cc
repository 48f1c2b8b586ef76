// modelfn generate-event and modelfn invoke: the events a cloud sends a function, and one run of
// a function on one, the way the cloud would run it (faces/sample_events.h; pool/pool.h).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <mutex>
#include <string>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/json.h"
#include "faces/sample_events.h"
#include "http/http_client.h"
#include "platform/config.h"
#include "pool/pool.h"
#include "pool/process.h"

namespace modelfn {
namespace {

constexpr const char* kGenerateUsage =
    "usage: modelfn generate-event SERVICE EVENT [options]\n"
    "\n"
    "Prints an event as the cloud sends it to a function (JSON on stdout), for modelfn invoke,\n"
    "aws lambda invoke or a test:\n"
    "  s3 put --bucket B --key K [--size N] [--etag E] [--region R]\n"
    "  sqs receive-message (--body TEXT | --body-file F) [--queue-arn ARN] [--count N]\n"
    "  apigateway http-api [--method POST] [--path /v1/infer] [--query Q]\n"
    "                      [--body TEXT | --body-file F] [--content-type application/json]\n"
    "  cloudevent storage --bucket B --object O [--size N] [--content-type T] [--id ID]\n"
    "                     (structured mode: send it with Content-Type: "
    "application/cloudevents+json)\n"
    "  azure blob --container C --name N [--size N] [--binding blob]\n";

constexpr const char* kInvokeUsage =
    "usage: modelfn invoke --model DIR|STORE-URI/NAME[@V] (--event FILE|- | --payload JSON)\n"
    "                      [--timeout S] [--memory MB] [--env K=V]... [--json]\n"
    "       modelfn invoke FUNCTION --platform [-f modelfn.yaml | --url URL]\n"
    "                      (--event FILE|- | --payload JSON) [--async] [--json]\n"
    "\n"
    "Runs a function once on a Lambda event, as Lambda would: a fresh modelfn-fn in the Lambda\n"
    "face (its own Runtime API, AWS_LAMBDA_* set, exec'd: a real cold start), init then invoke.\n"
    "Prints the function's response payload on stdout, and on stderr the init phases and the\n"
    "invoke time (--json: all of it as one JSON document). Exits 1 when the function failed (its\n"
    "error payload is printed) or could not start. --memory sets\n"
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 2048; ONNX Runtime's threads follow it).\n"
    "With --platform the event goes to a running modelfn up instead (Lambda's Invoke API;\n"
    "--async: InvocationType Event, answered with the asynchronous invocation's id). With API\n"
    "keys on, set MODELFN_API_KEY. Events: modelfn generate-event.\n";

StatusOr<std::string> BodyArg(const Args& a, const char* text_flag, const char* file_flag) {
  if (a.Has(file_flag)) return ReadFile(a.Get(file_flag));
  return a.Get(text_flag);
}

StatusOr<uint64_t> SizeArg(const Args& a) {
  std::string s = a.Get("size", "0");
  char* end = nullptr;
  unsigned long long v = strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') {
    return Status(StatusCode::kInvalidArgument, "--size takes a number of bytes", "usage");
  }
  return static_cast<uint64_t>(v);
}

int64_t NowMs() { return RealClock::Get().WallNanos() / 1'000'000; }

// The event of --event FILE, --event - (stdin) or --payload TEXT, checked to be JSON.
StatusOr<std::string> EventArg(const Args& a) {
  std::string event;
  if (a.Has("payload")) {
    event = a.Get("payload");
  } else if (a.Get("event") == "-") {
    event.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else if (a.Has("event")) {
    ASSIGN_OR_RETURN(event, ReadFile(a.Get("event")));
  } else {
    return Status(StatusCode::kInvalidArgument, "give --event FILE (or -) or --payload JSON",
                  "usage");
  }
  if (auto parsed = Json::Parse(event); !parsed.ok()) {
    return Status(StatusCode::kInvalidArgument,
                  "the event is not JSON: " + parsed.status().message(), "invalid_json");
  }
  return event;
}

// The init line the instance wrote in `log`, or an empty object.
std::string InitLine(const std::string& log) {
  auto text = ReadFile(log);
  if (!text.ok()) return "{}";
  size_t pos = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    std::string line = text->substr(pos, end - pos);
    pos = end + 1;
    auto j = Json::Parse(line);
    if (j.ok() && j->is_object() && j->Find("event") && j->Find("event")->is_string() &&
        (j->Find("event")->AsString() == "init" || j->Find("event")->AsString() == "init_error")) {
      return line;
    }
  }
  return "{}";
}

int InvokeOnPlatform(const Args& a, const std::string& function) {
  auto event = EventArg(a);
  if (!event.ok()) {
    return event.status().reason() == "usage" ? Usage(kInvokeUsage, event.status().message())
                                              : Fail(event.status());
  }
  std::string url = a.Get("url");
  if (url.empty()) {
    auto config = LoadPlatformConfig(a.Get("f", a.Get("file", "modelfn.yaml")));
    if (!config.ok()) return Fail(config.status());
    auto state = ReadFile(config->state_dir + "/up.json");
    if (!state.ok()) {
      return Fail(Status(StatusCode::kUnavailable,
                         "modelfn up is not running (no " + config->state_dir + "/up.json)"));
    }
    auto doc = Json::Parse(*state);
    const Json* u = doc.ok() ? doc->Find("local_url") : nullptr;
    if (u == nullptr || !u->is_string())
      return Fail(Status(StatusCode::kDataLoss, "unreadable up.json"));
    url = u->AsString();
  }
  auto http = MakePlainHttpClient();
  HttpCall call;
  call.method = "POST";
  call.url = url + "/2015-03-31/functions/" + function + "/invocations";
  call.body = *event;
  call.headers.emplace_back("Content-Type", "application/json");
  call.headers.emplace_back("X-Amz-Invocation-Type", a.Has("async") ? "Event" : "RequestResponse");
  if (const char* key = getenv("MODELFN_API_KEY")) call.headers.emplace_back("X-Api-Key", key);
  call.connect_timeout_ms = 2000;
  call.stall_timeout_s = 900;
  auto t0 = std::chrono::steady_clock::now();
  auto reply = http->Send(call);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!reply.ok())
    return Fail(
        Status(StatusCode::kUnavailable, "cannot reach " + url + ": " + reply.status().message()));
  const std::string* ferr = reply->Header("x-amz-function-error");
  if (a.Has("json")) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Key("status").Int(reply->status);
    auto body = Json::Parse(reply->body);
    if (body.ok()) {
      w.Key("payload").Value(*body);
    } else {
      w.Key("payload").String(reply->body);
    }
    w.Key("function_error").Bool(ferr != nullptr).Key("invoke_ms").Double(ms).EndObject();
    PrintJson(out);
  } else {
    printf("%s\n", reply->body.c_str());
    fprintf(stderr, "HTTP %d in %.1f ms%s\n", reply->status, ms,
            ferr != nullptr ? " (function error)" : "");
  }
  return reply->status >= 200 && reply->status < 300 && ferr == nullptr ? 0 : 1;
}

}  // namespace

int CmdGenerateEvent(int argc, char** argv) {
  Args a(
      argc, argv,
      {"bucket", "key", "size", "etag", "region", "body", "body-file", "queue-arn", "count",
       "method", "path", "query", "content-type", "object", "id", "container", "name", "binding"},
      {"help"});
  if (a.Has("help")) return fputs(kGenerateUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 2) return Usage(kGenerateUsage, a.ok() ? "" : a.error());
  const std::string service = a.positional()[0], event = a.positional()[1];
  auto need = [&](std::initializer_list<const char*> flags) -> std::string {
    for (const char* f : flags) {
      if (!a.Has(f) || a.Get(f).empty()) return std::string("--") + f + " is required";
    }
    return "";
  };
  auto size = SizeArg(a);
  if (!size.ok()) return Usage(kGenerateUsage, size.status().message());
  std::string out;
  if (service == "s3" && event == "put") {
    if (auto m = need({"bucket", "key"}); !m.empty()) return Usage(kGenerateUsage, m);
    sample_events::S3Object o;
    o.bucket = a.Get("bucket");
    o.key = a.Get("key");
    o.size = *size;
    o.etag = a.Get("etag");
    o.region = a.Get("region", "us-east-1");
    out = sample_events::S3Event({o}, NowMs());
  } else if (service == "sqs" && event == "receive-message") {
    if (!a.Has("body") && !a.Has("body-file")) {
      return Usage(kGenerateUsage, "--body or --body-file is required");
    }
    auto body = BodyArg(a, "body", "body-file");
    if (!body.ok()) return Fail(body.status());
    int count = atoi(a.Get("count", "1").c_str());
    if (count < 1 || count > 10000) return Usage(kGenerateUsage, "--count takes 1 to 10000");
    sample_events::SqsMessage one;
    one.body = *body;
    std::vector<sample_events::SqsMessage> messages(static_cast<size_t>(count), one);
    out = sample_events::SqsEvent(
        messages, a.Get("queue-arn", "arn:aws:sqs:us-east-1:000000000000:modelfn-queue"), NowMs());
  } else if (service == "apigateway" && event == "http-api") {
    auto body = BodyArg(a, "body", "body-file");
    if (!body.ok()) return Fail(body.status());
    out = sample_events::HttpApiEvent(a.Get("method", "POST"), a.Get("path", "/v1/infer"),
                                      a.Get("query"), *body,
                                      a.Get("content-type", "application/json"), NowMs());
  } else if (service == "cloudevent" && event == "storage") {
    if (auto m = need({"bucket", "object"}); !m.empty()) return Usage(kGenerateUsage, m);
    sample_events::StorageObject o;
    o.bucket = a.Get("bucket");
    o.name = a.Get("object");
    o.size = *size;
    o.content_type = a.Get("content-type", "application/octet-stream");
    out = sample_events::StorageCloudEvent(o, a.Get("id", std::to_string(NowMs())), NowMs());
  } else if (service == "azure" && event == "blob") {
    if (auto m = need({"container", "name"}); !m.empty()) return Usage(kGenerateUsage, m);
    sample_events::AzureBlob b;
    b.container = a.Get("container");
    b.name = a.Get("name");
    b.size = *size;
    out = sample_events::AzureBlobInvocation(b, a.Get("binding", "blob"));
  } else {
    return Usage(kGenerateUsage, "unknown event '" + service + " " + event + "'");
  }
  printf("%s\n", out.c_str());
  return 0;
}

int CmdInvoke(int argc, char** argv) {
  Args a(argc, argv, {"model", "event", "payload", "timeout", "memory", "env", "f", "file", "url"},
         {"platform", "async", "json", "help"});
  if (a.Has("help")) return fputs(kInvokeUsage, stdout), 0;
  if (!a.ok()) return Usage(kInvokeUsage, a.error());
  if (a.Has("platform")) {
    if (a.positional().size() != 1) return Usage(kInvokeUsage, "name the function to invoke");
    return InvokeOnPlatform(a, a.positional()[0]);
  }
  if (!a.positional().empty() || !a.Has("model")) {
    return Usage(kInvokeUsage, "give --model (or a function name with --platform)");
  }
  if (a.Has("async")) return Usage(kInvokeUsage, "--async needs --platform");
  auto event = EventArg(a);
  if (!event.ok()) {
    return event.status().reason() == "usage" ? Usage(kInvokeUsage, event.status().message())
                                              : Fail(event.status());
  }
  double timeout_s = atof(a.Get("timeout", "30").c_str());
  int memory_mb = atoi(a.Get("memory", "2048").c_str());
  if (timeout_s <= 0 || timeout_s > 900) return Usage(kInvokeUsage, "--timeout takes (0, 900] s");
  if (memory_mb < 128 || memory_mb > 10240)
    return Usage(kInvokeUsage, "--memory takes 128 to 10240");
  std::string model = a.Get("model");
  if (!HasStoreScheme(model)) {
    struct stat st;
    if (stat(model.c_str(), &st) != 0) return Fail(NotFoundError("no such model folder: " + model));
    if (model[0] != '/') model = CurrentDir() + "/" + model;
  }
  char tmp[] = "/tmp/modelfn-invoke-XXXXXX";
  if (mkdtemp(tmp) == nullptr) return Fail(Status(StatusCode::kUnavailable, "no temporary folder"));
  const std::string dir = tmp;

  FunctionConfig fc;
  fc.name = "invoke";
  fc.model = "invoke";
  fc.mode = InstanceMode::kLambda;
  fc.face = InstanceFace::kLambda;
  fc.max_instances = 1;
  fc.timeout_s = timeout_s;
  fc.memory_mb = memory_mb;
  fc.queue_timeout_s = 900;
  fc.start = StartMode::kExec;
  for (const std::string& kv : a.GetAll("env")) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Usage(kInvokeUsage, "--env takes K=V");
    fc.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  MemoryLimiter memory = MemoryLimiter::Detect("modelfn-invoke-" + std::to_string(getpid()), "");
  InitSlots slots(1);
  WorkerThreads workers(2);
  PoolEnv env;
  const char* fn_bin = getenv("MODELFN_FN_BINARY");
  env.fn_binary = fn_bin && *fn_bin ? fn_bin : SelfDir() + "/modelfn-fn";
  env.store_uri = "file://" + dir;
  env.model_override = model;
  env.log_dir = dir;
  env.base_env = PassThroughEnv();
  env.clock = &RealClock::Get();
  env.memory = &memory;
  env.init_slots = &slots;
  env.workers = &workers;
  env.init_timeout_ms = static_cast<int>(std::min(900.0, timeout_s + 10) * 1000);
  InstancePool pool(fc, "local", env);
  pool.Start();

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  ForwardReply reply;
  ForwardRequest req;
  req.method = "POST";
  req.path = kLambdaInvokePath;
  req.body = *event;
  req.content_type = "application/json";
  req.raw_event = true;
  auto t0 = std::chrono::steady_clock::now();
  pool.Submit(std::move(req), [&](ForwardReply r) {
    std::lock_guard<std::mutex> lock(mu);
    reply = std::move(r);
    done = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    while (!done) {
      lock.unlock();
      pool.Tick();
      lock.lock();
      cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return done; });
    }
  }
  double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  PoolSnapshot snap = pool.Snapshot();
  double init_ms = snap.instances.empty() ? 0 : snap.instances[0].init_ms;
  pool.Shutdown();
  std::string init = InitLine(dir + "/invoke.log");
  (void)system(("rm -rf '" + dir + "'").c_str());

  const bool function_error = IsFunctionError(reply);
  const bool ok = reply.status == 200 && !function_error;
  auto init_doc = Json::Parse(init);
  if (a.Has("json")) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Key("status").Int(reply.status).Key("function_error").Bool(function_error);
    auto body = Json::Parse(reply.body);
    if (body.ok()) {
      w.Key("payload").Value(*body);
    } else {
      w.Key("payload").String(reply.body);
    }
    w.Key("init_ms").Double(init_ms).Key("invoke_ms").Double(total_ms - init_ms);
    w.Key("init").Raw(init_doc.ok() ? init : "{}").EndObject();
    PrintJson(out);
  } else {
    printf("%s\n", reply.body.c_str());
    std::string phases;
    if (init_doc.ok()) {
      for (const char* k :
           {"runtime_init_ms", "model_fetch_ms", "model_verify_ms", "model_load_ms", "warmup_ms"}) {
        if (const Json* v = init_doc->Find(k); v && v->is_number()) {
          char buf[64];
          snprintf(buf, sizeof(buf), "%s%s %.1f", phases.empty() ? "" : ", ", k, v->AsDouble());
          phases += buf;
        }
      }
    }
    fprintf(stderr, "init %.1f ms (%s), invoke %.1f ms%s\n", init_ms, phases.c_str(),
            total_ms - init_ms,
            function_error ? ", function error"
                           : (reply.status != 200 ? (", " + reply.code).c_str() : ""));
  }
  return ok ? 0 : 1;
}

}  // namespace modelfn

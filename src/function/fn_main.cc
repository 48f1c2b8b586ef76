// modelfn-fn: the function runtime. Loads one model once (init phase), then serves it through the
// face its platform needs (faces/face_choice.h): HTTP on $PORT (local, Knative), HTTP plus
// CloudEvents (Cloud Run, Cloud Functions 2nd gen), the Lambda Runtime API loop, or HTTP on the
// port an Azure Functions host gives its custom handler.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "common/build_info.h"
#include "common/clock.h"
#include "common/cpu_quota.h"
#include "common/log.h"
#include "engine/ort_engine.h"
#include "faces/aws/lambda_runtime.h"
#include "faces/azure/azure_handler.h"
#include "faces/face_choice.h"
#include "faces/gcp/gcp_events.h"
#include "faces/local_buckets.h"
#include "function/fn_args.h"
#include "function/function_core.h"
#include "function/model_loader.h"
#include "function/model_source.h"
#include "function/ort_threads.h"
#include "function/template_mode.h"
#include "function/template_protocol.h"
#include "http/http_server.h"
#include "http/problem.h"
#include "observe/tracer.h"
#include "store/azure_store.h"
#include "store/gcs_store.h"
#include "store/open_store.h"
#include "store/s3_store.h"
#include "store/store_uri.h"

namespace modelfn {
namespace {

// `control_fd` >= 0: a template's init failed; it reports to its platform, never to a Runtime API
// (the instances it would have made have their own).
int InitFailure(const EventLog& log, const std::string& model, const Status& status, int control_fd,
                const FaceChoice& face) {
  if (control_fd >= 0) {
    ReportTemplateInitError(control_fd, status);
  } else if (face.face == Face::kLambda) {
    // Lambda: the init error goes to the Runtime API, which ends the environment.
    auto http = MakePlainHttpClient();
    (void)LambdaRuntime(face.endpoint, http.get(), nullptr, "", &RealClock::Get(), &log)
        .ReportInitError(status);
  }
  EventLog::Line line = log.Begin("init_error", "error");
  line.w().Key("model").String(model);
  line.w().Key("error").String(status.ToString());
  if (!status.reason().empty()) line.w().Key("code").String(status.reason());
  log.Emit(line);
  fprintf(stderr, "modelfn-fn: cannot load model from %s: %s\n", model.c_str(),
          status.message().c_str());
  return 1;
}

// Begins the init log line with what both faces report; the caller adds its own fields and emits.
// `forked` describes a forked instance's start (null when this process was exec'd): the phases it
// paid itself, the template's init being logged by the template.
EventLog::Line InitLine(const EventLog& log, const FunctionIdentity& id, const InitTimings& timings,
                        const std::optional<FetchedModel>& fetched, const std::string& source,
                        const ForkedStart* forked, const OrtThreadsChoice& threads) {
  EventLog::Line line = log.Begin("init");
  JsonWriter& w = line.w();
  w.Key("start").String(forked != nullptr ? "fork" : "exec");
  if (forked != nullptr) {
    w.Key("template_pid").Int(forked->template_pid);
    w.Key("fork_ms").Double(static_cast<double>(forked->forked_ns - forked->requested_ns) / 1e6);
    w.Key("env_ms").Double(static_cast<double>(forked->env_ns - forked->forked_ns) / 1e6);
  }
  w.Key("model").String(id.model_name);
  w.Key("version").String(id.model_version);
  w.Key("runtime_init_ms").Double(timings.runtime_init_ms);
  w.Key("model_fetch_ms").Double(timings.model_fetch_ms);
  w.Key("model_verify_ms").Double(timings.model_verify_ms);
  w.Key("model_digest_ms").Double(timings.model_digest_ms);
  w.Key("model_load_ms").Double(timings.model_load_ms);
  w.Key("ort_env_ms").Double(timings.ort_env_ms);
  w.Key("warmup_ms").Double(timings.warmup_ms);
  w.Key("ort_intra_op_threads").Int(threads.intra_op);
  w.Key("ort_spin").Bool(threads.spin);
  w.Key("ort_threads_reason").String(threads.reason);
  if (timings.tokenizer_load_ms >= 0) {
    w.Key("tokenizer_load_ms").Double(timings.tokenizer_load_ms);
    w.Key("tokenizer_wait_ms").Double(timings.tokenizer_wait_ms);
  }
  w.Key("cold_start").Bool(true);
  if (fetched) {
    w.Key("source").String(source);
    w.Key("cache").String(fetched->cache);
    w.Key("bytes_downloaded").Uint(fetched->bytes_downloaded);
  }
  return line;
}

// The timings a serving process reports: its own init, or for a forked instance only what it paid
// itself (the start to ready; the template's phases are in the template's log).
InitTimings ServingTimings(const LoadedModel& loaded, const std::optional<FetchedModel>& fetched,
                           const ForkedStart* forked) {
  InitTimings timings;
  if (forked != nullptr) return timings;
  timings = loaded.timings;
  if (fetched) {
    timings.model_fetch_ms = fetched->fetch_ms;
    timings.model_cache = fetched->cache;
  }
  timings.ort_env_ms = OrtEngine::EnvCreateMillis();
  return timings;
}

// Spans to an OTLP collector when MODELFN_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_* say where
// (observe/tracer.h); off otherwise. The service is the function's name where the platform gives
// one (Lambda, Cloud Run, modelfn up), else the model's.
std::unique_ptr<observe::Tracer> MakeTracer(const Clock& clock, const std::string& model) {
  std::string service = model;
  for (const char* var : {"AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "MODELFN_FUNCTION_NAME"}) {
    if (const char* v = getenv(var); v != nullptr && *v != '\0') service = v;
  }
  observe::TracerConfig config = observe::TracerConfig::FromEnv(ProcessEnv(), service);
  std::unique_ptr<HttpClient> http;
  if (!config.endpoint.empty())
    http = config.endpoint.rfind("https://", 0) == 0 ? MakeCurlHttpClient() : MakePlainHttpClient();
  return std::make_unique<observe::Tracer>(std::move(config), std::move(http), &clock);
}

bool log_requests_enabled(const EventLog& log) { return log.enabled(); }

// The Lambda face: the same init phase, then the Runtime API loop instead of a listener.
int RunLambda(const FaceChoice& face, LoadedModel loaded,
              const std::optional<FetchedModel>& fetched, const EventLog& log,
              const EventLog& request_log, const Clock& clock, int64_t t_start,
              const std::string& source, const ForkedStart* forked,
              const OrtThreadsChoice& threads) {
  const std::string& api = face.endpoint;
  InferenceLimits limits;
  limits.max_elements = EnvInt("MODELFN_MAX_ELEMENTS", limits.max_elements, 1, 1L << 40);
  FunctionIdentity id{loaded.manifest.name, loaded.manifest.version};
  InitTimings timings = ServingTimings(loaded, fetched, forked);
  FunctionCore core(std::move(loaded.engine), id, limits, &clock, &request_log);
  // The modelfn.yaml function a Lambda function was deployed as (`modelfn deploy --config`).
  if (const char* route = getenv("MODELFN_ROUTE_NAME")) core.SetRouteName(route);
  std::unique_ptr<observe::Tracer> tracer = MakeTracer(clock, id.model_name);
  if (tracer->enabled()) core.SetTracer(tracer.get());
  // CloudWatch metrics from the log (Embedded Metric Format), as Lambda users read them.
  if (EnvInt("MODELFN_EMF", 1, 0, 1) == 1 && log_requests_enabled(request_log)) {
    const char* fn = getenv("AWS_LAMBDA_FUNCTION_NAME");
    const char* ns = getenv("MODELFN_EMF_NAMESPACE");
    core.EnableEmf(ns && *ns ? ns : "modelfn", fn && *fn ? fn : id.model_name);
  }
  timings.runtime_init_ms = static_cast<double>(clock.MonotonicNanos() - t_start) / 1e6;
  core.SetReady(timings);
  {
    EventLog::Line line = InitLine(log, id, timings, fetched, source, forked, threads);
    line.w().Key("mode").String("lambda");
    line.w().Key("face").String(FaceName(face.face)).Key("face_reason").String(face.reason);
    log.Emit(line);
  }
  // No drain to do between invocations: SIGTERM ends the process, as Lambda expects.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_UNBLOCK, &sigs, nullptr);
  auto http = MakePlainHttpClient();  // the Runtime API is plain HTTP on loopback: no libcurl
  LambdaRuntime runtime(api, http.get(), &core, id.model_name, &clock, &log);
  runtime.EnableRecordEvents(
      ObjectEventConfig::FromEnv(ProcessEnv()),
      WithLocalBuckets(
          ProcessEnv(),
          [&clock](const std::string& bucket) -> StatusOr<std::unique_ptr<ObjectStore>> {
            ASSIGN_OR_RETURN(auto s3, S3Store::FromEnvironment(bucket, "", ProcessEnv(), &clock));
            return std::unique_ptr<ObjectStore>(std::move(s3));
          }));
  Status s = runtime.Run();
  log.Message("error", "runtime API loop ended: " + s.message());
  return 1;
}

StatusOr<LoadedModel> LoadFromStore(const std::string& uri, const EngineFactory& factory,
                                    const Clock& clock, FetchedModel* fetched) {
  ASSIGN_OR_RETURN(ModelSourceUri source, ParseModelSource(uri));
  ASSIGN_OR_RETURN(auto store, OpenStore(source.store, &clock));
  CacheOptions cache_options;
  cache_options.max_bytes =
      static_cast<uint64_t>(EnvInt("MODELFN_CACHE_MAX_BYTES", 2L << 30, 1, 1L << 50));
  ModelCache cache(cache_options, &clock);
  return FetchAndLoadModel(*store, source.store.ToString(), cache, source.name, source.version,
                           factory, clock, fetched);
}

// A store that cannot be reached at init is reported with a problem code, like every other
// failure: "store_unavailable" when it did not answer, the status's own code otherwise.
Status WithStoreCode(const Status& s) {
  if (!s.reason().empty()) return s;
  bool unreachable =
      s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
  return Status(s.code(), s.message(),
                unreachable ? std::string("store_unavailable") : ProblemFromStatus(s).code);
}

void ToResponse(Outcome o, HttpResponse* resp) {
  resp->status = o.status;
  resp->content_type = std::move(o.content_type);
  resp->headers = std::move(o.headers);
  resp->body = std::move(o.body);
}

// The serving path, after the init: the Runtime API loop or the HTTP server. Runs in an exec'd
// process, or in an instance forked from a template (`forked`), whose environment it reads anew.
int Serve(const FnArgs& args, LoadedModel loaded, const std::optional<FetchedModel>& fetched,
          const Clock& clock, int64_t t_start, const ForkedStart* forked) {
  bool log_requests = EnvInt("MODELFN_LOG_REQUESTS", 1, 0, 1) == 1;
  EventLog log(STDOUT_FILENO, &clock);
  EventLog request_log(log_requests ? STDOUT_FILENO : -1, &clock);
  auto face = ChooseFace(args.face, ProcessEnv());
  if (!face.ok()) {
    fprintf(stderr, "modelfn-fn: %s\n", face.status().message().c_str());
    return 2;
  }
  if (face->face == Face::kLambda) {
    if (args.batching_options.enabled()) {
      log.Message("info",
                  "batching is for the HTTP faces: a Lambda instance receives one event at a time "
                  "(POST /v1/batch still merges the items of one request)");
    }
    return RunLambda(*face, std::move(loaded), fetched, log, request_log, clock, t_start,
                     args.model, forked, args.ort_threads);
  }
  CpuQuota quota = ReadCpuQuota();
  int workers = args.workers > 0 ? args.workers : quota.EffectiveCpus();
  HttpServerOptions opts;
  opts.host = args.host;
  opts.port = args.port;
  if (face->face == Face::kAzure && !args.port_given) {
    long azure_port;
    if (!ParseInt(face->endpoint.c_str(), 0, 65535, &azure_port)) {
      fprintf(stderr, "modelfn-fn: FUNCTIONS_CUSTOMHANDLER_PORT=%s is not a port number\n",
              face->endpoint.c_str());
      return 2;
    }
    opts.port = static_cast<int>(azure_port);
  }
  opts.workers = workers;
  opts.limits.max_body_bytes =
      static_cast<size_t>(EnvInt("MODELFN_MAX_BODY_BYTES", 6 << 20, 1, 1L << 32));
  InferenceLimits limits;
  limits.max_elements = EnvInt("MODELFN_MAX_ELEMENTS", limits.max_elements, 1, 1L << 40);

  FunctionIdentity id{loaded.manifest.name, loaded.manifest.version};
  InitTimings timings = ServingTimings(loaded, fetched, forked);
  FunctionCore core(std::move(loaded.engine), id, limits, &clock, &request_log);
  // The modelfn.yaml function a Lambda function was deployed as (`modelfn deploy --config`).
  if (const char* route = getenv("MODELFN_ROUTE_NAME")) core.SetRouteName(route);
  std::unique_ptr<observe::Tracer> tracer = MakeTracer(clock, id.model_name);
  if (tracer->enabled()) core.SetTracer(tracer.get());

  // The Google Cloud face: CloudEvents (Eventarc) to any POST that carries one, and to POST /.
  std::unique_ptr<GcpEventHandler> events;
  if (face->face == Face::kCloudEvents) {
    events = std::make_unique<GcpEventHandler>(
        &core, id.model_name, GcpEventConfig::FromEnv(ProcessEnv()),
        WithLocalBuckets(
            ProcessEnv(),
            [&clock](const std::string& bucket) -> StatusOr<std::unique_ptr<ObjectStore>> {
              ASSIGN_OR_RETURN(auto gcs,
                               GcsStore::FromEnvironment(bucket, "", ProcessEnv(), &clock));
              return std::unique_ptr<ObjectStore>(std::move(gcs));
            }),
        &request_log);  // one line per event, as per request: MODELFN_LOG_REQUESTS=0 silences it
  }
  // The Azure Functions face: invocation payloads on POST /<functionName>, forwarded HTTP at
  // /api/... (faces/azure/azure_handler.h).
  std::unique_ptr<AzureHandler> azure;
  if (face->face == Face::kAzure) {
    azure = std::make_unique<AzureHandler>(
        &core, id.model_name, AzureFaceConfig::FromEnv(ProcessEnv()),
        WithLocalBuckets(
            ProcessEnv(),
            [&clock](const std::string& container) -> StatusOr<std::unique_ptr<ObjectStore>> {
              ASSIGN_OR_RETURN(auto store,
                               AzureStore::FromEnvironment("", container, "",
                                                           AzureStoreEnv(ProcessEnv()), &clock));
              return std::unique_ptr<ObjectStore>(std::move(store));
            }),
        &request_log);
  }
  BatchingOptions batching = args.batching_options;
  if (batching.enabled()) {
    // The Runs are on the batcher's threads: a request's arrival waits for a Run's end (or an
    // idle CPU) instead of cutting into it (http_server.h).
    opts.loops_yield_to_work = true;
    if (batching.runners == 0) batching.runners = workers;
    Status s = core.EnableBatching(batching);
    if (!s.ok()) log.Message("warn", "batching: the Run times were not measured: " + s.message());
  }
  // The events and the Azure invocations of those faces: answered at once (true), else false.
  auto face_request = [&events, &azure](const HttpRequest& req, HttpResponse* resp) {
    Outcome o;
    if (events && req.method == "POST" && (req.path == "/" || LooksLikeCloudEvent(req.headers))) {
      o = events->Handle(req.headers, req.body);
    } else if (azure && azure->IsInvocation(req.method, req.path)) {
      o = azure->Invoke(req.path.substr(1), req.body);
    } else {
      return false;
    }
    ToResponse(std::move(o), resp);
    return true;
  };
  // `route` holds the path an Azure forwarded request maps to (the invocation points at it).
  // `trace` holds the context a traceparent header carried (the invocation points at it).
  auto invocation = [&azure](const HttpRequest& req, std::string* route,
                             std::optional<observe::TraceContext>* trace) {
    if (azure) *route = azure->Route(req.path);
    Invocation inv;
    if (const std::string* tp = req.Header("traceparent")) {
      *trace = observe::ParseTraceparent(*tp);
      if (*trace) {
        if (const std::string* ts = req.Header("tracestate"); ts && ts->size() <= 512)
          (*trace)->tracestate = *ts;
        inv.trace = &**trace;
      }
    }
    inv.method = req.method;
    inv.path = azure ? std::string_view(*route) : std::string_view(req.path);
    inv.query = req.query;
    inv.body = req.body;
    inv.content_type = req.Header("content-type");
    inv.request_id = req.Header("x-request-id");
    if (inv.request_id && !IsSafeRequestId(*inv.request_id)) inv.request_id = nullptr;  // generated
    inv.inference_header_length = req.Header("inference-header-content-length");
    return inv;
  };
  StatusOr<std::unique_ptr<HttpServer>> server = InternalError("no server");
  if (core.batcher() != nullptr) {
    // Requests are held while the batcher queues and runs them; its runners answer.
    server = HttpServer::CreateAsync(opts, [&](HttpRequest req, HttpResponder respond) {
      HttpResponse resp;
      if (face_request(req, &resp)) {
        respond(std::move(resp));
        return;
      }
      std::string route;
      std::optional<observe::TraceContext> trace;
      core.HandleAsync(
          invocation(req, &route, &trace),
          [respond](Outcome o) {
            HttpResponse r;
            ToResponse(std::move(o), &r);
            respond(std::move(r));
          },
          respond.gone_flag());
    });
  } else {
    server = HttpServer::Create(opts, [&](const HttpRequest& req, HttpResponse* resp) {
      if (face_request(req, resp)) return;
      std::string route;
      std::optional<observe::TraceContext> trace;
      ToResponse(core.Handle(invocation(req, &route, &trace)), resp);
    });
  }
  if (!server.ok()) {
    fprintf(stderr, "modelfn-fn: %s\n", server.status().message().c_str());
    return 1;
  }
  timings.runtime_init_ms = static_cast<double>(clock.MonotonicNanos() - t_start) / 1e6;
  core.SetReady(timings);
  {
    EventLog::Line line = InitLine(log, id, timings, fetched, args.model, forked, args.ort_threads);
    JsonWriter& w = line.w();
    w.Key("mode").String("http");
    w.Key("face").String(FaceName(face->face)).Key("face_reason").String(face->reason);
    w.Key("port").Int((*server)->port());
    w.Key("workers").Int(workers);
    w.Key("cpu_quota").Double(quota.quota_cpus);
    if (const Batcher* b = core.batcher()) {
      w.Key("batching").String(BatchingOptionsString(b->options()));
      w.Key("batch_run_ms").String(b->run_times().ToString());
    }
    log.Emit(line);
  }
  // A supervisor (modelfn up) learns the port and that init is done from one line on this fd.
  if (const char* fd_s = getenv("MODELFN_READY_FD")) {
    long fd = -1;
    if (ParseInt(fd_s, 0, 1 << 20, &fd)) {
      std::string ready = std::to_string((*server)->port()) + "\n";
      ssize_t ignored = write(static_cast<int>(fd), ready.data(), ready.size());
      (void)ignored;
      close(static_cast<int>(fd));
    }
  }

  // Signals go to one waiting thread, never to the event loops.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  HttpServer* srv = server->get();
  std::thread signals([srv, sigs, &log] {
    int sig = 0;
    sigwait(&sigs, &sig);
    log.Message("info", sig == SIGTERM ? "SIGTERM: draining" : "SIGINT: draining");
    srv->Shutdown();
  });
  srv->Run();
  // Run returns once Shutdown has been called; the signal thread may still be inside it, so it is
  // joined before the server is destroyed. The signal wakes it should Run ever return first.
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  EventLog::Line line = log.Begin("shutdown");
  line.w().Key("requests").Uint(core.stats().Total());
  log.Emit(line);
  return 0;
}

// Template mode: the init is done; report it, then make instances until the platform closes the
// control socket. Returns the exit code of the template, or serves in a forked instance.
int RunTemplate(int argc, char** argv, int control_fd, const FnArgs& args, LoadedModel loaded,
                const std::optional<FetchedModel>& fetched, const EventLog& log, const Clock& clock,
                int64_t t_start) {
  FunctionIdentity id{loaded.manifest.name, loaded.manifest.version};
  InitTimings timings = ServingTimings(loaded, fetched, nullptr);
  timings.runtime_init_ms = static_cast<double>(clock.MonotonicNanos() - t_start) / 1e6;
  std::string summary;
  {
    JsonWriter w(&summary);
    w.BeginObject();
    w.Key("model").String(id.model_name).Key("version").String(id.model_version);
    w.Key("runtime_init_ms").Double(timings.runtime_init_ms);
    w.Key("model_load_ms").Double(timings.model_load_ms);
    w.Key("warmup_ms").Double(timings.warmup_ms);
    w.EndObject();
  }
  {
    EventLog::Line line =
        InitLine(log, id, timings, fetched, args.model, nullptr, args.ort_threads);
    line.w().Key("mode").String("template");
    log.Emit(line);
  }
  StatusOr<ForkedStart> start = ServeForkCommands(control_fd, args.model, summary, log, clock);
  if (!start.ok()) {
    bool stopped = start.status().code() == StatusCode::kNotFound;
    log.Message(stopped ? "info" : "error",
                stopped ? "template stopped: the platform closed its control socket"
                        : "template ended: " + start.status().message());
    return stopped ? 0 : 1;
  }
  // A forked instance: its own environment now, so its own arguments; the model is the one loaded.
  FnArgs own;
  own.model = args.model;
  int rc = ParseArgs(argc, argv, &own);
  if (rc != 0) return rc < 0 ? 0 : rc;
  own.ort_threads = args.ort_threads;  // the session, and its threads, are the template's
  return Serve(own, std::move(loaded), fetched, clock, start->requested_ns, &*start);
}

int Main(int argc, char** argv) {
  const Clock& clock = RealClock::Get();
  int64_t t_start = clock.MonotonicNanos();
  OrtEngine::PrepareProcess();
  FnArgs args;
  int rc = ParseArgs(argc, argv, &args);
  if (args.version) {
    bool json;
    WantsVersion(argc, argv, &json);
    std::string ort = OrtEngine::RuntimeVersion();
    puts((json ? VersionJson("modelfn-fn", ort) : VersionText("modelfn-fn", ort)).c_str());
    return 0;
  }
  if (rc != 0) return rc < 0 ? 0 : rc;
  // The face is chosen again where serving starts (a forked instance has its own environment);
  // a choice that cannot be served is a usage error before any model is loaded.
  auto face = ChooseFace(args.face, ProcessEnv());
  if (!face.ok()) {
    fprintf(stderr, "modelfn-fn: %s\n%s", face.status().message().c_str(), kFnUsage);
    return 2;
  }
  int control_fd = -1;
  if (const char* t = getenv(kTemplateFdEnv); t != nullptr) {
    long fd;
    if (!ParseInt(t, 0, 1 << 20, &fd)) {
      fprintf(stderr, "modelfn-fn: %s=%s is not a descriptor\n", kTemplateFdEnv, t);
      return 2;
    }
    control_fd = static_cast<int>(fd);
    fcntl(control_fd, F_SETFD, FD_CLOEXEC);
  }

  // Signals go to one waiting thread, never to the event loops.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  EventLog log(STDOUT_FILENO, &clock);
  OrtEngineOptions ort;
  OrtThreadsFacts facts;
  facts.cpus = ReadCpuQuota().EffectiveCpus();
  facts.one_at_a_time = face->face == Face::kLambda;
  facts.forks_instances = control_fd >= 0;
  facts.lambda_memory_mb =
      static_cast<int>(EnvInt("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0, 0, 1 << 20));
  if (args.batching_options.enabled() && !facts.one_at_a_time) {
    facts.batch_runners = args.batching_options.runners > 0 ? args.batching_options.runners
                          : args.workers > 0                ? args.workers
                                                            : facts.cpus;
  }
  args.ort_threads = *ChooseOrtThreads(args.threads, args.spin, facts);  // checked by ParseArgs
  ort.intra_op_threads = args.ort_threads.intra_op;
  ort.spin = args.ort_threads.spin;
  ort.graph_optimization_level = static_cast<int>(EnvInt("MODELFN_ORT_OPT_LEVEL", 99, 0, 99));
  EngineFactory factory = [&](const std::string& path,
                              std::string_view bytes) -> StatusOr<std::unique_ptr<Engine>> {
    ASSIGN_OR_RETURN(auto e, OrtEngine::LoadFromBytes(bytes, path, ort));
    return std::unique_ptr<Engine>(std::move(e));
  };
  // ONNX Runtime's environment takes most of the cold start; build it while the model is read
  // and verified.
  std::thread env_thread(OrtEngine::InitEnvironment);
  // A store URI ("s3://bucket/models/digits@1.0.0") is fetched into the host cache first.
  std::optional<FetchedModel> fetched;
  StatusOr<LoadedModel> loaded = InternalError("not loaded");
  if (HasStoreScheme(args.model)) {
    FetchedModel f;
    loaded = LoadFromStore(args.model, factory, clock, &f);
    if (!loaded.ok()) loaded = WithStoreCode(loaded.status());
    if (!f.dir.empty()) fetched = std::move(f);
    if (fetched && !fetched->warning.empty()) log.Message("warn", fetched->warning);
  } else {
    loaded = LoadModelDir(args.model, factory, clock);
  }
  env_thread.join();
  if (!loaded.ok()) return InitFailure(log, args.model, loaded.status(), control_fd, *face);
  if (loaded->warmup.reason() == "warmup_skipped") {
    log.Message("info", "warm-up skipped: " + loaded->warmup.message());
  } else if (!loaded->warmup.ok()) {
    log.Message("warn", "warm-up run failed: " + loaded->warmup.message());
  }
  if (control_fd >= 0) {
    return RunTemplate(argc, argv, control_fd, args, std::move(loaded).value(), fetched, log, clock,
                       t_start);
  }
  return Serve(args, std::move(loaded).value(), fetched, clock, t_start, nullptr);
}

}  // namespace
}  // namespace modelfn

int main(int argc, char** argv) { return modelfn::Main(argc, argv); }

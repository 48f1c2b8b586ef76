#include "function/fn_args.h"

#include <cstdio>
#include <cstdlib>

namespace modelfn {

const char* const kFnUsage =
    "usage: modelfn-fn --model DIR|STORE-URI/NAME[@VERSION] [--port N] [--host ADDR] [--workers "
    "N]\n"
    "       modelfn-fn --version [--json]\n"
    "\n"
    "Serves the ONNX model in DIR (model.onnx + manifest.json), or model NAME from a store\n"
    "(file:///path, s3://bucket/prefix, gs://..., az://...) at VERSION or at its current.json.\n"
    "\n"
    "  --model M       model folder or store URI (env MODELFN_MODEL)\n"
    "  --port N        listen port (env PORT, default 8080; 0 picks a free port)\n"
    "  --host ADDR     listen address (env MODELFN_HOST, default 0.0.0.0)\n"
    "  --workers N     event-loop threads (env MODELFN_WORKERS, default: the cgroup CPU quota)\n"
    "  --face F        lambda|http|cloudevents|azure (default: from the environment:\n"
    "                  AWS_LAMBDA_RUNTIME_API, FUNCTIONS_CUSTOMHANDLER_PORT, K_SERVICE, PORT)\n"
    "  --batching B    dynamic batching of concurrent requests over HTTP (env MODELFN_BATCHING):\n"
    "                  off (default), on, or max_batch=N,max_delay_ms=auto|N,p99_ms=N,runners=N\n"
    "  --threads T     ONNX Runtime threads per Run (env MODELFN_ORT_INTRA_OP_THREADS): auto\n"
    "                  (default: every CPU for the Lambda face's one event at a time, one per\n"
    "                  request for the HTTP faces, CPUs / runners with batching) or N in [1, "
    "256];\n"
    "                  MODELFN_ORT_SPIN=auto|on|off: whether those threads spin between operators\n"
    "                  (auto: on for the Lambda face with more than one thread)\n"
    "\n"
    "Environment: MODELFN_MAX_BODY_BYTES (default 6291456), MODELFN_MAX_ELEMENTS (default "
    "16777216),\n"
    "MODELFN_ORT_OPT_LEVEL (0|1|2|99, default 99),\n"
    "MODELFN_LOG_REQUESTS (1|0, default 1), MODELFN_CACHE_DIR (default $TMPDIR/modelfn-cache),\n"
    "MODELFN_CACHE_MAX_BYTES (default 2147483648).\n"
    "MODELFN_TEMPLATE_FD=N: template mode (a platform's instance factory; docs/platform.md).\n"
    "Routes: POST /v1/infer, POST /v1/batch, GET /v1/health, GET /v1/models, GET /metrics,\n"
    "and the Open Inference Protocol under /v2.\n";

bool ParseInt(const char* s, long lo, long hi, long* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

long EnvInt(const char* name, long def, long lo, long hi) {
  const char* v = getenv(name);
  long out = def;
  if (v != nullptr && !ParseInt(v, lo, hi, &out)) {
    fprintf(stderr, "modelfn-fn: ignoring %s=%s (expected an integer in [%ld, %ld])\n", name, v, lo,
            hi);
    return def;
  }
  return out;
}

// Returns 0 to continue, or the process exit code.
int ParseArgs(int argc, char** argv, FnArgs* args) {
  if (const char* m = getenv("MODELFN_MODEL")) args->model = m;
  if (const char* h = getenv("MODELFN_HOST")) args->host = h;
  long v;
  if (const char* p = getenv("PORT")) {
    if (!ParseInt(p, 0, 65535, &v)) {
      fprintf(stderr, "modelfn-fn: PORT=%s is not a port number\n", p);
      return 2;
    }
    args->port = static_cast<int>(v);
  }
  args->workers = static_cast<int>(EnvInt("MODELFN_WORKERS", 0, 0, 1024));
  if (const char* b = getenv("MODELFN_BATCHING")) args->batching = b;
  if (const char* t = getenv("MODELFN_ORT_INTRA_OP_THREADS")) args->threads = t;
  if (const char* t = getenv("MODELFN_ORT_SPIN")) args->spin = t;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "-h" || a == "--help") {
      fputs(kFnUsage, stdout);
      return -1;
    } else if (a == "--version" || a == "-V") {
      args->version = true;
      return -1;
    } else if (a == "--model") {
      const char* m = value();
      if (!m) break;
      args->model = m;
    } else if (a == "--host") {
      const char* h = value();
      if (!h) break;
      args->host = h;
    } else if (a == "--port") {
      if (!ParseInt(value(), 0, 65535, &v)) {
        fprintf(stderr, "modelfn-fn: --port needs a number in [0, 65535]\n%s", kFnUsage);
        return 2;
      }
      args->port = static_cast<int>(v);
      args->port_given = true;
    } else if (a == "--face") {
      const char* f = value();
      if (!f) break;
      args->face = f;
    } else if (a == "--batching") {
      const char* b = value();
      if (!b) break;
      args->batching = b;
    } else if (a == "--threads") {
      const char* t = value();
      if (!t) break;
      args->threads = t;
    } else if (a == "--workers") {
      if (!ParseInt(value(), 1, 1024, &v)) {
        fprintf(stderr, "modelfn-fn: --workers needs a number in [1, 1024]\n%s", kFnUsage);
        return 2;
      }
      args->workers = static_cast<int>(v);
    } else {
      fprintf(stderr, "modelfn-fn: unknown argument '%s'\n%s", a.c_str(), kFnUsage);
      return 2;
    }
  }
  auto batching = ParseBatchingOptions(args->batching);
  if (!batching.ok()) {
    fprintf(stderr, "modelfn-fn: %s\n%s", batching.status().message().c_str(), kFnUsage);
    return 2;
  }
  args->batching_options = *batching;
  // The choice itself needs the face and the CPUs (Main); the setting is checked here.
  if (auto t = ChooseOrtThreads(args->threads, args->spin, OrtThreadsFacts()); !t.ok()) {
    fprintf(stderr, "modelfn-fn: %s\n%s", t.status().message().c_str(), kFnUsage);
    return 2;
  }
  if (args->model.empty()) {
    // As a Lambda function the model ships in the deployment package by default.
    const char* task_root = getenv("LAMBDA_TASK_ROOT");
    if (getenv("AWS_LAMBDA_RUNTIME_API") && task_root && *task_root) {
      args->model = std::string(task_root) + "/model";
    } else {
      fprintf(stderr, "modelfn-fn: no model: pass --model DIR or set MODELFN_MODEL\n%s", kFnUsage);
      return 2;
    }
  }
  return 0;
}

}  // namespace modelfn

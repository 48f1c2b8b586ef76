#include "cli/up_cmd.h"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/json.h"
#include "gateway/keys.h"
#include "http/http_client.h"
#include "platform/config.h"
#include "platform/platform.h"
#include "pool/template_client.h"

namespace modelfn {
namespace {

constexpr const char* kUpUsage =
    "usage: modelfn up [-f modelfn.yaml] [--listen HOST:PORT]\n"
    "\n"
    "Starts the local platform: a gateway on gateway.listen (default 127.0.0.1:8080) and, per\n"
    "function, instances of modelfn-fn started on demand, scaled between min_instances and\n"
    "max_instances, stopped after idle_ttl_s. Logs are JSON lines on stdout; instance output goes\n"
    "to <state_dir>/logs/<function>.log. SIGINT or SIGTERM stops it gracefully; SIGHUP reloads the "
    "file.\n"
    "\n"
    "Environment: MODELFN_FN_BINARY (default: modelfn-fn beside modelfn),\n"
    "MODELFN_MEMORY_LIMIT=rlimit|none (force the memory-limit mechanism),\n"
    "MODELFN_CPU_LIMIT=cgroup|emulate|none (force how `cpus:` is enforced).\n";

}  // namespace

int CmdUp(int argc, char** argv) {
  Args a(argc, argv, {"f", "file", "listen"}, {"help"});
  if (a.Has("help")) return fputs(kUpUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty()) return Usage(kUpUsage, a.ok() ? "" : a.error());
  std::string path = a.Get("f", a.Get("file", "modelfn.yaml"));
  std::string listen = a.Get("listen");
  if (a.Has("listen") && listen.rfind(':') == std::string::npos) {
    return Usage(kUpUsage, "--listen needs HOST:PORT");
  }
  // Also what SIGHUP reloads: the file again, with the same --listen.
  auto load = [path, listen]() {
    auto c = LoadPlatformConfig(path);
    if (c.ok() && !listen.empty()) {
      size_t colon = listen.rfind(':');
      c->gateway.host = listen.substr(0, colon);
      c->gateway.port = atoi(listen.c_str() + colon + 1);
    }
    return c;
  };
  auto config = load();
  if (!config.ok()) return Fail(config.status().message());
  if (a.Has("listen")) {
    const GatewayConfig& g = config->gateway;
    if (!IsLoopbackHost(g.host) && !g.HasAuth() && !g.allow_unauthenticated) {
      return Fail("refusing to listen on " + g.host +
                  " with no auth: enable gateway.auth, or set gateway.allow_unauthenticated");
    }
  }
  // Signals go to one waiting thread; the platform's threads never see them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Instances forked from a template become our children through this; the main thread runs
  // the platform below and so outlives them (their death signal follows it).
  if (Status s = BecomeChildSubreaper(); !s.ok()) {
    fprintf(stderr, "modelfn up: %s (instances are exec'd)\n", s.message().c_str());
  }
  PlatformOptions o;
  const char* fn = getenv("MODELFN_FN_BINARY");
  o.fn_binary = fn && *fn ? fn : SelfDir() + "/modelfn-fn";
  o.clock = &RealClock::Get();
  if (const char* m = getenv("MODELFN_MEMORY_LIMIT")) o.memory_limit_override = m;
  if (const char* m = getenv("MODELFN_CPU_LIMIT")) o.cpu_limit_override = m;
  auto platform = Platform::Create(std::move(config).value(), o);
  if (!platform.ok()) return Fail(platform.status().message());
  Platform* p = platform->get();
  std::thread waiter([p, &sigs, &load] {
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) (void)p->Reload(load());
    p->Shutdown();
  });
  fprintf(stderr, "modelfn up: serving on %s (dashboard: %s/dashboard)\n", p->url().c_str(),
          p->url().c_str());
  p->Run();
  // Run returned (signal or error): wake the waiter if it still waits.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  platform->reset();
  return 0;
}

// ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kStatusUsage =
    "usage: modelfn status [-f modelfn.yaml | --url URL] [--json]\n"
    "\n"
    "Functions, instances, p50/p95/p99 latency and cold starts of a running `modelfn up`, found\n"
    "through <state_dir>/up.json (or at --url). When the gateway wants credentials: an API key\n"
    "in MODELFN_API_KEY (modelfn keys create), or a JWT in MODELFN_TOKEN.\n";

}  // namespace

int CmdStatus(int argc, char** argv) {
  Args a(argc, argv, {"f", "file", "url"}, {"json", "help"});
  if (a.Has("help")) return fputs(kStatusUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty()) {
    return Usage(kStatusUsage, a.ok() ? "" : a.error());
  }
  std::string url = a.Get("url");
  if (url.empty()) {
    auto config = LoadPlatformConfig(a.Get("f", a.Get("file", "modelfn.yaml")));
    if (!config.ok()) return Fail(config.status().message());
    auto state = ReadFile(config->state_dir + "/up.json");
    if (!state.ok())
      return Fail("modelfn up is not running (no " + config->state_dir + "/up.json)");
    auto doc = Json::Parse(*state);
    const Json* u = doc.ok() ? doc->Find("local_url") : nullptr;
    if (u == nullptr || !u->is_string())
      return Fail("unreadable " + config->state_dir + "/up.json");
    url = u->AsString();
  }
  auto http = MakePlainHttpClient();
  HttpCall call;
  call.url = url + "/v1/status";
  if (const char* key = getenv("MODELFN_API_KEY")) call.headers.emplace_back("X-Api-Key", key);
  if (const char* token = getenv("MODELFN_TOKEN"))
    call.headers.emplace_back("Authorization", std::string("Bearer ") + token);
  call.connect_timeout_ms = 2000;
  call.stall_timeout_s = 5;
  auto reply = http->Send(call);
  if (!reply.ok()) return Fail("cannot reach " + url + ": " + reply.status().message());
  if (reply->status == 401 || reply->status == 403) {
    // The platform wants credentials: say how to give them, keeping the gateway's code.
    auto problem = Json::Parse(reply->body);
    const Json* code = problem.ok() ? problem->Find("code") : nullptr;
    const Json* detail = problem.ok() ? problem->Find("detail") : nullptr;
    std::string why = detail && detail->is_string() ? detail->AsString() : reply->body;
    return Fail(Status(
        StatusCode::kFailedPrecondition,
        url + "/v1/status answered " + std::to_string(reply->status) + " (" + why + "): " +
            (reply->status == 401
                 ? "give an API key in MODELFN_API_KEY (modelfn keys create --name me) or a JWT "
                   "in MODELFN_TOKEN"
                 : "the key or token given is not allowed to read the status"),
        code && code->is_string() ? code->AsString()
                                  : (reply->status == 401 ? "unauthorized" : "forbidden")));
  }
  if (reply->status != 200) {
    return Fail(url + "/v1/status answered HTTP " + std::to_string(reply->status) + ": " +
                reply->body);
  }
  if (a.Has("json")) {
    printf("%s\n", reply->body.c_str());
    return 0;
  }
  auto doc = Json::Parse(reply->body);
  if (!doc.ok()) return Fail("unreadable status");
  printf("%s  (up %.0f s, memory limit: %s)\n", url.c_str(),
         doc->Find("uptime_s") ? doc->Find("uptime_s")->AsDouble() : 0.0,
         doc->Find("memory_limit") ? doc->Find("memory_limit")->AsString().c_str() : "?");
  printf("%-16s %-7s %-9s %9s %8s %8s %8s %8s %6s\n", "FUNCTION", "MODE", "INSTANCES", "REQUESTS",
         "ERRORS", "P50_MS", "P95_MS", "P99_MS", "COLD");
  for (const Json& f : doc->Find("functions")->AsArray()) {
    auto num = [&](const char* k) { return f.Find(k) ? f.Find(k)->AsDouble() : 0.0; };
    printf("%-16s %-7s %9.0f %9.0f %8.0f %8.2f %8.2f %8.2f %6.0f\n",
           f.Find("name")->AsString().c_str(), f.Find("mode")->AsString().c_str(), num("instances"),
           num("requests"), num("errors"), num("p50_ms"), num("p95_ms"), num("p99_ms"),
           num("cold_starts"));
    for (const Json& v : f.Find("versions")->AsArray()) {
      for (const Json& i : v.Find("instance_list")->AsArray()) {
        printf("  %-30s %-8s pid %-7lld served %-6lld init %.1f ms\n",
               i.Find("name")->AsString().c_str(), i.Find("state")->AsString().c_str(),
               static_cast<long long>(i.Find("pid")->AsInt64()),
               static_cast<long long>(i.Find("served")->AsInt64()), i.Find("init_ms")->AsDouble());
      }
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kKeysUsage =
    "usage: modelfn keys create --name NAME [--plan PLAN] [-f modelfn.yaml] [--json]\n"
    "       modelfn keys list [-f modelfn.yaml] [--json]\n"
    "       modelfn keys revoke ID|NAME [-f modelfn.yaml]\n"
    "\n"
    "API keys for the gateway (gateway.auth.api_keys: true), kept in <state_dir>/keys.db. Only a\n"
    "hash is stored: the key is printed once, at creation. Clients send it as X-Api-Key. PLAN\n"
    "names an entry of plans: in modelfn.yaml (rate_per_s, burst, daily_quota, monthly_quota).\n"
    "A running gateway sees new and revoked keys at once.\n";

}  // namespace

int CmdKeys(int argc, char** argv) {
  Args a(argc, argv, {"f", "file", "name", "plan"}, {"json", "help"});
  if (a.Has("help")) return fputs(kKeysUsage, stdout), 0;
  if (!a.ok() || a.positional().empty()) return Usage(kKeysUsage, a.ok() ? "" : a.error());
  const std::string& sub = a.positional()[0];
  auto config = LoadPlatformConfig(a.Get("f", a.Get("file", "modelfn.yaml")));
  if (!config.ok()) return Fail(config.status().message());
  if (mkdir(config->state_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Fail("cannot create " + config->state_dir);
  }
  auto keys = KeyStore::Open(config->state_dir + "/keys.db");
  if (!keys.ok()) return Fail(keys.status().message());
  std::string now = FormatRfc3339(RealClock::Get().WallNanos());
  if (sub == "create") {
    if (a.positional().size() != 1 || !a.Has("name")) {
      return Usage(kKeysUsage, "keys create needs --name");
    }
    std::string plan = a.Get("plan");
    if (!plan.empty() && config->FindPlan(plan) == nullptr) {
      return Fail("no plan '" + plan + "' in the configuration's plans:");
    }
    auto k = (*keys)->Create(a.Get("name"), plan, now);
    if (!k.ok()) return Fail(k.status().message());
    if (a.Has("json")) {
      std::string out;
      JsonWriter w(&out);
      w.BeginObject().Key("id").String(k->first.id).Key("name").String(k->first.name);
      w.Key("plan").String(plan).Key("key").String(k->second).EndObject();
      printf("%s\n", out.c_str());
    } else {
      printf("%s\n", k->second.c_str());
      fprintf(stderr, "modelfn: key %s (%s) created; it is shown only now\n", k->first.id.c_str(),
              k->first.name.c_str());
    }
    return 0;
  }
  if (sub == "list") {
    auto list = (*keys)->List();
    if (!list.ok()) return Fail(list.status().message());
    if (a.Has("json")) {
      std::string out;
      JsonWriter w(&out);
      w.BeginArray();
      for (const auto& k : *list) {
        w.BeginObject().Key("id").String(k.id).Key("name").String(k.name);
        w.Key("plan").String(k.plan).Key("created_at").String(k.created_at);
        w.Key("revoked").Bool(!k.revoked_at.empty());
        if (!k.revoked_at.empty()) w.Key("revoked_at").String(k.revoked_at);
        w.EndObject();
      }
      w.EndArray();
      printf("%s\n", out.c_str());
    } else {
      printf("%-10s %-20s %-12s %-26s %s\n", "ID", "NAME", "PLAN", "CREATED", "STATE");
      for (const auto& k : *list) {
        printf("%-10s %-20s %-12s %-26s %s\n", k.id.c_str(), k.name.c_str(),
               k.plan.empty() ? "-" : k.plan.c_str(), k.created_at.c_str(),
               k.revoked_at.empty() ? "valid" : ("revoked " + k.revoked_at).c_str());
      }
    }
    return 0;
  }
  if (sub == "revoke") {
    if (a.positional().size() != 2) return Usage(kKeysUsage, "keys revoke needs ID or NAME");
    Status s = (*keys)->Revoke(a.positional()[1], now);
    if (!s.ok()) return Fail(s.message());
    printf("revoked %s\n", a.positional()[1].c_str());
    return 0;
  }
  return Usage(kKeysUsage, "unknown keys command '" + sub + "'");
}

}  // namespace modelfn

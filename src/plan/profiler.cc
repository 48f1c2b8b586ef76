#include "plan/profiler.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/json.h"
#include "http/http_client.h"
#include "pool/process.h"

namespace modelfn {
namespace plan {
namespace {

double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void KillAndReap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  std::string l;
  while (std::getline(in, l)) all.push_back(l);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += all[i].substr(0, 400) + "\n";
  return out;
}

// The last init line of an instance's log: its phases.
void ReadInitPhases(const std::string& log, ProfilePoint* p, std::vector<double>* runtime,
                    std::vector<double>* fetch, std::vector<double>* load,
                    std::vector<double>* warmup) {
  std::ifstream in(log);
  std::string l, last;
  while (std::getline(in, l))
    if (l.find("\"event\":\"init\"") != std::string::npos) last = l;
  auto j = Json::Parse(last);
  if (!j.ok() || !j->is_object()) return;
  auto get = [&](const char* k, std::vector<double>* into) {
    const Json* v = j->Find(k);
    if (v != nullptr && v->is_number()) into->push_back(v->AsDouble());
  };
  get("runtime_init_ms", runtime);
  get("model_fetch_ms", fetch);
  get("model_load_ms", load);
  get("warmup_ms", warmup);
  (void)p;
}

StatusOr<double> PostOnce(HttpClient* client, const std::string& url, const std::string& body) {
  HttpCall call;
  call.method = "POST";
  call.url = url;
  call.headers = {{"Content-Type", "application/json"}};
  call.body = body;
  call.max_response_bytes = 64 << 20;
  call.stall_timeout_s = 120;
  double t0 = NowMs();
  auto r = client->Send(call);
  double ms = NowMs() - t0;
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return Status(StatusCode::kFailedPrecondition,
                  "the function answered " + std::to_string(r->status) +
                      " to a sample: " + r->body.substr(0, 400),
                  "profile_request_failed");
  }
  return ms;
}

// At most `n` samples standing for `v`: its order statistics at even ranks.
std::vector<double> Thinned(std::vector<double> v, size_t n) {
  if (v.size() <= n) return v;
  std::sort(v.begin(), v.end());
  std::vector<double> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(v[i * (v.size() - 1) / (n - 1)]);
  return out;
}

struct Running {
  pid_t pid = -1;
  std::string url;
};

}  // namespace

StatusOr<std::string> BatchBody(const std::string& body, int batch) {
  auto j = Json::Parse(body);
  if (!j.ok()) return j.status();
  const Json* inputs = j->Find("inputs");
  if (inputs == nullptr) return InvalidArgumentError("a sample body without \"inputs\"");
  auto repeat = [&](const Json& v) -> StatusOr<Json> {
    if (!v.is_array() || v.AsArray().size() != 1)
      return InvalidArgumentError("an input that is not one row: cannot make a batch of it");
    Json out = Json::MakeArray();
    for (int i = 0; i < batch; ++i) out.Push(v.AsArray()[0].Clone());
    return out;
  };
  Json out = Json::MakeObject();
  for (const auto& [k, v] : j->AsObject()) {
    if (k != "inputs") {
      out.Set(k, v.Clone());
      continue;
    }
    if (v.is_object()) {
      Json ins = Json::MakeObject();
      for (const auto& [name, t] : v.AsObject()) {
        ASSIGN_OR_RETURN(Json r, repeat(t));
        ins.Set(name, std::move(r));
      }
      out.Set("inputs", std::move(ins));
    } else {
      ASSIGN_OR_RETURN(Json r, repeat(v));
      out.Set("inputs", std::move(r));
    }
  }
  return out.Dump();
}

StatusOr<Profile> MeasureProfile(const ProfileRequest& rq, ShareEnforcer* enforcer) {
  if (rq.bodies.empty()) return InvalidArgumentError("profile: no sample body");
  if (rq.shares.empty()) return InvalidArgumentError("profile: no CPU share to measure");
  Profile prof;
  prof.enforcement = enforcer->Name();
  auto say = [&](const std::string& s) {
    if (rq.progress) rq.progress(s);
  };
  std::vector<std::string> batch_bodies;
  std::vector<int> batches;
  for (int b : rq.batch_sizes) {
    if (b <= 1) continue;
    auto body = BatchBody(rq.bodies[0], b);
    if (!body.ok()) break;  // not batchable: batch 1 only
    batches.push_back(b);
    batch_bodies.push_back(*body);
  }
  auto client = MakePlainHttpClient();
  int group_no = 0;
  for (double cpus : rq.shares) {
    ProfilePoint pt;
    pt.cpus = cpus;
    std::string name = "profile-" + std::to_string(getpid()) + "-" + std::to_string(group_no++);
    ASSIGN_OR_RETURN(std::string group, enforcer->Create(name, cpus));
    std::map<std::string, std::string> env = rq.env;
    for (const auto& [k, v] : enforcer->Env(cpus)) env[k] = v;
    std::vector<std::string> args = rq.fn_args;
    args.push_back("--port");
    args.push_back("0");
    Running live;
    auto fail = [&](const Status& s) {
      KillAndReap(live.pid);
      enforcer->Remove(group);
      return s;
    };
    std::vector<double> runtime, fetch, load, warmup;
    for (int round = 0; round < rq.cold_rounds; ++round) {
      say("cpus " + Json::Double(cpus).Dump() + ": cold start " + std::to_string(round + 1) +
          " of " + std::to_string(rq.cold_rounds));
      std::string log = rq.scratch_dir + "/" + name + "-" + std::to_string(round) + ".log";
      std::string child_group = enforcer->ChildGroupDir(group);
      auto spare = ForkSpare(log, "", true, child_group);
      if (!spare.ok()) return fail(spare.status());
      live.pid = spare->pid;
      if (child_group.empty()) {
        if (Status s = enforcer->Attach(group, spare->pid); !s.ok()) {
          DiscardSpare(&*spare);
          live.pid = -1;
          return fail(s);
        }
      }
      int ready_fd = spare->ready_fd;
      double t0 = NowMs();
      if (Status s = ExecSpare(&*spare, rq.fn_binary, args, env); !s.ok()) {
        if (ready_fd >= 0) close(ready_fd);
        return fail(s);
      }
      auto port = ReadReadyLine(ready_fd, 300'000);
      close(ready_fd);
      if (!port.ok()) {
        return fail(Status(StatusCode::kUnavailable, "profile: the function did not start (" +
                                                         port.status().message() +
                                                         "); its log ends:\n" + Tail(log, 8)));
      }
      pt.ready_ms.push_back(NowMs() - t0);
      std::string p = *port;
      while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
      live.url = "http://127.0.0.1:" + p + "/v1/infer";
      auto first = PostOnce(client.get(), live.url, rq.bodies[0]);
      if (!first.ok()) return fail(first.status());
      pt.cold_start_ms.push_back(NowMs() - t0);
      ReadInitPhases(log, &pt, &runtime, &fetch, &load, &warmup);
      if (round + 1 < rq.cold_rounds) {
        KillAndReap(live.pid);
        live.pid = -1;
      }
    }
    pt.runtime_init_ms = Percentile(runtime, 50);
    pt.model_fetch_ms = Percentile(fetch, 50);
    pt.model_load_ms = Percentile(load, 50);
    pt.warmup_ms = Percentile(warmup, 50);
    // Warm: one at a time.
    for (int i = 0; i < 3; ++i) {
      auto w = PostOnce(client.get(), live.url, rq.bodies[i % rq.bodies.size()]);
      if (!w.ok()) return fail(w.status());
    }
    say("cpus " + Json::Double(cpus).Dump() + ": run times");
    // Back to back for at least a second: the share's throttling (a cgroup's quota runs out
    // within its 100 ms period) shows in the samples as it would under sustained load.
    ProfilePoint::Batch one;
    one.size = 1;
    double run_start = NowMs();
    for (int i = 0; i < rq.run_samples || (NowMs() - run_start < 1000 && i < 20000); ++i) {
      auto ms = PostOnce(client.get(), live.url, rq.bodies[i % rq.bodies.size()]);
      if (!ms.ok()) return fail(ms.status());
      one.ms.push_back(*ms);
    }
    one.ms = Thinned(std::move(one.ms), 1000);
    pt.run.push_back(std::move(one));
    for (size_t k = 0; k < batches.size(); ++k) {
      ProfilePoint::Batch b;
      b.size = batches[k];
      bool refused = false;
      for (int i = 0; i < std::max(5, rq.run_samples / 4); ++i) {
        auto ms = PostOnce(client.get(), live.url, batch_bodies[k]);
        if (!ms.ok()) {
          if (ms.status().reason() == "profile_request_failed") {
            refused = true;  // the model's limits refuse this batch: the larger ones too
            break;
          }
          return fail(ms.status());
        }
        b.ms.push_back(*ms);
      }
      if (refused) break;
      pt.run.push_back(std::move(b));
    }
    // Throughput with several requests in flight.
    say("cpus " + Json::Double(cpus).Dump() + ": throughput");
    int conns = std::max(2, 2 * static_cast<int>(std::ceil(cpus)));
    std::atomic<int64_t> done{0};
    std::atomic<bool> failed{false};
    double until = NowMs() + rq.throughput_s * 1e3;
    std::vector<std::thread> threads;
    double t_start = NowMs();
    for (int c = 0; c < conns; ++c) {
      threads.emplace_back([&, c] {
        auto cl = MakePlainHttpClient();
        size_t i = static_cast<size_t>(c);
        while (NowMs() < until && !failed.load()) {
          auto ms = PostOnce(cl.get(), live.url, rq.bodies[i++ % rq.bodies.size()]);
          if (!ms.ok()) {
            failed = true;
            return;
          }
          done.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed.load())
      return fail(UnavailableError("profile: the function failed under concurrent requests"));
    pt.concurrency = conns;
    pt.max_rps = static_cast<double>(done.load()) / ((NowMs() - t_start) / 1e3);
    // Peak RSS.
    std::ifstream status("/proc/" + std::to_string(live.pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmHWM:", 0) == 0) pt.rss_mb = atof(line.c_str() + 6) / 1024.0;
    }
    KillAndReap(live.pid);
    live.pid = -1;
    enforcer->Remove(group);
    prof.points.push_back(std::move(pt));
  }
  return prof;
}

}  // namespace plan
}  // namespace modelfn

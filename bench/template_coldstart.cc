// Forked against exec'd instances of modelfn-fn (bench/template_bench.sh runs it): the time
// from "start an instance" to the end of its first answer to POST /v1/infer, and the memory each
// instance costs (PSS from /proc/PID/smaps_rollup). Runs alternate between the two ways, so load
// from other work on the machine falls on both alike.
//
// usage: template_coldstart FN_BINARY MODEL_DIR BODY_FILE [RUNS] [PSS_INSTANCES]
//
// Exec'd: fork + exec of modelfn-fn with PORT=0 and a readiness pipe, as `modelfn up` does.
// Forked: one template (its own init not counted: reported once), then TemplateClient::Fork.
// Both: read the port from the readiness pipe, then one request on a fresh connection.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "first_answer.h"
#include "pool/template_client.h"

extern char** environ;

namespace modelfn {
namespace {

double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int ReadPort(int fd) {
  std::string line;
  char c;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 60'000) <= 0) return 0;
    if (read(fd, &c, 1) != 1 || c == '\n') break;
    line.push_back(c);
  }
  return atoi(line.c_str());
}

std::map<std::string, std::string> BaseEnv(const std::string& model) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  env["MODELFN_MODEL"] = model;
  env["MODELFN_LOG_REQUESTS"] = "0";
  return env;
}

std::map<std::string, std::string> InstanceEnv(const std::string& model) {
  auto env = BaseEnv(model);
  env["PORT"] = "0";
  env["MODELFN_HOST"] = "127.0.0.1";
  env["MODELFN_WORKERS"] = "1";
  return env;
}

struct Started {
  pid_t pid = -1;
  int port = 0;
};

Started Exec(const std::string& fn, const std::string& model) {
  auto env = InstanceEnv(model);
  env["MODELFN_READY_FD"] = "3";
  std::vector<std::string> env_s;
  for (auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string bin = fn;
  char* argv[] = {bin.data(), nullptr};
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    dup2(ready[1], 3);
    execve(argv[0], argv, envp.data());
    _exit(127);
  }
  close(ready[1]);
  Started s{pid, ReadPort(ready[0])};
  close(ready[0]);
  return s;
}

Started Fork(TemplateClient* t, const std::string& model) {
  (void)model;
  InstanceSpec spec;
  spec.env = InstanceEnv(model);
  spec.env.erase("MODELFN_MODEL");  // the template's
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return {};
  spec.log_fd = devnull;
  spec.ready_fd = ready[1];
  StatusOr<pid_t> pid = t->Fork(spec, 10'000);
  close(devnull);
  close(ready[1]);
  if (!pid.ok()) {
    fprintf(stderr, "fork: %s\n", pid.status().ToString().c_str());
    close(ready[0]);
    return {};
  }
  Started s{*pid, ReadPort(ready[0])};
  close(ready[0]);
  return s;
}

void Stop(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

long PssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  long kb;
  std::string unit;
  while (in >> key) {
    if (key == "Pss:") {
      in >> kb;
      return kb;
    }
    std::getline(in, unit);
  }
  return -1;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[i];
}

int Main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s FN_BINARY MODEL_DIR BODY_FILE [RUNS] [PSS_INSTANCES]\n", argv[0]);
    return 2;
  }
  std::string fn = argv[1], model = argv[2];
  int runs = argc > 4 ? atoi(argv[4]) : 20;
  int pss_n = argc > 5 ? atoi(argv[5]) : 4;
  std::string request = bench::InferRequest(bench::ReadFileText(argv[3]));
  if (!BecomeChildSubreaper().ok()) return 1;

  TemplateSpec spec;
  spec.binary = fn;
  spec.env = BaseEnv(model);
  spec.log_path = "/dev/null";
  auto t0 = std::chrono::steady_clock::now();
  auto client = TemplateClient::Start(spec, &RealClock::Get());
  if (!client.ok()) return 1;
  Status ready = (*client)->WaitReady(60'000);
  if (!ready.ok()) {
    fprintf(stderr, "template: %s\n", ready.ToString().c_str());
    return 1;
  }
  double template_ms = Ms(t0, std::chrono::steady_clock::now());

  std::vector<double> exec_ms, fork_ms;
  for (int i = 0; i < runs; ++i) {
    for (bool forked : {i % 2 == 0, i % 2 != 0}) {
      auto a = std::chrono::steady_clock::now();
      Started s = forked ? Fork(client->get(), model) : Exec(fn, model);
      bool ok = s.port > 0 && bench::AnswersOk(s.port, request);
      auto b = std::chrono::steady_clock::now();
      if (s.pid > 0) Stop(s.pid);
      if (!ok) {
        fprintf(stderr, "%s instance gave no 200 answer\n", forked ? "forked" : "exec'd");
        return 1;
      }
      (forked ? fork_ms : exec_ms).push_back(Ms(a, b));
    }
  }

  // Memory: n instances of each kind alive at once, each after one answer.
  auto pss = [&](bool forked, long* template_kb) {
    std::vector<Started> live;
    for (int i = 0; i < pss_n; ++i) {
      Started s = forked ? Fork(client->get(), model) : Exec(fn, model);
      if (s.port > 0) bench::AnswersOk(s.port, request);
      live.push_back(s);
    }
    long total = 0;
    for (auto& s : live) total += PssKb(s.pid);
    if (template_kb != nullptr) *template_kb = PssKb((*client)->pid());
    for (auto& s : live) Stop(s.pid);
    return static_cast<double>(total) / pss_n;
  };
  double exec_pss = pss(false, nullptr);
  long template_kb = 0;
  double fork_pss = pss(true, &template_kb);

  printf("model %s, %d runs each (alternating), template init %.1f ms (not counted below)\n",
         model.c_str(), runs, template_ms);
  printf(
      "start to first answer, ms: exec'd p50 %.2f (p10 %.2f, p90 %.2f); forked p50 %.2f "
      "(p10 %.2f, p90 %.2f); ratio forked/exec'd p50 %.2f\n",
      Percentile(exec_ms, 0.5), Percentile(exec_ms, 0.1), Percentile(exec_ms, 0.9),
      Percentile(fork_ms, 0.5), Percentile(fork_ms, 0.1), Percentile(fork_ms, 0.9),
      Percentile(fork_ms, 0.5) / Percentile(exec_ms, 0.5));
  printf(
      "PSS per instance, %d alive: exec'd %.0f KiB, forked %.0f KiB (ratio %.2f); the "
      "template itself %ld KiB with them\n",
      pss_n, exec_pss, fork_pss, fork_pss / exec_pss, template_kb);
  return 0;
}

}  // namespace
}  // namespace modelfn

int main(int argc, char** argv) { return modelfn::Main(argc, argv); }

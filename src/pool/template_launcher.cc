#include "pool/template_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "pool/process_instance.h"

namespace modelfn {
namespace {

// The fork command's round trip is about a millisecond; more means the template is stuck.
constexpr int kForkTimeoutMs = 2'000;

std::string Why(const Status& s) {
  return s.reason().empty() ? s.message() : s.reason() + ": " + s.message();
}

}  // namespace

// A launch waiting for its version's template to finish its init.
struct TemplateLauncher::Waiting {
  PreparedInstance prepared;
  LaunchRequest request;
};

struct TemplateLauncher::Template {
  enum class State { kStarting, kReady, kFailed };
  std::string version;
  State state = State::kStarting;          // guarded by the launcher's mu_
  std::string why;                         // kFailed: the reason, guarded by mu_
  std::shared_ptr<TemplateClient> client;  // set once ready, guarded by mu_
  bool stopped = false;                    // guarded by mu_
  std::vector<Waiting> waiting;            // while kStarting, guarded by mu_
  pid_t starting_pid = -1;                 // while kStarting, guarded by mu_
};

TemplateLauncher::TemplateLauncher(FunctionConfig fn, const PoolEnv& env)
    : fn_(std::move(fn)), env_(env), exec_(fn_, env_) {}

void TemplateLauncher::Log(const std::string& level, const std::string& message) const {
  if (env_.log) env_.log(level, "function " + fn_.name + ": " + message);
}

void TemplateLauncher::UseVersion(const std::string& version) {
  std::shared_ptr<Template> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_ || (current_ && current_->version == version)) return;
    old = std::move(current_);
    current_ = std::make_shared<Template>();
    current_->version = version;
    StartLocked(current_);
  }
  if (old) StopLater(std::move(old));
}

void TemplateLauncher::StartLocked(const std::shared_ptr<Template>& t) {
  TemplateSpec spec;
  spec.binary = env_.fn_binary;
  spec.env = env_.base_env;
  for (const auto& [k, v] : fn_.env) spec.env[k] = v;
  spec.env["MODELFN_MODEL"] = env_.store_uri + "/" + fn_.model + "@" + t->version;
  spec.log_path = env_.log_dir + "/" + fn_.name + ".log";
  ++jobs_;
  env_.workers->Post([this, t, spec = std::move(spec)] {
    auto client = TemplateClient::Start(spec, env_.clock);
    if (client.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      t->starting_pid = (*client)->pid();
      if (t->stopped) KillStarting(t.get());
    }
    Status ready = client.ok() ? (*client)->WaitReady(env_.init_timeout_ms) : client.status();
    std::shared_ptr<TemplateClient> shared;
    if (client.ok()) shared = std::move(client).value();
    bool stopped, shutdown;
    std::vector<Waiting> waiting;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped = t->stopped;
      shutdown = shutdown_;
      t->starting_pid = -1;
      if (!stopped && ready.ok()) {
        t->state = Template::State::kReady;
        t->client = shared;
      } else if (!stopped) {
        t->state = Template::State::kFailed;
        t->why = Why(ready);
      }
      waiting.swap(t->waiting);
    }
    if (!stopped && !ready.ok()) {
      Log("warn", "template for version " + t->version + " cannot serve, instances are exec'd (" +
                      Why(ready) + ")");
    }
    if ((stopped || !ready.ok()) && shared) shared->Stop();
    for (Waiting& w : waiting) {
      if (shutdown) {
        w.prepared.in->StartFailed();
      } else if (stopped || !ready.ok() || !ForkPrepared(t, &w.prepared, w.request).ok()) {
        StartByExec(&w.prepared, w.request);
      }
    }
    JobDone();
  });
}

void TemplateLauncher::KillStarting(Template* t) {
  // Its init ends at once (WaitReady sees the template gone); its worker then stops it.
  if (t->starting_pid > 0) kill(t->starting_pid, SIGKILL);
}

void TemplateLauncher::JobDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--jobs_ == 0) jobs_done_.notify_all();
}

void TemplateLauncher::StartByExec(PreparedInstance* prepared, const LaunchRequest& request) {
  if (!exec_.Start(prepared, request).ok()) prepared->in->StartFailed();
}

void TemplateLauncher::StopLater(std::shared_ptr<Template> t) {
  std::shared_ptr<TemplateClient> client;
  {
    std::lock_guard<std::mutex> lock(mu_);
    t->stopped = true;
    client = std::move(t->client);
    KillStarting(t.get());
  }
  if (client) env_.workers->Post([client] { client->Stop(); });
}

void TemplateLauncher::Shutdown() {
  std::shared_ptr<Template> t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    t = std::move(current_);
  }
  if (t) {
    std::shared_ptr<TemplateClient> client;
    {
      std::lock_guard<std::mutex> lock(mu_);
      t->stopped = true;
      client = std::move(t->client);
      KillStarting(t.get());
    }
    if (client) client->Stop();
  }
  exec_.Shutdown();
}

TemplateLauncher::~TemplateLauncher() {
  Shutdown();
  // Worker jobs use this launcher: wait for them (a template's start ends at once, killed above).
  std::unique_lock<std::mutex> lock(mu_);
  jobs_done_.wait(lock, [this] { return jobs_ == 0; });
}

std::string TemplateLauncher::template_state() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!current_) return "off";
  switch (current_->state) {
    case Template::State::kStarting:
      return "starting";
    case Template::State::kReady:
      return "ready";
    case Template::State::kFailed:
      return "failed: " + current_->why;
  }
  return "";
}

StatusOr<std::shared_ptr<Instance>> TemplateLauncher::Launch(const LaunchRequest& request,
                                                             InstanceEvents events) {
  UseVersion(request.version);  // normally announced already: then nothing to do
  ASSIGN_OR_RETURN(PreparedInstance prepared,
                   PrepareInstance(fn_, env_, request, std::move(events)));
  std::shared_ptr<Instance> instance = prepared.in;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ && current_->version == request.version && !shutdown_) {
      if (current_->state == Template::State::kStarting) {
        // Started by the template's worker once its init is done: waiting costs less than an
        // init of its own running beside the template's.
        current_->waiting.push_back(Waiting{std::move(prepared), request});
        return instance;
      }
      if (current_->state == Template::State::kReady) {
        // Forked by a worker: the fork's round trip with the template and the memory group's
        // creation (up to ~12 ms on cgroup v1) would otherwise hold the caller, which is a
        // gateway loop with the pool's lock, while the requests of a burst wait to be read.
        ++jobs_;
        auto p = std::make_shared<PreparedInstance>(std::move(prepared));
        env_.workers->Post([this, t = current_, p, request] {
          bool shutdown;
          {
            std::lock_guard<std::mutex> job_lock(mu_);
            shutdown = shutdown_;
          }
          if (shutdown) {
            p->in->StartFailed();
          } else if (!ForkPrepared(t, p.get(), request).ok()) {
            StartByExec(p.get(), request);
          }
          JobDone();
        });
        return instance;
      }
    }
  }
  Status s = exec_.Start(&prepared, request);
  if (!s.ok()) {
    prepared.in->Close();
    return s;
  }
  return instance;
}

Status TemplateLauncher::ForkPrepared(const std::shared_ptr<Template>& t,
                                      PreparedInstance* prepared, const LaunchRequest& request) {
  Status s = Fork(t, prepared, request);
  if (s.ok()) return s;
  bool refused = s.reason() == "template_threads";
  bool replace = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (refused) {
      refused = !t->stopped && t->state == Template::State::kReady;
      if (refused) {
        t->state = Template::State::kFailed;
        t->why = Why(s);
      }
    } else if (s.reason() != "model_mismatch" && s.reason() != "cpu_group") {
      // Gone or stuck: a new template for the next launches; this one is exec'd.
      replace = current_ == t && !shutdown_;
      if (replace) {
        current_ = std::make_shared<Template>();
        current_->version = t->version;
        StartLocked(current_);
      }
    }
  }
  if (refused) {
    Log("warn", "template for version " + t->version + " refused to fork, instances are exec'd (" +
                    Why(s) + ")");
    StopLater(t);
  } else if (replace) {
    Log("warn", "template for version " + t->version + " failed a fork (" + Why(s) +
                    "): starting a new one, this instance is exec'd");
    StopLater(t);
  }
  return s;
}

Status TemplateLauncher::Fork(const std::shared_ptr<Template>& t, PreparedInstance* prepared,
                              const LaunchRequest& request) {
  std::shared_ptr<TemplateClient> client;
  {
    std::lock_guard<std::mutex> lock(mu_);
    client = t->client;
  }
  if (!client) return UnavailableError("the template was stopped");
  InstanceSpec spec;
  spec.env = prepared->spec.env;
  spec.rlimit_as_bytes = prepared->spec.rlimit_as_bytes;
  std::string group_dir;
  if (env_.memory->kind() == MemoryLimitKind::kCgroupV2 ||
      env_.memory->kind() == MemoryLimitKind::kCgroupV1) {
    auto group = env_.memory->CreateGroup(request.name, int64_t{fn_.memory_mb} << 20);
    if (group.ok() && !group->empty()) group_dir = *group;
  }
  auto cpu_group = CreateCpuGroup(fn_, env_, request.name);
  if (!cpu_group.ok()) {
    env_.memory->RemoveGroup(group_dir);
    // Not the template's fault: it is kept (the launch is exec'd, where the same error shows).
    return Status(cpu_group.status().code(), cpu_group.status().message(), "cpu_group");
  }
  // A CPU cgroup is joined by the instance itself before it serves (see the header); the
  // emulation's group is attached below, before the instance counts as started.
  if (CpuGroupsJoinedInChild(env_) && !cpu_group->empty()) {
    spec.cgroup_procs = env_.cpu->ChildProcsFile(*cpu_group);
  }
  auto fail = [&](Status s) {
    env_.memory->RemoveGroup(group_dir);
    RemoveCpuGroup(env_, *cpu_group);
    return s;
  };
  const std::string& log_path = prepared->spec.log_path;
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return fail(UnavailableError("cannot open " + log_path + ": " + strerror(errno)));
  int ready[2] = {-1, -1};
  if (prepared->http && pipe2(ready, O_CLOEXEC) != 0) {
    int e = errno;
    close(log_fd);
    return fail(UnavailableError(std::string("pipe: ") + strerror(e)));
  }
  spec.log_fd = log_fd;
  spec.ready_fd = ready[1];
  StatusOr<pid_t> pid = client->Fork(spec, kForkTimeoutMs);
  close(log_fd);
  if (ready[1] >= 0) close(ready[1]);
  if (!pid.ok()) {
    if (ready[0] >= 0) close(ready[0]);
    return fail(pid.status());
  }
  // One that cannot be attached is not left running without its share: it is found exited.
  if (!AttachCpuGroup(env_, *cpu_group, *pid).ok()) kill(*pid, SIGKILL);
  // The readiness thread first: once Started, the instance may be found exited and closed.
  if (prepared->http) prepared->http->AwaitReady(ready[0]);
  prepared->in->Started(*pid, group_dir, /*forked=*/true, *cpu_group);
  RecordInstance(env_.instance_dir, *pid);
  if (!group_dir.empty()) {
    // Moved in by a worker: the join waits for an RCU grace period (about 13 ms), which would
    // otherwise be most of a forked instance's cold start. Until then it runs in the platform's
    // group; what it allocates meanwhile stays charged there.
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++jobs_;
    }
    env_.workers->Post([this, pid = *pid, procs = group_dir + "/cgroup.procs"] {
      int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      std::string text = std::to_string(pid);
      bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      int e = errno;
      if (fd >= 0) close(fd);
      // An instance that is already gone has nothing to limit.
      if (!ok && e != ESRCH && e != ENOENT && kill(pid, 0) == 0) {
        Log("warn", "instance " + std::to_string(pid) + " cannot join " + procs + " (" +
                        strerror(e) + "): it runs without its memory limit");
      }
      JobDone();
    });
  }
  return Status::Ok();
}

}  // namespace modelfn

#include "pool/template_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pool/process_instance.h"

namespace modelfn {
namespace {

// The fork command's round trip is about a millisecond; more means the template is stuck.
constexpr int kForkTimeoutMs = 2'000;

}  // namespace

struct TemplateLauncher::Template {
  enum class State { kStarting, kReady, kFailed };
  std::string version;
  State state = State::kStarting;          // guarded by the launcher's mu_
  std::string why;                         // kFailed: the reason, guarded by mu_
  std::shared_ptr<TemplateClient> client;  // set once ready, guarded by mu_
  bool stopped = false;                    // guarded by mu_
};

TemplateLauncher::TemplateLauncher(FunctionConfig fn, const PoolEnv& env)
    : fn_(std::move(fn)), env_(env), exec_(fn_, env_) {}

TemplateLauncher::~TemplateLauncher() { Shutdown(); }

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
  env_.workers->Post([this, t, spec = std::move(spec)] {
    auto client = TemplateClient::Start(spec, env_.clock);
    Status ready = client.ok() ? (*client)->WaitReady(env_.init_timeout_ms) : client.status();
    std::shared_ptr<TemplateClient> shared;
    if (client.ok()) shared = std::move(client).value();
    std::string why = ready.ok()               ? ""
                      : ready.reason().empty() ? ready.message()
                                               : ready.reason() + ": " + ready.message();
    bool stopped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped = t->stopped;
      if (!stopped && ready.ok()) {
        t->state = Template::State::kReady;
        t->client = shared;
      } else if (!stopped) {
        t->state = Template::State::kFailed;
        t->why = why;
      }
    }
    if (!stopped && !ready.ok()) {
      Log("warn", "template for version " + t->version + " cannot serve, instances are exec'd (" +
                      why + ")");
    }
    if ((stopped || !ready.ok()) && shared) shared->Stop();
  });
}

void TemplateLauncher::StopLater(std::shared_ptr<Template> t) {
  std::shared_ptr<TemplateClient> client;
  {
    std::lock_guard<std::mutex> lock(mu_);
    t->stopped = true;
    client = std::move(t->client);
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
    }
    if (client) client->Stop();
  }
  exec_.Shutdown();
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
  std::shared_ptr<Template> t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ && current_->version == request.version &&
        current_->state == Template::State::kReady) {
      t = current_;
    }
  }
  if (!t) {
    UseVersion(request.version);  // the first launch of a version nobody announced
    return exec_.Launch(request, std::move(events));
  }
  auto forked = Fork(t, request, events);
  if (forked.ok()) return forked;
  const Status& s = forked.status();
  bool refused = s.reason() == "template_threads";
  std::string why = s.reason().empty() ? s.message() : s.reason() + ": " + s.message();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (refused && !t->stopped && t->state == Template::State::kReady) {
      t->state = Template::State::kFailed;
      t->why = why;
    } else {
      refused = false;
    }
  }
  if (refused) {
    Log("warn", "template for version " + t->version + " refused to fork, instances are exec'd (" +
                    why + ")");
    StopLater(t);
  } else if (s.reason() != "model_mismatch") {
    // Gone or stuck: a new template for the next launches; this one is exec'd.
    bool replace = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      replace = current_ == t && !shutdown_;
      if (replace) {
        current_ = std::make_shared<Template>();
        current_->version = t->version;
        StartLocked(current_);
      }
    }
    if (replace) {
      Log("warn", "template for version " + t->version + " failed a fork (" + why +
                      "): starting a new one, this instance is exec'd");
      StopLater(t);
    }
  }
  return exec_.Launch(request, std::move(events));
}

StatusOr<std::shared_ptr<Instance>> TemplateLauncher::Fork(const std::shared_ptr<Template>& t,
                                                           const LaunchRequest& request,
                                                           InstanceEvents events) {
  std::shared_ptr<TemplateClient> client;
  {
    std::lock_guard<std::mutex> lock(mu_);
    client = t->client;
  }
  if (!client) return UnavailableError("the template was stopped");
  ASSIGN_OR_RETURN(PreparedInstance prepared,
                   PrepareInstance(fn_, env_, request, std::move(events)));
  InstanceSpec spec;
  spec.env = prepared.spec.env;
  spec.rlimit_as_bytes = prepared.spec.rlimit_as_bytes;
  std::string group_dir;
  if (env_.memory->kind() == MemoryLimitKind::kCgroupV2 ||
      env_.memory->kind() == MemoryLimitKind::kCgroupV1) {
    auto group = env_.memory->CreateGroup(request.name, int64_t{fn_.memory_mb} << 20);
    if (group.ok() && !group->empty()) group_dir = *group;
  }
  auto fail = [&](Status s) {
    env_.memory->RemoveGroup(group_dir);
    prepared.in->Close();
    return s;
  };
  int log_fd =
      open(prepared.spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return fail(UnavailableError("cannot open " + prepared.spec.log_path + ": " + strerror(errno)));
  }
  int ready[2] = {-1, -1};
  if (prepared.http && pipe2(ready, O_CLOEXEC) != 0) {
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
  prepared.in->Started(*pid, group_dir, /*forked=*/true);
  if (!group_dir.empty()) {
    // Moved in by a worker: the join waits for an RCU grace period (about 13 ms), which would
    // otherwise be most of a forked instance's cold start. Until then it runs in the platform's
    // group; what it allocates meanwhile stays charged there.
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
    });
  }
  RecordInstance(env_.instance_dir, *pid);
  if (prepared.http) prepared.http->AwaitReady(ready[0]);
  return std::shared_ptr<Instance>(prepared.in);
}

}  // namespace modelfn

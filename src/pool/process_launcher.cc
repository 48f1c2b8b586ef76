#include "pool/process_launcher.h"

#include <signal.h>
#include <unistd.h>

#include "common/files.h"
#include "pool/process_instance.h"

namespace modelfn {
namespace {

// execve does not search PATH: resolve a bare command name the way a shell would.
std::string FindOnPath(const std::string& name, const std::map<std::string, std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  auto it = env.find("PATH");
  for (const std::string& dir : SplitPathList(it == env.end() ? "/usr/bin:/bin" : it->second)) {
    std::string cand = dir + "/" + name;
    if (access(cand.c_str(), X_OK) == 0) return cand;
  }
  return name;
}

}  // namespace

StatusOr<std::string> CreateCpuGroup(const FunctionConfig& fn, const PoolEnv& env,
                                     const std::string& name) {
  if (fn.cpus <= 0 || env.cpu == nullptr) return std::string();
  return env.cpu->CreateGroup(name, fn.cpus);
}

bool CpuGroupsJoinedInChild(const PoolEnv& env) {
  return env.cpu != nullptr &&
         (env.cpu->kind() == CpuLimitKind::kCgroupV1 || env.cpu->kind() == CpuLimitKind::kCgroupV2);
}

Status AttachCpuGroup(const PoolEnv& env, const std::string& group, pid_t pid) {
  if (group.empty() || CpuGroupsJoinedInChild(env)) return Status::Ok();
  return env.cpu->Attach(group, pid);
}

void RemoveCpuGroup(const PoolEnv& env, const std::string& group) {
  if (env.cpu != nullptr) env.cpu->RemoveGroup(group);
}

ProcessLauncher::ProcessLauncher(FunctionConfig fn, const PoolEnv& env)
    : fn_(std::move(fn)), env_(env) {}

ProcessLauncher::~ProcessLauncher() { Shutdown(); }

bool ProcessLauncher::UseSpares() const {
  return env_.memory->kind() == MemoryLimitKind::kCgroupV1 ||
         env_.memory->kind() == MemoryLimitKind::kCgroupV2;
}

void ProcessLauncher::RefillSpare() {
  std::string name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!UseSpares() || spare_ || spare_pending_ || shutdown_) return;
    spare_pending_ = true;
    name = fn_.name + "-spare-" + std::to_string(next_spare_++);
  }
  env_.workers->Post([this, name] {
    auto group = env_.memory->CreateGroup(name, int64_t{fn_.memory_mb} << 20);
    // A CPU cgroup is joined by the spare too; the emulation's group is made at exec.
    StatusOr<std::string> cpu_group = std::string();
    if (group.ok() && CpuGroupsJoinedInChild(env_)) cpu_group = CreateCpuGroup(fn_, env_, name);
    StatusOr<Spare> spare = !group.ok() ? StatusOr<Spare>(group.status())
                            : !cpu_group.ok()
                                ? StatusOr<Spare>(cpu_group.status())
                                : ForkSpare(env_.log_dir + "/" + fn_.name + ".log", *group,
                                            fn_.mode == InstanceMode::kHttp, *cpu_group);
    std::lock_guard<std::mutex> lock(mu_);
    spare_pending_ = false;
    if (!spare.ok()) {
      if (group.ok()) env_.memory->RemoveGroup(*group);
      if (cpu_group.ok()) RemoveCpuGroup(env_, *cpu_group);
      return;  // instances start without a spare (slower), nothing else changes
    }
    if (shutdown_ || spare_) {
      DiscardSpare(&*spare);
      env_.memory->RemoveGroup(spare->group_dir);
      RemoveCpuGroup(env_, spare->cpu_group_dir);
      return;
    }
    spare_ = std::make_unique<Spare>(std::move(spare).value());
  });
}

void ProcessLauncher::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  if (spare_) {
    DiscardSpare(spare_.get());
    env_.memory->RemoveGroup(spare_->group_dir);
    RemoveCpuGroup(env_, spare_->cpu_group_dir);
    spare_.reset();
  }
}

StatusOr<PreparedInstance> PrepareInstance(const FunctionConfig& fn, const PoolEnv& env,
                                           const LaunchRequest& request, InstanceEvents events) {
  PreparedInstance p;
  LaunchSpec& spec = p.spec;
  spec.binary = env.fn_binary;
  if (!fn.command.empty()) {
    spec.binary = FindOnPath(fn.command[0], env.base_env);
    spec.args.assign(fn.command.begin() + 1, fn.command.end());
  }
  spec.env = env.base_env;
  for (const auto& [k, v] : fn.env) spec.env[k] = v;
  // The share it gets, which it cannot always read (the emulation; a forked instance's own init
  // ran in the template): it wins over the function's env.
  if (env.cpu != nullptr) {
    for (const auto& [k, v] : env.cpu->InstanceEnv(fn.cpus)) spec.env[k] = v;
  }
  spec.env["MODELFN_MODEL"] = !env.model_override.empty()
                                  ? env.model_override
                                  : env.store_uri + "/" + fn.model + "@" + request.version;
  spec.log_path = env.log_dir + "/" + fn.name + ".log";
  if (env.memory->kind() == MemoryLimitKind::kRlimit) {
    spec.rlimit_as_bytes = int64_t{fn.memory_mb} << 20;
  }
  // The face is chosen by the environment (faces/face_choice.h): only the chosen one's variable.
  for (const char* k :
       {"AWS_LAMBDA_RUNTIME_API", "FUNCTIONS_CUSTOMHANDLER_PORT", "K_SERVICE", "PORT"}) {
    spec.env.erase(k);
  }
  spec.env["MODELFN_FUNCTION_NAME"] = fn.name;  // its traces' service name (fn_main.cc)
  if (fn.mode == InstanceMode::kLambda) {
    auto lambda = LambdaInstance::Create(fn, env, std::move(events));
    if (!lambda.ok()) return lambda.status();
    spec.env["AWS_LAMBDA_RUNTIME_API"] = (*lambda)->endpoint();
    spec.env["AWS_LAMBDA_FUNCTION_NAME"] = fn.name;
    spec.env["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST";
    spec.env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = std::to_string(fn.memory_mb);
    spec.env["AWS_LAMBDA_LOG_STREAM_NAME"] = request.name;
    spec.env["AWS_LAMBDA_INITIALIZATION_TYPE"] =
        request.prewarmed ? "provisioned-concurrency" : "on-demand";
    p.in = *lambda;
  } else {
    if (fn.face == InstanceFace::kAzure) {
      spec.env["FUNCTIONS_CUSTOMHANDLER_PORT"] = "0";
    } else {
      spec.env["PORT"] = "0";
    }
    if (fn.face == InstanceFace::kCloudEvents) {
      // What Cloud Run and Knative set (the service, its revision and configuration).
      spec.env["K_SERVICE"] = fn.name;
      spec.env["K_CONFIGURATION"] = fn.name;
      spec.env["K_REVISION"] = request.name;
    }
    spec.env["MODELFN_HOST"] = "127.0.0.1";
    spec.ready_pipe = true;
    p.http = std::make_shared<HttpInstance>(fn, env, std::move(events));
    p.in = p.http;
  }
  return p;
}

StatusOr<std::shared_ptr<Instance>> ProcessLauncher::Launch(const LaunchRequest& request,
                                                            InstanceEvents events) {
  ASSIGN_OR_RETURN(PreparedInstance prepared,
                   PrepareInstance(fn_, env_, request, std::move(events)));
  Status s = Start(&prepared, request);
  if (!s.ok()) {
    prepared.in->Close();
    return s;
  }
  return std::shared_ptr<Instance>(prepared.in);
}

Status ProcessLauncher::Start(PreparedInstance* prepared, const LaunchRequest& request) {
  LaunchSpec& spec = prepared->spec;
  std::shared_ptr<ProcessInstance> in = prepared->in;
  std::shared_ptr<HttpInstance> http = prepared->http;
  int64_t limit = int64_t{fn_.memory_mb} << 20;

  std::unique_ptr<Spare> spare;
  {
    std::lock_guard<std::mutex> lock(mu_);
    spare = std::move(spare_);
  }
  StatusOr<Launched> launched = UnavailableError("not launched");
  std::string group_dir, cpu_group;
  if (spare) {
    // The spare already sits in a cgroup with this function's limit (and in its CPU cgroup): exec
    // there. The emulation's CPU group is made now and the spare attached before it execs.
    cpu_group = spare->cpu_group_dir;
    Status s = Status::Ok();
    if (cpu_group.empty()) {
      auto g = CreateCpuGroup(fn_, env_, request.name);
      if (g.ok()) cpu_group = *g;
      s = g.ok() ? AttachCpuGroup(env_, cpu_group, spare->pid) : g.status();
    }
    if (s.ok()) s = ExecSpare(spare.get(), spec.binary, spec.args, spec.env);
    if (s.ok()) {
      group_dir = spare->group_dir;
      launched = Launched{spare->pid, spare->ready_fd};
    } else {
      DiscardSpare(spare.get());
      env_.memory->RemoveGroup(spare->group_dir);
      RemoveCpuGroup(env_, cpu_group);
      cpu_group.clear();
    }
  }
  if (!launched.ok()) {
    if (UseSpares()) {  // no spare ready: join a new group in the child (slower)
      auto group = env_.memory->CreateGroup(request.name, limit);
      if (group.ok()) {
        group_dir = *group;
        spec.group_dir = *group;
      }
    }
    auto g = CreateCpuGroup(fn_, env_, request.name);
    if (g.ok()) {
      cpu_group = *g;
      if (CpuGroupsJoinedInChild(env_)) spec.cpu_group_dir = cpu_group;
      launched = LaunchProcess(spec);
    } else {
      launched = g.status();
    }
    // The emulation's process runs unlimited from its fork to here (before its exec, mostly).
    // One that cannot be attached is not left running without its share: it is found exited.
    if (launched.ok() && !AttachCpuGroup(env_, cpu_group, launched->pid).ok()) {
      kill(launched->pid, SIGKILL);
    }
  }
  RefillSpare();
  if (!launched.ok()) {
    env_.memory->RemoveGroup(group_dir);
    RemoveCpuGroup(env_, cpu_group);
    return launched.status();
  }
  // The readiness thread first: once Started, the instance may be found exited and closed.
  if (http) http->AwaitReady(launched->ready_fd);
  in->Started(launched->pid, group_dir, /*forked=*/false, cpu_group);
  RecordInstance(env_.instance_dir, launched->pid);
  return Status::Ok();
}

}  // namespace modelfn

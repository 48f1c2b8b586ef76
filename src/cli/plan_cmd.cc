// `modelfn plan profile` and `modelfn plan` (docs/plan.md): a model measured at several CPU
// shares, then every cloud target and size simulated for a traffic and priced.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/base64.h"
#include "common/build_info.h"
#include "common/clock.h"
#include "common/cpu_quota.h"
#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"
#include "function/model_source.h"
#include "optimize/samples.h"
#include "plan/cloud_data.h"
#include "plan/function_plan.h"
#include "plan/planner.h"
#include "plan/profiler.h"
#include "plan/report.h"
#include "platform/config.h"
#include "pool/cpu_limit.h"
#include "store/model_cache.h"
#include "store/open_store.h"

extern char** environ;

namespace modelfn {
namespace {

const char kPlanUsage[] =
    "usage: modelfn plan MODEL --traffic PATTERN|TRACE [--target T]... [--p99-ms N]\n"
    "                    [--max-cold-share PCT] [--html FILE] [--json] [--profile FILE]\n"
    "                    [--prices FILE] [--free-tier] [--max-min-instances N] [--seed N]\n"
    "       modelfn plan profile MODEL [--cpus LIST] [--rounds N] [--samples PATH] [--out FILE]\n"
    "\n"
    "What MODEL will cost and how fast it will be on each cloud, before deploying: every target\n"
    "(aws-lambda-zip, aws-lambda-image, cloud-run, azure-flex; `local` for a function of\n"
    "modelfn.yaml run by `modelfn up`) and size is simulated for the traffic with the model's\n"
    "profile, priced, and the cheapest configuration meeting --p99-ms and --max-cold-share is\n"
    "recommended, with min instances where they pay for themselves.\n"
    "\n"
    "MODEL is a folder with manifest.json, NAME[@VERSION] in the store (--store or\n"
    "MODELFN_STORE), or a function of modelfn.yaml (-f FILE, default ./modelfn.yaml).\n"
    "\n"
    "plan profile measures the model on this machine: exec -> first answer, the init phases, run\n"
    "time per batch size, throughput and RSS at each CPU share (--cpus, default 0.25,0.5,1 and\n"
    "this host's CPUs), enforced by a CPU cgroup (or a SIGSTOP duty cycle where none can be "
    "made).\n"
    "The profile is kept with the version in the store (NAME/profiles/VERSION.json); for a folder\n"
    "it goes to --out (default ./NAME@VERSION.profile.json). --samples takes /v1/infer bodies\n"
    "(.json, .jsonl, a folder of them) or an image (.png, .jpg, .webp) for an image model.\n"
    "\n"
    "  --traffic P      a rate pattern, e.g. \"20rps spike 10x for 2m every 1h\" (also: off DUR\n"
    "                   every PER, burst N every PER, for DUR, uniform, seed N), or a trace file:\n"
    "                   modelfn up's log (access lines) or JSON lines {\"t\": seconds}\n"
    "  --function F     the function of a trace that holds several\n"
    "  --profile FILE   the profile to use instead of the store's\n"
    "  --prices FILE    prices other than the built-in ones (same format, data/plan/prices.json)\n"
    "  --html FILE      write the report with its charts (a page that works offline)\n"
    "  --json           the plan as JSON on stdout instead of the summary\n";

// The model a plan or a profile is about.
struct Subject {
  std::string dir;  // a folder holding the version (fetched from the store when it came from one)
  Manifest manifest;
  std::string manifest_sha256;
  std::optional<StoreHandle> store;  // set when the version came from a store
  std::optional<FunctionConfig> function;
  std::string scratch;  // removed at the end
  ~Subject() {
    if (!scratch.empty()) (void)system(("rm -rf '" + scratch + "'").c_str());
  }
};

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

StatusOr<std::unique_ptr<Subject>> ResolveSubject(const Args& a, const std::string& ref) {
  auto s = std::make_unique<Subject>();
  std::string name = ref, version;
  std::string config_path = a.Get("f", a.Get("config"));
  bool explicit_config = !config_path.empty();
  if (config_path.empty() && access("modelfn.yaml", R_OK) == 0) config_path = "modelfn.yaml";
  if (!IsDir(ref) && !config_path.empty()) {
    auto cfg = LoadPlatformConfig(config_path);
    if (!cfg.ok() && explicit_config) return cfg.status();
    if (cfg.ok()) {
      if (const FunctionConfig* fn = cfg->Find(ref)) {
        s->function = *fn;
        name = fn->model;
        version = fn->version;
        auto uri = ParseStoreUri(cfg->store);
        if (!uri.ok()) return uri.status();
        StoreHandle h;
        h.uri = *uri;
        ASSIGN_OR_RETURN(h.store, OpenStore(*uri, &RealClock::Get()));
        h.registry = std::make_unique<ModelRegistry>(h.store.get(), &RealClock::Get());
        s->store = std::move(h);
      } else if (explicit_config) {
        return Status(StatusCode::kNotFound, config_path + " has no function \"" + ref + "\"",
                      "not_found");
      }
    }
  }
  if (!s->function && IsDir(ref)) {
    s->dir = ref;
  } else {
    if (!s->function) {
      auto at = ref.find('@');
      if (at != std::string::npos) name = ref.substr(0, at), version = ref.substr(at + 1);
      if (Status v = ValidateModelName(name); !v.ok())
        return Status(StatusCode::kNotFound, "no folder " + ref + ", and " + v.message(),
                      "not_found");
      ASSIGN_OR_RETURN(StoreHandle h, OpenFromArgs(a));
      s->store = std::move(h);
    }
    char t[] = "/tmp/modelfn-plan-XXXXXX";
    if (mkdtemp(t) == nullptr) return UnavailableError("no temporary folder");
    s->scratch = t;
    CacheOptions co;
    co.root = s->scratch + "/cache";
    ModelCache cache(co, &RealClock::Get());
    ASSIGN_OR_RETURN(FetchedModel fetched, FetchModel(*s->store->store, s->store->uri.ToString(),
                                                      cache, name, version, RealClock::Get()));
    s->dir = fetched.dir;
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(s->dir + "/manifest.json"));
  ASSIGN_OR_RETURN(s->manifest, ParseManifest(text));
  s->manifest_sha256 = Sha256Hex(text);
  return s;
}

std::string ProfileKey(const Manifest& m) { return m.name + "/profiles/" + m.version + ".json"; }

std::string HostDescription() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t c = line.find(':');
      if (c != std::string::npos) model = line.substr(c + 2);
      break;
    }
  }
  return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " CPUs";
}

// Shares enforced as modelfn up enforces `cpus:` (pool/cpu_limit.h).
class LimiterEnforcer : public plan::ShareEnforcer {
 public:
  explicit LimiterEnforcer(CpuLimiter limiter) : limiter_(std::move(limiter)) {}
  ~LimiterEnforcer() override { limiter_.RemoveRoot(); }
  std::string Name() const override { return limiter_.KindName(); }
  StatusOr<std::string> Create(const std::string& name, double cpus) override {
    return limiter_.CreateGroup(name, cpus);
  }
  std::string ChildGroupDir(const std::string& group) const override {
    return limiter_.ChildProcsFile(group).empty() ? std::string() : group;
  }
  Status Attach(const std::string& group, pid_t pid) override {
    return limiter_.Attach(group, pid);
  }
  std::map<std::string, std::string> Env(double cpus) const override {
    return limiter_.InstanceEnv(cpus);
  }
  void Remove(const std::string& group) override { limiter_.RemoveGroup(group); }
  bool enforces() const { return limiter_.kind() != CpuLimitKind::kNone; }

 private:
  CpuLimiter limiter_;
};

std::vector<double> ParseList(const std::string& s, bool* ok) {
  std::vector<double> out;
  *ok = true;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t c = s.find(',', pos);
    if (c == std::string::npos) c = s.size();
    std::string w = s.substr(pos, c - pos);
    char* end = nullptr;
    double v = strtod(w.c_str(), &end);
    if (w.empty() || *end != '\0' || !std::isfinite(v)) *ok = false;
    out.push_back(v);
    pos = c + 1;
  }
  return out;
}

int RunProfile(int argc, char** argv) {
  Args a(argc, argv, {"cpus", "rounds", "samples", "out", "store", "f", "config", "run-samples"},
         {"json", "help", "no-store"});
  if (a.Has("help")) return fputs(kPlanUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 1) return modelfn::Usage(kPlanUsage, a.error());
  int host = ReadCpuQuota().EffectiveCpus();
  std::vector<double> shares = {0.25, 0.5, 1};
  if (host > 1) shares.push_back(host);
  if (a.Has("cpus")) {
    bool ok;
    shares = ParseList(a.Get("cpus"), &ok);
    if (!ok) return modelfn::Usage(kPlanUsage, "--cpus takes numbers separated by commas");
    for (double c : shares)
      if (c < 0.05 || c > 64)
        return modelfn::Usage(kPlanUsage, "--cpus: each share is from 0.05 to 64 CPUs");
    std::sort(shares.begin(), shares.end());
    shares.erase(std::unique(shares.begin(), shares.end()), shares.end());
  }
  for (double c : shares) {
    if (c > host + 1e-9) {
      return Fail(Status(StatusCode::kFailedPrecondition,
                         "--cpus " + Json::Double(c).Dump() + " is more than this host's " +
                             std::to_string(host) + " CPUs: it cannot be measured here",
                         "usage"));
    }
  }
  int rounds = atoi(a.Get("rounds", "5").c_str());
  if (rounds < 1 || rounds > 100) return modelfn::Usage(kPlanUsage, "--rounds takes 1 to 100");
  int run_samples = atoi(a.Get("run-samples", "60").c_str());
  if (run_samples < 5 || run_samples > 100000)
    return modelfn::Usage(kPlanUsage, "--run-samples takes 5 to 100000");
  auto subject = ResolveSubject(a, a.positional()[0]);
  if (!subject.ok()) return Fail(subject.status());
  Subject& s = **subject;

  plan::ProfileRequest rq;
  rq.fn_binary = SelfDir() + "/modelfn-fn";
  rq.fn_args = {"--model", s.dir};
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) rq.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  rq.env.erase("AWS_LAMBDA_RUNTIME_API");
  rq.env.erase("K_SERVICE");
  rq.env.erase("FUNCTIONS_CUSTOMHANDLER_PORT");
  rq.env.erase("MODELFN_MODEL");
  if (s.function) {
    for (const auto& [k, v] : s.function->env) rq.env[k] = v;
  }
  Samples samples;
  std::string sample_path = a.Get("samples");
  auto is_image = [](const std::string& p) {
    std::string l = p;
    for (char& c : l) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    for (const char* ext : {".png", ".jpg", ".jpeg", ".webp"}) {
      std::string e = ext;
      if (l.size() > e.size() && l.compare(l.size() - e.size(), e.size(), e) == 0) return true;
    }
    return false;
  };
  if (a.Has("samples") && is_image(sample_path)) {
    // An image is sent as an image model's /v1/infer takes it: {"inputs": "<base64>"}.
    auto bytes = ReadFile(sample_path);
    if (!bytes.ok()) return Fail(bytes.status());
    std::string body;
    JsonWriter w(&body);
    w.BeginObject().Key("inputs").String(Base64Encode(*bytes)).EndObject();
    samples.bodies = {body};
    samples.source = sample_path;
  } else if (a.Has("samples")) {
    auto l = LoadSamples(sample_path, 64);
    if (!l.ok()) return Fail(l.status());
    samples = std::move(l).value();
  } else {
    bool fed = false;
    if (s.manifest.pipeline) {
      for (const PipelineInput& in : s.manifest.pipeline->inputs)
        fed |= in.source != InputSource::kTensor;
    }
    auto syn = SyntheticSamples(s.manifest.schema, fed, 16, 1);
    if (!syn.ok()) {
      return Fail(syn.status().WithContext(
          "this model needs --samples (requests like the ones it will get)"));
    }
    samples = std::move(syn).value();
  }
  rq.bodies = samples.bodies;
  bool batchable = !s.manifest.schema.inputs.empty();
  for (const TensorSpec& in : s.manifest.schema.inputs)
    batchable = batchable && !in.shape.empty() && in.shape[0] < 0;
  if (batchable) rq.batch_sizes = {4, 16};
  rq.shares = shares;
  rq.cold_rounds = rounds;
  rq.run_samples = run_samples;
  char t[] = "/tmp/modelfn-profile-XXXXXX";
  if (mkdtemp(t) == nullptr) return Fail(UnavailableError("no temporary folder"));
  rq.scratch_dir = t;
  bool json = a.Has("json");
  rq.progress = [json](const std::string& line) {
    if (!json) fprintf(stderr, "  %s\n", line.c_str());
  };
  const char* limit = getenv("MODELFN_CPU_LIMIT");
  LimiterEnforcer enforcer(CpuLimiter::Detect("modelfn-plan-" + std::to_string(getpid()),
                                              limit != nullptr ? limit : ""));
  if (!enforcer.enforces()) {
    (void)system(("rm -rf '" + rq.scratch_dir + "'").c_str());
    std::string why = limit != nullptr && *limit ? " (MODELFN_CPU_LIMIT=" + std::string(limit) + ")"
                                                 : std::string();
    return Fail(Status(StatusCode::kFailedPrecondition,
                       "CPU shares cannot be enforced here" + why +
                           ": a profile measured without them would not stand for any size",
                       "cpu_limit_unavailable"));
  }
  if (!json)
    fprintf(stderr, "Profiling %s@%s (CPU shares: %s)\n", s.manifest.name.c_str(),
            s.manifest.version.c_str(), enforcer.Name().c_str());
  auto prof = plan::MeasureProfile(rq, &enforcer);
  (void)system(("rm -rf '" + rq.scratch_dir + "'").c_str());
  if (!prof.ok()) return Fail(prof.status());
  prof->model = s.manifest.name;
  prof->version = s.manifest.version;
  prof->manifest_sha256 = s.manifest_sha256;
  prof->measured_at = FormatRfc3339(RealClock::Get().WallNanos());
  prof->host = HostDescription();
  prof->modelfn_version = GetBuildInfo().version + " (git " + GetBuildInfo().git_revision + ")";
  prof->inputs = samples.synthetic ? "synthetic" : samples.source;
  std::string text = prof->ToJson();
  std::vector<std::string> written;
  std::string out = a.Get("out");
  if (out.empty() && !s.store)
    out = "./" + s.manifest.name + "@" + s.manifest.version + ".profile.json";
  if (!out.empty()) {
    if (Status w = WriteFileAtomic(out, text); !w.ok()) return Fail(w);
    written.push_back(out);
  }
  if (s.store && !a.Has("no-store")) {
    std::string key = ProfileKey(s.manifest);
    auto put = s.store->store->Put(key, text, PutOptions());
    if (!put.ok()) return Fail(put.status().WithContext("cannot keep the profile in the store"));
    written.push_back(s.store->uri.ToString() + "/" + key);
  }
  if (json) {
    PrintJson(text.substr(0, text.size() - 1));
    return 0;
  }
  printf("%-8s %12s %12s %12s %10s %9s\n", "cpus", "cold ms p50", "run ms p50", "run ms p99",
         "max rps", "RSS MB");
  for (const auto& p : prof->points) {
    printf("%-8g %12.1f %12.3f %12.3f %10.1f %9.1f\n", p.cpus,
           plan::Percentile(p.cold_start_ms, 50), plan::Percentile(p.run.front().ms, 50),
           plan::Percentile(p.run.front().ms, 99), p.max_rps, p.rss_mb);
  }
  for (const auto& w : written) printf("Profile written to %s\n", w.c_str());
  return 0;
}

int RunPlan(int argc, char** argv) {
  Args a(argc, argv,
         {"traffic", "function", "profile", "prices", "target", "p99-ms", "max-cold-share",
          "max-min-instances", "html", "seed", "store", "f", "config"},
         {"json", "help", "free-tier"});
  if (a.Has("help")) return fputs(kPlanUsage, stdout), 0;
  if (!a.ok() || a.positional().size() != 1) return modelfn::Usage(kPlanUsage, a.error());
  if (!a.Has("traffic")) return modelfn::Usage(kPlanUsage, "--traffic is required");
  plan::PlanOptions o;
  auto number = [&](const char* flag, double lo, double hi, double* out) -> bool {
    if (!a.Has(flag)) return true;
    char* end = nullptr;
    std::string v = a.Get(flag);
    *out = strtod(v.c_str(), &end);
    return !v.empty() && *end == '\0' && std::isfinite(*out) && *out >= lo && *out <= hi;
  };
  double cold_pct = -1, max_min = 8, seed = 1;
  if (!number("p99-ms", 0.001, 3.6e6, &o.p99_ms))
    return modelfn::Usage(kPlanUsage, "--p99-ms takes a positive number of milliseconds");
  if (!number("max-cold-share", 0, 100, &cold_pct))
    return modelfn::Usage(kPlanUsage, "--max-cold-share takes a percentage from 0 to 100");
  if (!number("max-min-instances", 0, 100, &max_min))
    return modelfn::Usage(kPlanUsage, "--max-min-instances takes 0 to 100");
  if (!number("seed", 0, 1e15, &seed)) return modelfn::Usage(kPlanUsage, "--seed takes a number");
  o.max_cold_share = cold_pct >= 0 ? cold_pct / 100 : -1;
  o.max_min_instances = static_cast<int>(max_min);
  o.seed = static_cast<uint64_t>(seed);
  o.threads = ReadCpuQuota().EffectiveCpus();
  o.free_tier = a.Has("free-tier");
  o.targets = a.GetAll("target");
  bool json = a.Has("json");

  // Everything is read and checked before anything is written.
  auto subject = ResolveSubject(a, a.positional()[0]);
  if (!subject.ok()) return Fail(subject.status());
  Subject& s = **subject;
  std::string profile_text, profile_origin;
  if (a.Has("profile")) {
    auto t = ReadFile(a.Get("profile"));
    if (!t.ok()) return Fail(t.status());
    profile_text = *t;
    profile_origin = a.Get("profile");
  } else if (s.store) {
    std::string key = ProfileKey(s.manifest);
    auto t = s.store->store->Get(key);
    if (!t.ok()) {
      return Fail(Status(StatusCode::kNotFound,
                         "no profile of " + s.manifest.name + "@" + s.manifest.version +
                             " in the store (" + key + "): run `modelfn plan profile " +
                             a.positional()[0] + "` first, or give --profile FILE",
                         "profile_missing"));
    }
    profile_text = *t;
    profile_origin = key;
  } else {
    return Fail(Status(StatusCode::kNotFound,
                       "a folder's profile is given with --profile FILE (modelfn plan profile "
                       "writes ./" +
                           s.manifest.name + "@" + s.manifest.version + ".profile.json)",
                       "profile_missing"));
  }
  auto profile = plan::Profile::Parse(profile_text);
  if (!profile.ok()) return Fail(profile.status().WithContext(profile_origin));
  if (profile->manifest_sha256 != s.manifest_sha256) {
    return Fail(Status(StatusCode::kFailedPrecondition,
                       "the profile " + profile_origin + " is of " + profile->model + "@" +
                           profile->version + " (manifest " +
                           profile->manifest_sha256.substr(0, 12) + "), not of " + s.manifest.name +
                           "@" + s.manifest.version + " (manifest " +
                           s.manifest_sha256.substr(0, 12) + "): profile this version",
                       "profile_mismatch"));
  }
  std::string traffic_arg = a.Get("traffic");
  StatusOr<plan::Traffic> traffic = Status(StatusCode::kInternal, "unset");
  struct stat st;
  if (stat(traffic_arg.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    if (st.st_size > (int64_t{2} << 30))
      return Fail(InvalidArgumentError("the trace is over 2 GiB"));
    auto t = ReadFile(traffic_arg);
    if (!t.ok()) return Fail(t.status());
    traffic = plan::TrafficFromTrace(*t, traffic_arg, a.Get("function"));
  } else {
    auto ends = [&](const char* suffix) {
      std::string x = suffix;
      return traffic_arg.size() >= x.size() &&
             traffic_arg.compare(traffic_arg.size() - x.size(), x.size(), x) == 0;
    };
    if (traffic_arg.find('/') != std::string::npos || ends(".json") || ends(".jsonl") ||
        ends(".log")) {
      return Fail(Status(StatusCode::kNotFound, "no trace file " + traffic_arg, "not_found"));
    }
    traffic = plan::TrafficFromPattern(traffic_arg);
  }
  if (!traffic.ok()) return Fail(traffic.status());
  auto clouds = plan::ParseClouds(plan::BuiltInClouds());
  if (!clouds.ok()) return Fail(clouds.status());
  StatusOr<plan::PriceBook> prices = Status(StatusCode::kInternal, "unset");
  if (a.Has("prices")) {
    auto t = ReadFile(a.Get("prices"));
    if (!t.ok()) return Fail(t.status());
    prices = plan::ParsePrices(*t, a.Get("prices"));
  } else {
    prices = plan::ParsePrices(plan::BuiltInPrices(), "built in");
  }
  if (!prices.ok()) return Fail(prices.status());
  if (o.targets.empty()) {
    // The clouds, not `local`, unless asked.
  } else {
    for (const auto& t : o.targets) {
      if (t != "local") continue;
      if (!s.function) {
        return Fail(Status(StatusCode::kInvalidArgument,
                           "--target local plans a function of modelfn.yaml: name one (-f FILE)",
                           "usage"));
      }
      (*clouds)["local"] = plan::LocalTarget(*s.function, ReadCpuQuota().EffectiveCpus());
    }
  }
  auto made = plan::MakePlan(*profile, *traffic, *clouds, *prices, o);
  if (!made.ok()) return Fail(made.status());
  if (a.Has("html")) {
    if (Status w = WriteFileAtomic(a.Get("html"), plan::PlanToHtml(*made)); !w.ok()) return Fail(w);
  }
  if (json) {
    std::string j = plan::PlanToJson(*made);
    PrintJson(j.substr(0, j.size() - 1));
  } else {
    fputs(plan::PlanToText(*made).c_str(), stdout);
    if (a.Has("html")) printf("Report written to %s\n", a.Get("html").c_str());
  }
  return 0;
}

}  // namespace

int CmdPlan(int argc, char** argv) {
  if (argc >= 1 && std::string(argv[0]) == "profile") return RunProfile(argc - 1, argv + 1);
  return RunPlan(argc, argv);
}

}  // namespace modelfn

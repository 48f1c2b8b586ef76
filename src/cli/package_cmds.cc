// modelfn package and deploy: a self-contained Lambda package, the SAM template around it, and
// the Cloud Run / Knative image (deploy_cmds.cc has the other deploy targets).
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "cli/args.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/optimize_cmd.h"
#include "common/files.h"
#include "common/json.h"
#include "manifest/manifest.h"
#include "package/lambda_zip.h"
#include "package/oci_image.h"
#include "package/sam_template.h"
#include "store/store_uri.h"

namespace modelfn {

// ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kPackageUsage =
    "usage: modelfn package --target aws-lambda-zip|aws-lambda-image|cloud-run --model DIR [--out "
    "function.zip] [--arch "
    "x86_64|arm64]\n"
    "                       [--runtime PATH] [--bootstrap PATH] [--json]\n"
    "                       [--optimize [--quantize dynamic|static] [--samples PATH] [--level L]\n"
    "                        [--max-abs-error X] [--min-agreement P]]\n"
    "\n"
    "Writes a self-contained Lambda package: a static bootstrap, modelfn-fn, every shared library\n"
    "it loads (the dynamic loader and libc included) and the model folder (verified against its\n"
    "manifest). Runs on provided.al2023 whatever glibc this machine has. Fails above Lambda's "
    "size\n"
    "limits (50 MiB zipped, 250 MiB unzipped). --runtime and --bootstrap default to the binaries\n"
    "installed beside this modelfn (for another --arch, in its arm64/ or x86_64/ folder, where\n"
    "scripts/build.sh --arch arm64 puts the cross-built ones).\n"
    "aws-lambda-image writes OUT/context (Dockerfile on provided:al2023 and Dockerfile.scratch) "
    "and\n"
    "OUT/image.tar, the scratch image as an OCI image layout, built without a container engine.\n"
    "cloud-run writes the same kind of image (OUT/image.tar, OUT/context) for Cloud Run and\n"
    "Knative: modelfn-fn serving HTTP and CloudEvents on $PORT; --model may also be a store URI\n"
    "(gs://...), fetched when the container starts.\n"
    "--optimize packages the model as modelfn optimize makes it (graph optimisations saved, int8\n"
    "with --quantize), after the same accuracy gate (modelfn optimize --help); the report goes to\n"
    "stderr.\n"
    "Other targets: modelfn package --target aws-lambda-layer --help (the runtime as a Lambda\n"
    "layer), modelfn package --target azure-functions --help.\n";

}  // namespace

int CmdPackage(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {  // its own flags: azure_package_cmd.cc
    std::string arg = argv[i];
    if (arg == "--target=azure-functions" ||
        (arg == "--target" && i + 1 < argc && std::string(argv[i + 1]) == "azure-functions"))
      return CmdPackageAzureFunctions(argc, argv);
    if (arg == "--target=aws-lambda-layer" ||
        (arg == "--target" && i + 1 < argc && std::string(argv[i + 1]) == "aws-lambda-layer"))
      return CmdPackageLambdaLayer(argc, argv);
  }
  std::set<std::string> values = kOptimizeValueFlags;
  values.insert({"target", "model", "out", "arch", "runtime", "bootstrap"});
  Args a(argc, argv, values, {"json", "help", "optimize", "per-channel"});
  if (a.Has("help")) return fputs(kPackageUsage, stdout), 0;
  std::string target = a.Get("target");
  if (!a.ok() || !a.positional().empty() ||
      (target != "aws-lambda-zip" && target != "aws-lambda-image" && target != "cloud-run") ||
      !a.Has("model")) {
    return Usage(kPackageUsage,
                 a.ok() ? (a.Has("target") ? "target '" + target + "' is not available yet" : "")
                        : a.error());
  }
  bool uses_optimize_flags = a.Has("per-channel");
  for (const std::string& f : kOptimizeValueFlags) uses_optimize_flags |= a.Has(f);
  if (uses_optimize_flags && !a.Has("optimize")) {
    return Usage(kPackageUsage,
                 "--level, --quantize, --samples and the gate flags need --optimize");
  }
  LambdaZipOptions o;
  o.model_dir = a.Get("model");
  // --optimize: the package carries the optimised version of the model folder (optimize_cmd.h).
  std::string optimized;
  struct RemoveAfter {
    std::string* dir;
    ~RemoveAfter() {
      if (!dir->empty()) (void)system(("rm -rf '" + *dir + "'").c_str());
    }
  } remove_optimized{&optimized};
  if (a.Has("optimize")) {
    struct stat st;
    if (HasStoreScheme(o.model_dir) || stat(o.model_dir.c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
      return Usage(kPackageUsage, "--optimize takes a model folder (--model DIR)");
    }
    auto dir = OptimizeForPackage(a, o.model_dir);
    if (!dir.ok()) {
      return dir.status().reason() == "usage" ? Usage(kPackageUsage, dir.status().message())
                                              : Fail(dir.status());
    }
    optimized = *dir;
    o.model_dir = optimized;
  }
  o.out = a.Get("out", target == "aws-lambda-zip" ? "function.zip" : "modelfn-image");
  o.arch = a.Get("arch", "x86_64");
  o.runtime_binary = a.Get("runtime", BinariesFor(o.arch) + "/modelfn-fn");
  o.bootstrap_binary = a.Get("bootstrap", BinariesFor(o.arch) + "/modelfn-bootstrap");
  const bool cloud_run = target == "cloud-run";
  const std::string model_uri = cloud_run && HasStoreScheme(o.model_dir) ? o.model_dir : "";
  if (!model_uri.empty()) {
    auto src = ParseModelSource(model_uri);
    if (!src.ok()) return Fail(src.status());
    o.model_dir.clear();
  }
  if (target == "aws-lambda-image" || cloud_run) {
    std::string staged = o.out + "/package";
    LambdaZipOptions so = o;
    so.out = o.out + "/.stage";
    mkdir(o.out.c_str(), 0755);
    if (Status s = StageLambdaPackage(so, staged); !s.ok()) return Fail(s);
    const std::string oci_arch = o.arch == "x86_64" ? "amd64" : "arm64";
    auto img = cloud_run ? BuildCloudRunImage(staged, o.out, oci_arch, model_uri)
                         : BuildLambdaImage(staged, o.out, oci_arch);
    std::string cleanup = "rm -rf '" + staged + "'";
    if (system(cleanup.c_str()) != 0)
      fprintf(stderr, "modelfn: could not remove %s\n", staged.c_str());
    if (!img.ok()) return Fail(img.status());
    if (a.Has("json")) {
      std::string out;
      JsonWriter w(&out);
      w.BeginObject().Key("image").String(img->image_tar).Key("context").String(o.out + "/context");
      w.Key("image_bytes")
          .Uint(img->image_bytes)
          .Key("uncompressed_bytes")
          .Uint(img->uncompressed_bytes);
      w.Key("manifest_digest").String(img->manifest_digest).EndObject();
      PrintJson(out);
    } else {
      printf(
          "wrote %s (OCI image layout, %.1f MB compressed, %.1f MB uncompressed) and the build "
          "context %s/context\n",
          img->image_tar.c_str(), img->image_bytes / 1048576.0, img->uncompressed_bytes / 1048576.0,
          o.out.c_str());
    }
    return 0;
  }
  auto r = BuildLambdaZip(o);
  if (!r.ok()) return Fail(r.status());
  if (a.Has("json")) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Key("out").String(o.out).Key("zipped_bytes").Uint(r->zipped_bytes);
    w.Key("unzipped_bytes").Uint(r->unzipped_bytes).Key("zip_limit").Uint(kLambdaZipLimit);
    w.Key("unzipped_limit").Uint(kLambdaUnzippedLimit).Key("files").BeginArray();
    for (const auto& [name, size] : r->entries)
      w.BeginObject().Key("name").String(name).Key("bytes").Uint(size).EndObject();
    w.EndArray().EndObject();
    PrintJson(out);
  } else {
    printf(
        "wrote %s: %.1f MB zipped (limit %.0f MB), %.1f MB unzipped (limit %.0f MB), %zu files\n",
        o.out.c_str(), r->zipped_bytes / 1048576.0, kLambdaZipLimit / 1048576.0,
        r->unzipped_bytes / 1048576.0, kLambdaUnzippedLimit / 1048576.0, r->entries.size());
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kDeployUsage =
    "usage: modelfn deploy --target aws --model DIR|s3://BUCKET/PREFIX/NAME[@V] [--dry-run] [--out "
    "DIR]\n"
    "       [--name FUNCTION] [--arch x86_64|arm64] [--memory MB] [--timeout S] [--ephemeral MB]\n"
    "       [--reserved N] [--provisioned N] [--api http|url|none] [--auth none|iam|jwt]\n"
    "       [--jwt-issuer URL --jwt-audience AUD] [--log-retention-days D] [--json]\n"
    "       [--trigger-bucket NAME [--input-prefix incoming/] [--output-prefix results/]\n"
    "        [--failure-prefix failed/]]\n"
    "\n"
    "Writes OUT/function.zip (the model inside for a folder; fetched from S3 at init for an s3://\n"
    "model) and OUT/template.yaml, an AWS SAM template with a least-privilege role. Without\n"
    "--dry-run it then runs your AWS SAM CLI: sam deploy --template-file OUT/template.yaml\n"
    "--stack-name FUNCTION --resolve-s3 --capabilities CAPABILITY_IAM. OUT defaults to "
    "./modelfn-aws.\n"
    "With --config modelfn.yaml instead of --model: one template for every function of the config\n"
    "(modelfn deploy --target aws --config modelfn.yaml --help).\n"
    "Other targets: modelfn deploy --target gcp --help, modelfn deploy --target knative --help.\n";

}  // namespace

int CmdDeployAws(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {  // every function of a modelfn.yaml: aws_stack_cmd.cc
    std::string arg = argv[i];
    if (arg == "--config" || arg.rfind("--config=", 0) == 0) return CmdDeployAwsStack(argc, argv);
  }
  Args a(argc, argv, {"target",       "model",         "out",
                      "name",         "arch",          "memory",
                      "timeout",      "ephemeral",     "reserved",
                      "provisioned",  "api",           "auth",
                      "jwt-issuer",   "jwt-audience",  "log-retention-days",
                      "runtime",      "bootstrap",     "trigger-bucket",
                      "input-prefix", "output-prefix", "failure-prefix"},
         {"dry-run", "json", "help"});
  if (a.Has("help")) return fputs(kDeployUsage, stdout), 0;
  if (!a.ok() || !a.positional().empty() || !a.Has("model"))
    return Usage(kDeployUsage, a.ok() ? "" : a.error());
  if (a.Get("target") != "aws") {
    return Usage(kDeployUsage,
                 "target '" + a.Get("target") + "' is not available (aws, gcp and knative are)");
  }
  auto num = [&](const char* flag, int def, int* out) -> bool {
    std::string v = a.Get(flag);
    if (v.empty()) return *out = def, true;
    char* end = nullptr;
    long x = strtol(v.c_str(), &end, 10);
    if (*end != '\0') return false;
    *out = static_cast<int>(x);
    return true;
  };
  SamOptions o;
  std::string model = a.Get("model");
  bool remote = HasStoreScheme(model);
  if (!num("memory", 1024, &o.memory_mb) || !num("timeout", 30, &o.timeout_s) ||
      !num("ephemeral", 1024, &o.ephemeral_mb) || !num("reserved", 0, &o.reserved) ||
      !num("provisioned", 0, &o.provisioned) ||
      !num("log-retention-days", 14, &o.log_retention_days)) {
    return Usage(kDeployUsage, "numeric options take whole numbers");
  }
  o.arch = a.Get("arch", "x86_64");
  o.api = a.Get("api", "http");
  o.auth = a.Get("auth", "none");
  o.jwt_issuer = a.Get("jwt-issuer");
  o.jwt_audience = a.Get("jwt-audience");
  o.trigger_bucket = a.Get("trigger-bucket");
  o.input_prefix = a.Get("input-prefix", o.input_prefix);
  o.output_prefix = a.Get("output-prefix", o.output_prefix);
  o.failure_prefix = a.Get("failure-prefix", o.failure_prefix);
  if (remote) {
    auto src = ParseModelSource(model);
    if (!src.ok()) return Fail(src.status());
    o.model_name = src->name;
    o.model_uri = model;
  } else {
    auto text = ReadFile(model + "/manifest.json");
    if (!text.ok()) return Fail(text.status());
    auto m = ParseManifest(*text);
    if (!m.ok()) return Fail(m.status());
    o.model_name = m->name + "@" + m->version;
  }
  o.function_name = a.Get("name", "modelfn-" + o.model_name.substr(0, o.model_name.find('@')));
  auto rendered = RenderSamTemplate(o);
  if (!rendered.ok()) return Fail(rendered.status());
  std::string out = a.Get("out", "modelfn-aws");
  mkdir(out.c_str(), 0755);
  LambdaZipOptions z;
  z.model_dir = remote ? "" : model;
  z.out = out + "/function.zip";
  z.arch = o.arch;
  z.runtime_binary = a.Get("runtime", BinariesFor(z.arch) + "/modelfn-fn");
  z.bootstrap_binary = a.Get("bootstrap", BinariesFor(z.arch) + "/modelfn-bootstrap");
  auto zip = BuildLambdaZip(z);
  if (!zip.ok()) return Fail(zip.status());
  if (Status s = WriteFileAtomic(out + "/template.yaml", *rendered); !s.ok()) return Fail(s);
  if (a.Has("json")) {
    std::string j;
    JsonWriter w(&j);
    w.BeginObject().Key("template").String(out + "/template.yaml").Key("package").String(z.out);
    w.Key("zipped_bytes")
        .Uint(zip->zipped_bytes)
        .Key("function")
        .String(o.function_name)
        .EndObject();
    PrintJson(j);
  } else {
    printf("wrote %s/template.yaml and %s (%.1f MB)\n", out.c_str(), z.out.c_str(),
           zip->zipped_bytes / 1048576.0);
  }
  if (a.Has("dry-run")) return 0;
  if (system("command -v sam >/dev/null 2>&1") != 0) {
    return Fail(FailedPreconditionError(
        "the AWS SAM CLI (sam) is not installed: install it, or use --dry-run and "
        "deploy " +
        out + "/template.yaml yourself"));
  }
  std::string cmd = "cd '" + out + "' && sam deploy --template-file template.yaml --stack-name '" +
                    o.function_name + "' --resolve-s3 --capabilities CAPABILITY_IAM";
  return system(cmd.c_str()) == 0 ? 0 : 1;
}

}  // namespace modelfn

#include <string>
#include <tuple>

#include "common/files.h"
#include "platform/config.h"
#include "platform/config_internal.h"

namespace modelfn::config_internal {

// `triggers: [{function, source, suffix, output, failure, poll_s}]`: the function reads each
// new object of `source` through its face and writes its results to `output` and failures to
// `failure`, prefixes of the same bucket (its face's MODELFN_{S3,GCS,AZURE}_*_PREFIX, set here).
// Sources: s3://BUCKET/PREFIX/ (S3 events: lambda mode), gs://BUCKET/PREFIX/ (CloudEvents: face
// cloudevents), az://CONTAINER/PREFIX/ (blob invocations: face azure), or a folder (a path,
// relative to modelfn.yaml, or file://): its parent is the bucket, the folder's name the prefix,
// and the event is the shape of the function's face; the function's faces open that bucket as
// the folder (MODELFN_LOCAL_BUCKETS, faces/local_buckets.h).
Status ParseTriggers(const Json* t, const std::string& base_dir, PlatformConfig* c) {
  if (t == nullptr || t->is_null()) return Status::Ok();
  if (!t->is_array()) return FieldError("triggers", "expected a list");
  for (size_t i = 0; i < t->AsArray().size(); ++i) {
    const Json& v = t->AsArray()[i];
    const std::string path = "triggers[" + std::to_string(i) + "]";
    Fields f(&v, path);
    if (!v.is_object()) return FieldError(path, "expected a mapping");
    RETURN_IF_ERROR(f.CheckKnown({"function", "source", "suffix", "output", "failure", "poll_s"}));
    TriggerSpec spec;
    std::string source, output, failure;
    RETURN_IF_ERROR(f.String("function", &spec.function));
    RETURN_IF_ERROR(f.String("source", &source));
    RETURN_IF_ERROR(f.String("suffix", &spec.suffix));
    RETURN_IF_ERROR(f.String("output", &output));
    RETURN_IF_ERROR(f.String("failure", &failure));
    RETURN_IF_ERROR(f.Number("poll_s", 0.05, 3600, &spec.poll_s));
    FunctionConfig* fn = nullptr;
    for (auto& x : c->functions) fn = x.name == spec.function ? &x : fn;
    if (fn == nullptr)
      return FieldError(path + ".function", "no function named '" + spec.function + "'");
    if (source.empty()) return FieldError(path + ".source", "is required");
    const size_t sep = source.find("://");
    std::string scheme = sep == std::string::npos ? "" : source.substr(0, sep);
    if (sep != std::string::npos && scheme != "s3" && scheme != "gs" && scheme != "az" &&
        scheme != "file") {
      return FieldError(path + ".source",
                        "expected s3://BUCKET/PREFIX/, gs://BUCKET/PREFIX/, az://CONTAINER/PREFIX/ "
                        "or a folder");
    }
    // The event shape: the cloud's for a cloud source, the function's face's for a folder.
    std::string shape = scheme;
    if (scheme.empty() || scheme == "file") {
      shape = fn->mode == InstanceMode::kLambda        ? "s3"
              : fn->face == InstanceFace::kCloudEvents ? "gs"
              : fn->face == InstanceFace::kAzure       ? "az"
                                                       : "";
      if (shape.empty()) {
        return FieldError(path + ".function",
                          "a folder trigger delivers the event of the function's face: run it in "
                          "lambda mode, or with face: cloudevents or face: azure");
      }
    }
    if (shape == "s3" && fn->mode != InstanceMode::kLambda) {
      return FieldError(path + ".function",
                        "an s3:// trigger delivers S3 events: the function runs in lambda mode");
    }
    if (shape == "gs" && fn->face != InstanceFace::kCloudEvents) {
      return FieldError(path + ".function",
                        "a gs:// trigger delivers CloudEvents: the function runs with face: "
                        "cloudevents");
    }
    if (shape == "az" && fn->face != InstanceFace::kAzure) {
      return FieldError(path + ".function",
                        "an az:// trigger delivers Azure blob invocations: the function runs with "
                        "face: azure");
    }
    spec.shape = shape;
    if (scheme.empty() || scheme == "file") {
      std::string dir = scheme.empty() ? source : source.substr(7);
      if (dir.empty()) return FieldError(path + ".source", "names no folder");
      dir = NormalizePath(dir[0] == '/' ? dir : base_dir + "/" + dir);
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      size_t slash = dir.rfind('/');
      if (slash == std::string::npos || slash + 1 >= dir.size())
        return FieldError(path + ".source",
                          "must be a folder below another (its parent holds "
                          "the results)");
      spec.local_root = slash == 0 ? "/" : dir.substr(0, slash);
      spec.prefix = dir.substr(slash + 1) + "/";
      // The bucket name the events carry: the parent folder's name, made unique.
      std::string name;
      for (char ch : spec.local_root.substr(spec.local_root.rfind('/') + 1)) {
        ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
        name += isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' ? ch : '-';
      }
      if (name.empty()) name = "local";
      std::string unique = name;
      for (int n = 2;; ++n) {
        bool taken = false;
        for (const auto& o : c->triggers)
          taken |= o.bucket == unique && o.local_root != spec.local_root;
        if (!taken) break;
        unique = name + "-" + std::to_string(n);
      }
      spec.bucket = unique;
      spec.source_id = "file://" + dir.substr(0, slash);
      std::string& buckets = fn->env["MODELFN_LOCAL_BUCKETS"];
      std::string entry = spec.bucket + "=" + spec.local_root;
      if (("," + buckets + ",").find("," + entry + ",") == std::string::npos)
        buckets += (buckets.empty() ? "" : ",") + entry;
    } else {
      std::string rest = source.substr(sep + 3);
      size_t slash = rest.find('/');
      spec.bucket = rest.substr(0, slash);
      spec.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
      if (spec.bucket.empty()) return FieldError(path + ".source", "names no bucket");
      if (!spec.prefix.empty() && spec.prefix.back() != '/') spec.prefix += '/';
      spec.source_id = scheme + "://" + spec.bucket;
    }
    const std::string env_prefix = shape == "s3"   ? "MODELFN_S3_"
                                   : shape == "gs" ? "MODELFN_GCS_"
                                                   : "MODELFN_AZURE_";
    // output/failure: a prefix of the same bucket, as "results/" or SCHEME://BUCKET/results/.
    for (auto [name, value, env] : {std::tuple{"output", &output, "OUTPUT_PREFIX"},
                                    std::tuple{"failure", &failure, "FAILURE_PREFIX"}}) {
      if (value->empty()) continue;
      std::string p = *value;
      if (!scheme.empty() && scheme != "file" && p.rfind(scheme + "://", 0) == 0) {
        std::string r = p.substr(scheme.size() + 3);
        if (r.substr(0, r.find('/')) != spec.bucket) {
          return FieldError(path + "." + name, "must be in the source's bucket " + spec.bucket +
                                                   " (the function writes there)");
        }
        p = r.find('/') == std::string::npos ? "" : r.substr(r.find('/') + 1);
      }
      if (p.find("://") != std::string::npos || p.find("..") != std::string::npos ||
          (!p.empty() && p[0] == '/')) {
        return FieldError(path + "." + name,
                          "must be a prefix of the source's bucket (a folder beside the watched "
                          "one for a folder source), as results/");
      }
      if (!p.empty() && p.back() != '/') p += '/';
      if (p.empty() || p == spec.prefix) {
        return FieldError(path + "." + name, "must be a prefix other than the source's");
      }
      fn->env[env_prefix + env] = p;
    }
    fn->env[env_prefix + "INPUT_PREFIX"] = spec.prefix;
    c->triggers.push_back(std::move(spec));
  }
  return Status::Ok();
}

}  // namespace modelfn::config_internal

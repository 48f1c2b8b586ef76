#include "package/oci_image.h"

#include <dirent.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"

namespace modelfn {
namespace {

struct Entry {
  std::string rel;
  bool dir = false;
  uint32_t mode = 0644;
};

void Walk(const std::string& root, const std::string& rel, std::vector<Entry>* out) {
  DIR* d = opendir((root + (rel.empty() ? "" : "/" + rel)).c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    std::string r = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    if (stat((root + "/" + r).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      out->push_back({r, true, 0755});
      Walk(root, r, out);
    } else if (S_ISREG(st.st_mode)) {
      out->push_back({r, false, static_cast<uint32_t>(st.st_mode & 0777)});
    }
  }
}

// Zero-padded octal in width-1 digits plus a NUL, as ustar wants.
void Octal(char* field, size_t width, uint64_t v) {
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  field[width - 1] = '\0';
}

std::string Header(const std::string& name, uint64_t size, uint32_t mode, char type) {
  std::string h(512, '\0');
  std::string n = name, prefix;
  if (n.size() > 100) {  // ustar: split into prefix (155) / name (100) at a '/'
    size_t cut = n.rfind('/', 155);
    if (cut == std::string::npos || n.size() - cut - 1 > 100) return "";
    prefix = n.substr(0, cut);
    n = n.substr(cut + 1);
  }
  memcpy(&h[0], n.data(), n.size());
  Octal(&h[100], 8, mode);
  Octal(&h[108], 8, 0);
  Octal(&h[116], 8, 0);
  Octal(&h[124], 12, size);
  Octal(&h[136], 12, 0);
  memset(&h[148], ' ', 8);
  h[156] = type;
  memcpy(&h[257], "ustar", 6);
  memcpy(&h[263], "00", 2);
  memcpy(&h[345], prefix.data(), prefix.size());
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  Octal(&h[148], 7, sum);
  h[155] = ' ';
  return h;
}

StatusOr<std::string> Gzip(const std::string& data) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return InternalError("gzip init");
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return InternalError("gzip failed");
  return out;
}

}  // namespace

StatusOr<std::string> TarDirectory(const std::string& root, const std::string& prefix) {
  std::vector<Entry> entries;
  Walk(root, "", &entries);
  std::string tar;
  std::string p = prefix.empty() ? "" : prefix + "/";
  // Parent folders of the prefix first.
  for (size_t cut = p.find('/'); cut != std::string::npos; cut = p.find('/', cut + 1)) {
    tar += Header(p.substr(0, cut + 1), 0, 0755, '5');
  }
  for (const Entry& e : entries) {
    if (e.dir) {
      std::string h = Header(p + e.rel + "/", 0, e.mode, '5');
      if (h.empty()) return InvalidArgumentError("path too long for tar: " + e.rel);
      tar += h;
      continue;
    }
    ASSIGN_OR_RETURN(std::string data, ReadFile(root + "/" + e.rel));
    std::string h = Header(p + e.rel, data.size(), e.mode, '0');
    if (h.empty()) return InvalidArgumentError("path too long for tar: " + e.rel);
    tar += h;
    tar += data;
    tar.append((512 - data.size() % 512) % 512, '\0');
  }
  tar.append(1024, '\0');
  return tar;
}

StatusOr<OciImageReport> BuildLambdaImage(const std::string& package_dir,
                                          const std::string& out_dir, const std::string& arch) {
  mkdir(out_dir.c_str(), 0755);
  std::string context = out_dir + "/context";
  mkdir(context.c_str(), 0755);
  std::string copy = "cp -a '" + package_dir + "/.' '" + context + "/'";
  if (system(copy.c_str()) != 0) return UnavailableError("cannot copy the package into " + context);
  RETURN_IF_ERROR(WriteFileAtomic(
      context + "/Dockerfile",
      "# Lambda image on AWS's provided.al2023 base: its entrypoint runs /var/runtime/bootstrap.\n"
      "FROM public.ecr.aws/lambda/provided:al2023\n"
      "COPY . ${LAMBDA_TASK_ROOT}/\n"
      "RUN ln -sf ${LAMBDA_TASK_ROOT}/bootstrap ${LAMBDA_RUNTIME_DIR}/bootstrap\n"
      "CMD [\"modelfn\"]\n"));
  RETURN_IF_ERROR(WriteFileAtomic(
      context + "/Dockerfile.scratch",
      "# Everything modelfn-fn needs is in the package (loader and libc included).\n"
      "FROM scratch\n"
      "COPY . /var/task/\n"
      "ENV LAMBDA_TASK_ROOT=/var/task\n"
      "WORKDIR /var/task\n"
      "ENTRYPOINT [\"/var/task/bootstrap\"]\n"));
  ImageConfig cfg;
  cfg.root = "var/task";
  cfg.entrypoint = {"/var/task/bootstrap"};
  cfg.env = {"LAMBDA_TASK_ROOT=/var/task"};
  cfg.workdir = "/var/task";
  cfg.created_by = "modelfn package --target aws-lambda-image";
  return BuildOciImage(package_dir, out_dir, arch, cfg);
}

StatusOr<OciImageReport> BuildCloudRunImage(const std::string& package_dir,
                                            const std::string& out_dir, const std::string& arch,
                                            const std::string& model_uri) {
  mkdir(out_dir.c_str(), 0755);
  std::string context = out_dir + "/context";
  mkdir(context.c_str(), 0755);
  std::string copy = "cp -a '" + package_dir + "/.' '" + context + "/'";
  if (system(copy.c_str()) != 0) return UnavailableError("cannot copy the package into " + context);
  const std::string model = model_uri.empty() ? "/app/model" : model_uri;
  RETURN_IF_ERROR(WriteFileAtomic(
      context + "/Dockerfile",
      "# Cloud Run / Knative: modelfn-fn serves HTTP and CloudEvents on $PORT. Everything it "
      "needs\n"
      "# is in the package (loader and libc included), so nothing else is in the image.\n"
      "FROM scratch\n"
      "COPY . /app/\n"
      "ENV MODELFN_MODEL=" +
          model +
          "\n"
          "WORKDIR /app\n"
          "ENTRYPOINT [\"/app/bootstrap\"]\n"));
  ImageConfig cfg;
  cfg.root = "app";
  cfg.entrypoint = {"/app/bootstrap"};
  cfg.env = {"MODELFN_MODEL=" + model};
  cfg.workdir = "/app";
  cfg.created_by = "modelfn package --target cloud-run";
  return BuildOciImage(package_dir, out_dir, arch, cfg);
}

StatusOr<OciImageReport> BuildOciImage(const std::string& package_dir, const std::string& out_dir,
                                       const std::string& arch, const ImageConfig& cfg) {
  mkdir(out_dir.c_str(), 0755);
  ASSIGN_OR_RETURN(std::string layer_tar, TarDirectory(package_dir, cfg.root));
  ASSIGN_OR_RETURN(std::string layer, Gzip(layer_tar));
  std::string diff_id = "sha256:" + Sha256Hex(layer_tar);
  std::string layer_digest = "sha256:" + Sha256Hex(layer);
  std::string config;
  JsonWriter c(&config);
  c.BeginObject().Key("architecture").String(arch).Key("os").String("linux");
  c.Key("config").BeginObject();
  c.Key("Entrypoint").BeginArray();
  for (const std::string& e : cfg.entrypoint) c.String(e);
  c.EndArray().Key("Env").BeginArray();
  for (const std::string& e : cfg.env) c.String(e);
  c.EndArray().Key("WorkingDir").String(cfg.workdir).EndObject();
  c.Key("rootfs")
      .BeginObject()
      .Key("type")
      .String("layers")
      .Key("diff_ids")
      .BeginArray()
      .String(diff_id)
      .EndArray();
  c.EndObject();
  c.Key("history").BeginArray().BeginObject().Key("created_by").String(cfg.created_by);
  c.EndObject().EndArray().EndObject();
  std::string config_digest = "sha256:" + Sha256Hex(config);
  std::string manifest;
  JsonWriter m(&manifest);
  m.BeginObject()
      .Key("schemaVersion")
      .Int(2)
      .Key("mediaType")
      .String("application/vnd.oci.image.manifest.v1+json");
  m.Key("config").BeginObject().Key("mediaType").String("application/vnd.oci.image.config.v1+json");
  m.Key("digest").String(config_digest).Key("size").Uint(config.size()).EndObject();
  m.Key("layers")
      .BeginArray()
      .BeginObject()
      .Key("mediaType")
      .String("application/vnd.oci.image.layer.v1.tar+gzip");
  m.Key("digest")
      .String(layer_digest)
      .Key("size")
      .Uint(layer.size())
      .EndObject()
      .EndArray()
      .EndObject();
  std::string manifest_digest = "sha256:" + Sha256Hex(manifest);
  std::string index;
  JsonWriter ix(&index);
  ix.BeginObject()
      .Key("schemaVersion")
      .Int(2)
      .Key("mediaType")
      .String("application/vnd.oci.image.index.v1+json");
  ix.Key("manifests")
      .BeginArray()
      .BeginObject()
      .Key("mediaType")
      .String("application/vnd.oci.image.manifest.v1+json");
  ix.Key("digest").String(manifest_digest).Key("size").Uint(manifest.size());
  ix.Key("annotations")
      .BeginObject()
      .Key("org.opencontainers.image.ref.name")
      .String("latest")
      .EndObject();
  ix.Key("platform")
      .BeginObject()
      .Key("architecture")
      .String(arch)
      .Key("os")
      .String("linux")
      .EndObject();
  ix.EndObject().EndArray().EndObject();
  // The layout itself, then tarred.
  std::string layout = out_dir + "/oci";
  mkdir(layout.c_str(), 0755);
  mkdir((layout + "/blobs").c_str(), 0755);
  mkdir((layout + "/blobs/sha256").c_str(), 0755);
  RETURN_IF_ERROR(WriteFileAtomic(layout + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"));
  RETURN_IF_ERROR(WriteFileAtomic(layout + "/index.json", index));
  for (const auto& [digest, data] :
       {std::pair{config_digest, &config}, std::pair{layer_digest, &layer},
        std::pair{manifest_digest, &manifest}}) {
    RETURN_IF_ERROR(WriteFileAtomic(layout + "/blobs/sha256/" + digest.substr(7), *data));
  }
  ASSIGN_OR_RETURN(std::string archive, TarDirectory(layout, ""));
  OciImageReport r;
  r.image_tar = out_dir + "/image.tar";
  RETURN_IF_ERROR(WriteFileAtomic(r.image_tar, archive));
  r.image_bytes = layer.size() + config.size() + manifest.size();
  r.uncompressed_bytes = layer_tar.size();
  r.manifest_digest = manifest_digest;
  return r;
}

}  // namespace modelfn

#include "store/azure_store.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>

#include "common/base64.h"
#include "store/cloud_http.h"
#include "store/xml.h"

namespace modelfn {
namespace {

std::string HttpDateOf(int64_t wall_nanos) {
  time_t secs = static_cast<time_t>(wall_nanos / 1'000'000'000);
  tm t;
  gmtime_r(&secs, &t);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &t);
  return buf;
}

std::map<std::string, std::string> ParseConnectionString(const std::string& cs) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < cs.size()) {
    size_t semi = cs.find(';', pos);
    std::string part = cs.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    size_t eq = part.find('=');
    if (eq != std::string::npos) out[part.substr(0, eq)] = part.substr(eq + 1);
    if (semi == std::string::npos) break;
    pos = semi + 1;
  }
  return out;
}

}  // namespace

std::string AzureStore::SharedKeySignature(const std::string& key_base64,
                                           const std::string& string_to_sign) {
  auto decoded = Base64Decode(key_base64);
  std::string key = decoded.ok() ? std::move(decoded).value() : std::string();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(string_to_sign.data()), string_to_sign.size(), out,
       &len);
  return Base64Encode(std::string_view(reinterpret_cast<char*>(out), len));
}

AzureStore::AzureStore(AzureConfig config, std::unique_ptr<HttpClient> http, const Clock* clock)
    : config_(std::move(config)), http_(std::move(http)), clock_(clock) {
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
  size_t scheme = config_.endpoint.find("://");
  size_t path = config_.endpoint.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path != std::string::npos) base_path_ = config_.endpoint.substr(path);
}

StatusOr<std::unique_ptr<AzureStore>> AzureStore::FromEnvironment(const std::string& account,
                                                                  const std::string& container,
                                                                  const std::string& prefix,
                                                                  const EnvFn& env,
                                                                  const Clock* clock) {
  AzureConfig c;
  c.container = container;
  c.prefix = prefix;
  if (auto cs = env("AZURE_STORAGE_CONNECTION_STRING"); cs && !cs->empty()) {
    auto parts = ParseConnectionString(*cs);
    c.account = parts["AccountName"];
    c.key_base64 = parts["AccountKey"];
    c.sas = parts["SharedAccessSignature"];
    c.endpoint = parts["BlobEndpoint"];
    if (c.endpoint.empty() && !c.account.empty()) {
      std::string proto =
          parts.count("DefaultEndpointsProtocol") ? parts["DefaultEndpointsProtocol"] : "https";
      std::string suffix =
          parts.count("EndpointSuffix") ? parts["EndpointSuffix"] : "core.windows.net";
      c.endpoint = proto + "://" + c.account + ".blob." + suffix;
    }
    if (c.account.empty() && !c.endpoint.empty()) {
      size_t s = c.endpoint.find("://");
      std::string host = c.endpoint.substr(s == std::string::npos ? 0 : s + 3);
      c.account = host.substr(0, host.find('.'));
    }
  } else {
    c.account = account;
    if (c.account.empty()) {
      if (auto a = env("AZURE_STORAGE_ACCOUNT")) c.account = *a;
    }
    if (auto k = env("AZURE_STORAGE_KEY")) c.key_base64 = *k;
    if (auto s = env("AZURE_STORAGE_SAS_TOKEN")) c.sas = *s;
    if (!c.account.empty()) c.endpoint = "https://" + c.account + ".blob.core.windows.net";
  }
  if (!account.empty() && account != c.account) {
    return StoreAuthError("the store names account '" + account +
                          "' but the credentials are for '" + c.account + "'");
  }
  if (!c.sas.empty() && c.sas[0] == '?') c.sas.erase(0, 1);
  if (c.account.empty() || c.endpoint.empty()) {
    return StoreAuthError(
        "no Azure Storage account: set AZURE_STORAGE_CONNECTION_STRING, or "
        "AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or neither (the "
        "host's managed identity)");
  }
  if (c.key_base64.empty() && c.sas.empty()) {
    c.tokens = std::make_shared<ManagedIdentityTokens>(env, MakeCurlHttpClient(), clock);
  }
  return std::make_unique<AzureStore>(std::move(c), MakeCurlHttpClient(), clock);
}

std::string AzureStore::Describe() const {
  return "az://" + config_.container + (config_.prefix.empty() ? "" : "/" + config_.prefix) +
         " (account " + config_.account + ")";
}

std::string AzureStore::FullKey(const std::string& key) const {
  return config_.prefix.empty() ? key : config_.prefix + "/" + key;
}

Status AzureStore::ErrorFor(const Request& r, const HttpReply& reply) const {
  auto doc = ParseXml(reply.body);  // else a bare status (HEAD has no body)
  std::string code = reply.Header("x-ms-error-code") ? *reply.Header("x-ms-error-code")
                     : doc.ok()                      ? doc->ChildText("Code")
                                                     : "";
  std::string what = r.method + " " + Describe() + (r.container_level ? "" : "/" + r.key) +
                     ": HTTP " + std::to_string(reply.status) + (code.empty() ? "" : " " + code);
  if (reply.status == 404) return NotFoundError(what);
  if (reply.status == 412 || (reply.status == 409 && code == "BlobAlreadyExists"))
    return PreconditionFailed(what);
  if (reply.status == 403 || reply.status == 401) {
    std::string detail = doc.ok() ? doc->ChildText("AuthenticationErrorDetail") : "";
    // Azure names a skewed clock "Request date header too old" or speaks of a time.
    if (detail.find("time") != std::string::npos || detail.find("Time") != std::string::npos ||
        detail.find("date header") != std::string::npos) {
      return StoreAuthError(what + " (" + detail +
                            "): this machine's clock may be off; fix the clock");
    }
    if (config_.tokens) {
      return StoreAuthError(what +
                            ": check the managed identity's role on the container (Storage Blob "
                            "Data Reader to read, Contributor to write)");
    }
    return StoreAuthError(what + ": check the account key or SAS and its permissions");
  }
  if (reply.status >= 500 || reply.status == 429) return UnavailableError(what);
  return InvalidArgumentError(what);
}

StatusOr<HttpReply> AzureStore::Call(const Request& r) {
  std::string path = base_path_ + "/" + UriEncode(config_.container, false);
  if (!r.container_level) path += "/" + UriEncode(FullKey(r.key), true);
  std::string query;
  for (const auto& [k, v] : r.query)
    query += (query.empty() ? "" : "&") + UriEncode(k, false) + "=" + UriEncode(v, false);
  HttpCall call;
  call.method = r.method;
  call.body = r.body;
  call.body_file = r.body_file;
  call.body_offset = r.body_offset;
  call.body_length = r.body_length;
  call.response_file = r.response_file;
  call.progress = r.progress;
  std::string full_query = query;
  if (config_.key_base64.empty() && !config_.sas.empty())
    full_query += (full_query.empty() ? "" : "&") + config_.sas;
  call.url = config_.endpoint.substr(0, config_.endpoint.size() - base_path_.size()) + path +
             (full_query.empty() ? "" : "?" + full_query);
  uint64_t length = r.body_file.empty() ? r.body.size() : r.body_length;
  return RetryTransient(4, [&]() -> StatusOr<HttpReply> {
    std::vector<std::pair<std::string, std::string>> headers = r.headers;
    headers.emplace_back("x-ms-date", HttpDateOf(clock_->WallNanos()));
    headers.emplace_back("x-ms-version", "2021-08-06");
    bool sends_body = r.method == "PUT" || r.method == "POST";
    if (sends_body) headers.emplace_back("Content-Length", std::to_string(length));
    if (config_.key_base64.empty() && config_.sas.empty() && config_.tokens) {
      auto token = config_.tokens->Token();
      if (!token.ok()) return token.status();
      headers.emplace_back("Authorization", "Bearer " + *token);
    }
    if (!config_.key_base64.empty()) {
      auto header = [&](const char* name) {
        for (const auto& [k, v] : headers) {
          if (strcasecmp(k.c_str(), name) == 0) return v;
        }
        return std::string();
      };
      std::map<std::string, std::string> ms;
      for (const auto& [k, v] : headers) {
        std::string lk = k;
        for (char& ch : lk) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
        if (lk.rfind("x-ms-", 0) == 0) ms[lk] = v;
      }
      std::string canonical_headers;
      for (const auto& [k, v] : ms) canonical_headers += k + ":" + v + "\n";
      std::string resource = "/" + config_.account + path;
      std::map<std::string, std::string> q;
      for (const auto& [k, v] : r.query) {
        std::string lk = k;
        for (char& ch : lk) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
        q[lk] = v;
      }
      for (const auto& [k, v] : q) resource += "\n" + k + ":" + v;
      std::string content_length = sends_body && length > 0 ? std::to_string(length) : "";
      std::string to_sign = r.method + "\n" + header("Content-Encoding") + "\n" +
                            header("Content-Language") + "\n" + content_length + "\n" +
                            header("Content-MD5") + "\n" + header("Content-Type") + "\n" + "\n" +
                            header("If-Modified-Since") + "\n" + header("If-Match") + "\n" +
                            header("If-None-Match") + "\n" + header("If-Unmodified-Since") + "\n" +
                            header("Range") + "\n" + canonical_headers + resource;
      headers.emplace_back("Authorization", "SharedKey " + config_.account + ":" +
                                                SharedKeySignature(config_.key_base64, to_sign));
    }
    call.headers = std::move(headers);
    ASSIGN_OR_RETURN(HttpReply reply, http_->Send(call));
    if (reply.status >= 200 && reply.status < 300) return reply;
    return ErrorFor(r, reply);
  });
}

StatusOr<std::string> AzureStore::Get(const std::string& key) {
  Request r;
  r.key = key;
  ASSIGN_OR_RETURN(HttpReply reply, Call(r));
  return std::move(reply.body);
}

StatusOr<ObjectInfo> AzureStore::GetToFile(const std::string& key, const std::string& path,
                                           const ProgressFn& progress) {
  Request r;
  r.key = key;
  r.response_file = path;
  r.progress = progress;
  ASSIGN_OR_RETURN(HttpReply reply, Call(r));
  return ObjectInfo{key, reply.body_bytes, reply.HeaderOr("etag")};
}

StatusOr<ObjectInfo> AzureStore::Head(const std::string& key) {
  Request r;
  r.method = "HEAD";
  r.key = key;
  ASSIGN_OR_RETURN(HttpReply reply, Call(r));
  ObjectInfo info{key, 0, reply.HeaderOr("etag")};
  if (const std::string* len = reply.Header("content-length"))
    info.size = strtoull(len->c_str(), nullptr, 10);
  return info;
}

StatusOr<ObjectInfo> AzureStore::Put(const std::string& key, std::string_view data,
                                     const PutOptions& options) {
  Request r;
  r.method = "PUT";
  r.key = key;
  r.body = data;
  r.progress = options.progress;
  r.headers = {{"x-ms-blob-type", "BlockBlob"}, {"Content-Type", options.content_type}};
  AddConditionalHeaders(options, &r.headers);
  ASSIGN_OR_RETURN(HttpReply reply, Call(r));
  return ObjectInfo{key, data.size(), reply.HeaderOr("etag")};
}

StatusOr<ObjectInfo> AzureStore::PutFile(const std::string& key, const std::string& path,
                                         const PutOptions& options) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFoundError("no such file: " + path);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size <= config_.block_threshold) {
    Request r;
    r.method = "PUT";
    r.key = key;
    r.body_file = path;
    r.body_length = size;
    r.progress = options.progress;
    r.headers = {{"x-ms-blob-type", "BlockBlob"}, {"Content-Type", options.content_type}};
    AddConditionalHeaders(options, &r.headers);
    ASSIGN_OR_RETURN(HttpReply reply, Call(r));
    return ObjectInfo{key, size, reply.HeaderOr("etag")};
  }
  // Blocks are staged (invisible) until the block list is committed; uncommitted blocks expire.
  std::string list = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
  uint64_t done = 0;
  for (int i = 0; done < size; ++i) {
    char id[32];
    snprintf(id, sizeof id, "block-%08d", i);
    std::string block_id = Base64Encode(id);
    uint64_t len = std::min(config_.block_size, size - done);
    Request r;
    r.method = "PUT";
    r.key = key;
    r.query = {{"comp", "block"}, {"blockid", block_id}};
    r.body_file = path;
    r.body_offset = done;
    r.body_length = len;
    uint64_t base = done;
    if (options.progress)
      r.progress = [&](uint64_t d, uint64_t) { options.progress(base + d, size); };
    auto reply = Call(r);
    if (!reply.ok()) return reply.status().WithContext("block " + std::to_string(i));
    list += "<Latest>" + block_id + "</Latest>";
    done += len;
  }
  list += "</BlockList>";
  Request commit;
  commit.method = "PUT";
  commit.key = key;
  commit.query = {{"comp", "blocklist"}};
  commit.body = list;
  commit.headers = {{"Content-Type", "application/xml"},
                    {"x-ms-blob-content-type", options.content_type}};
  AddConditionalHeaders(options, &commit.headers);
  ASSIGN_OR_RETURN(HttpReply reply, Call(commit));
  return ObjectInfo{key, size, reply.HeaderOr("etag")};
}

StatusOr<std::vector<ObjectInfo>> AzureStore::List(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  std::string marker;
  size_t strip = config_.prefix.empty() ? 0 : config_.prefix.size() + 1;
  while (true) {
    Request r;
    r.container_level = true;
    r.query = {{"restype", "container"}, {"comp", "list"}, {"prefix", FullKey(prefix)}};
    if (config_.prefix.empty()) r.query[2].second = prefix;
    if (!marker.empty()) r.query.emplace_back("marker", marker);
    ASSIGN_OR_RETURN(HttpReply reply, Call(r));
    auto doc = ParseXml(reply.body);
    if (!doc.ok()) {
      return UnavailableError("the listing of " + Describe() + " is not XML Azure sends (" +
                              doc.status().message() + ")");
    }
    const XmlElement* blobs = doc->Child("Blobs");
    for (const XmlElement* blob :
         blobs ? blobs->Children("Blob") : std::vector<const XmlElement*>()) {
      const XmlElement* name = blob->Child("Name");
      if (!name || name->text.size() < strip) continue;
      ObjectInfo info;
      info.key = name->text.substr(strip);
      if (const XmlElement* props = blob->Child("Properties")) {
        info.size = strtoull(props->ChildText("Content-Length").c_str(), nullptr, 10);
        info.etag = props->ChildText("Etag");
      }
      out.push_back(std::move(info));
    }
    marker = doc->ChildText("NextMarker");
    if (marker.empty()) break;
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Status AzureStore::Delete(const std::string& key) {
  Request r;
  r.method = "DELETE";
  r.key = key;
  auto reply = Call(r);
  if (!reply.ok() && reply.status().code() != StatusCode::kNotFound) return reply.status();
  return Status::Ok();
}

}  // namespace modelfn

#include "store/gcs_store.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <algorithm>

#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"

namespace modelfn {
namespace {}  // namespace

StatusOr<std::string> MakeServiceAccountJwt(const GcsAuth& auth, int64_t wall_nanos) {
  int64_t now = wall_nanos / 1'000'000'000;
  std::string header = R"({"alg":"RS256","typ":"JWT"})";
  std::string claims;
  JsonWriter w(&claims);
  w.BeginObject().Key("iss").String(auth.client_email);
  w.Key("scope").String("https://www.googleapis.com/auth/devstorage.read_write");
  w.Key("aud").String(auth.token_uri).Key("iat").Int(now).Key("exp").Int(now + 3600).EndObject();
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
  BIO* bio =
      BIO_new_mem_buf(auth.private_key_pem.data(), static_cast<int>(auth.private_key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr)
    return StoreAuthError("the service-account key's private_key is not a PEM private key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) return StoreAuthError("signing the service-account JWT failed");
  return input + "." + Base64UrlEncode(sig);
}

GcsStore::GcsStore(std::string endpoint, std::string bucket, std::string prefix, GcsAuth auth,
                   std::unique_ptr<HttpClient> http, const Clock* clock)
    : endpoint_(std::move(endpoint)),
      bucket_(std::move(bucket)),
      prefix_(std::move(prefix)),
      auth_(std::move(auth)),
      http_(std::move(http)),
      clock_(clock) {
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
}

StatusOr<std::unique_ptr<GcsStore>> GcsStore::FromEnvironment(const std::string& bucket,
                                                              const std::string& prefix,
                                                              const EnvFn& env,
                                                              const Clock* clock) {
  GcsAuth auth;
  std::string endpoint = "https://storage.googleapis.com";
  if (auto emu = env("STORAGE_EMULATOR_HOST"); emu && !emu->empty()) {
    endpoint = emu->find("://") == std::string::npos ? "http://" + *emu : *emu;
    return std::make_unique<GcsStore>(endpoint, bucket, prefix, std::move(auth),
                                      MakeCurlHttpClient(), clock);
  }
  if (auto ep = env("MODELFN_GCS_ENDPOINT"); ep && !ep->empty()) endpoint = *ep;
  if (auto key_file = env("GOOGLE_APPLICATION_CREDENTIALS"); key_file && !key_file->empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(*key_file));
    auto doc = Json::Parse(text);
    const Json* email = doc.ok() ? doc->Find("client_email") : nullptr;
    const Json* pk = doc.ok() ? doc->Find("private_key") : nullptr;
    if (!email || !pk || !email->is_string() || !pk->is_string()) {
      return StoreAuthError(*key_file +
                            " is not a service-account key (client_email, private_key)");
    }
    auth.kind = GcsAuth::Kind::kServiceAccount;
    auth.client_email = email->AsString();
    auth.private_key_pem = pk->AsString();
    if (const Json* uri = doc->Find("token_uri"); uri && uri->is_string()) {
      auth.token_uri = uri->AsString();
    }
  } else {
    auth.kind = GcsAuth::Kind::kMetadata;
    if (auto host = env("GCE_METADATA_HOST"); host && !host->empty()) auth.metadata_host = *host;
  }
  return std::make_unique<GcsStore>(endpoint, bucket, prefix, std::move(auth), MakeCurlHttpClient(),
                                    clock);
}

std::string GcsStore::Describe() const {
  return "gs://" + bucket_ + (prefix_.empty() ? "" : "/" + prefix_);
}

std::string GcsStore::FullKey(const std::string& key) const {
  return prefix_.empty() ? key : prefix_ + "/" + key;
}

std::string GcsStore::ObjectUrl(const std::string& key) const {
  return endpoint_ + "/storage/v1/b/" + UriEncode(bucket_, false) + "/o/" +
         UriEncode(FullKey(key), false);
}

StatusOr<std::string> GcsStore::Token() {
  if (auth_.kind == GcsAuth::Kind::kNone) return std::string();
  std::lock_guard<std::mutex> lock(token_mu_);
  int64_t now = clock_->WallNanos();
  if (!token_.empty() && now < token_expires_) return token_;
  HttpCall call;
  if (auth_.kind == GcsAuth::Kind::kServiceAccount) {
    ASSIGN_OR_RETURN(std::string jwt, MakeServiceAccountJwt(auth_, now));
    call.method = "POST";
    call.url = auth_.token_uri;
    std::string body =
        "grant_type=" + UriEncode("urn:ietf:params:oauth:grant-type:jwt-bearer", false) +
        "&assertion=" + jwt;
    call.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    call.body = body;
    auto reply = http_->Send(call);
    if (!reply.ok()) return reply.status().WithContext("token endpoint");
    if (reply->status != 200) {
      return StoreAuthError("token endpoint " + auth_.token_uri + " answered HTTP " +
                            std::to_string(reply->status) +
                            ": check the service-account key and this machine's clock");
    }
    auto doc = Json::Parse(reply->body);
    const Json* tok = doc.ok() ? doc->Find("access_token") : nullptr;
    if (!tok || !tok->is_string()) return StoreAuthError("token endpoint sent no access_token");
    token_ = tok->AsString();
    const Json* exp = doc->Find("expires_in");
    token_expires_ =
        now + ((exp && exp->is_integral() ? exp->AsInt64() : 3600) - 60) * 1'000'000'000LL;
    return token_;
  }
  call.url = "http://" + auth_.metadata_host +
             "/computeMetadata/v1/instance/service-accounts/default/token";
  call.headers = {{"Metadata-Flavor", "Google"}};
  call.connect_timeout_ms = 2000;
  auto reply = http_->Send(call);
  if (!reply.ok())
    return reply.status().WithContext("metadata server (no GOOGLE_APPLICATION_CREDENTIALS set)");
  auto doc = Json::Parse(reply->body);
  const Json* tok = doc.ok() ? doc->Find("access_token") : nullptr;
  if (reply->status != 200 || !tok || !tok->is_string()) {
    return StoreAuthError("metadata server gave no access token (HTTP " +
                          std::to_string(reply->status) + ")");
  }
  token_ = tok->AsString();
  const Json* exp = doc->Find("expires_in");
  token_expires_ =
      now + ((exp && exp->is_integral() ? exp->AsInt64() : 300) - 60) * 1'000'000'000LL;
  return token_;
}

StatusOr<HttpReply> GcsStore::Call(HttpCall call, const std::string& what) {
  std::vector<std::pair<std::string, std::string>> base = call.headers;
  return RetryTransient(4, [&]() -> StatusOr<HttpReply> {
    ASSIGN_OR_RETURN(std::string token, Token());
    call.headers = base;
    if (!token.empty()) call.headers.emplace_back("Authorization", "Bearer " + token);
    ASSIGN_OR_RETURN(HttpReply reply, http_->Send(call));
    int s = reply.status;
    if (s >= 200 && s < 300) return reply;
    std::string msg;
    if (auto doc = Json::Parse(reply.body); doc.ok()) {
      if (const Json* e = doc->Find("error");
          e && e->Find("message") && e->Find("message")->is_string()) {
        msg = e->Find("message")->AsString();
      }
    }
    std::string text = what + ": HTTP " + std::to_string(s) + (msg.empty() ? "" : " (" + msg + ")");
    if (s == 404) return NotFoundError(text);
    if (s == 412) return PreconditionFailed(text);
    if (s == 401 || s == 403)
      return StoreAuthError(text + ": check the credentials and their permissions");
    if (s >= 500 || s == 429) return UnavailableError(text);
    return InvalidArgumentError(text);
  });
}

StatusOr<std::string> GcsStore::Get(const std::string& key) {
  HttpCall call;
  call.url = ObjectUrl(key) + "?alt=media";
  ASSIGN_OR_RETURN(HttpReply reply, Call(call, "GET " + Describe() + "/" + key));
  return std::move(reply.body);
}

StatusOr<ObjectInfo> GcsStore::GetToFile(const std::string& key, const std::string& path,
                                         const ProgressFn& progress) {
  HttpCall call;
  call.url = ObjectUrl(key) + "?alt=media";
  call.response_file = path;
  call.progress = progress;
  ASSIGN_OR_RETURN(HttpReply reply, Call(call, "GET " + Describe() + "/" + key));
  std::string gen = reply.Header("x-goog-generation") ? *reply.Header("x-goog-generation") : "";
  return ObjectInfo{key, reply.body_bytes, gen};
}

StatusOr<ObjectInfo> GcsStore::Head(const std::string& key) {
  HttpCall call;
  call.url = ObjectUrl(key);
  ASSIGN_OR_RETURN(HttpReply reply, Call(call, "GET " + Describe() + "/" + key));
  auto doc = Json::Parse(reply.body);
  if (!doc.ok()) return UnavailableError("object metadata of " + key + " is not JSON");
  ObjectInfo info{key, 0, ""};
  if (const Json* s = doc->Find("size"); s && s->is_string())
    info.size = strtoull(s->AsString().c_str(), nullptr, 10);
  if (const Json* g = doc->Find("generation"); g && g->is_string()) info.etag = g->AsString();
  return info;
}

StatusOr<ObjectInfo> GcsStore::Upload(const std::string& key, std::string_view data,
                                      const std::string& file, uint64_t size,
                                      const PutOptions& options) {
  HttpCall call;
  call.method = "POST";
  call.url = endpoint_ + "/upload/storage/v1/b/" + UriEncode(bucket_, false) +
             "/o?uploadType=media&name=" + UriEncode(FullKey(key), false);
  if (options.condition == PutOptions::Condition::kIfAbsent) call.url += "&ifGenerationMatch=0";
  if (options.condition == PutOptions::Condition::kIfMatch)
    call.url += "&ifGenerationMatch=" + options.if_match;
  call.headers = {{"Content-Type", options.content_type}, {"Content-Length", std::to_string(size)}};
  call.body = data;
  call.body_file = file;
  call.body_length = size;
  call.progress = options.progress;
  ASSIGN_OR_RETURN(HttpReply reply, Call(call, "PUT " + Describe() + "/" + key));
  ObjectInfo info{key, size, ""};
  if (auto doc = Json::Parse(reply.body); doc.ok()) {
    if (const Json* g = doc->Find("generation"); g && g->is_string()) info.etag = g->AsString();
  }
  return info;
}

StatusOr<ObjectInfo> GcsStore::Put(const std::string& key, std::string_view data,
                                   const PutOptions& options) {
  return Upload(key, data, "", data.size(), options);
}

StatusOr<ObjectInfo> GcsStore::PutFile(const std::string& key, const std::string& path,
                                       const PutOptions& options) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFoundError("no such file: " + path);
  return Upload(key, "", path, static_cast<uint64_t>(st.st_size), options);
}

StatusOr<std::vector<ObjectInfo>> GcsStore::List(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  std::string page;
  size_t strip = prefix_.empty() ? 0 : prefix_.size() + 1;
  std::string full = prefix_.empty() ? prefix : FullKey(prefix);
  while (true) {
    HttpCall call;
    call.url = endpoint_ + "/storage/v1/b/" + UriEncode(bucket_, false) +
               "/o?prefix=" + UriEncode(full, false) +
               (page.empty() ? "" : "&pageToken=" + UriEncode(page, false));
    ASSIGN_OR_RETURN(HttpReply reply, Call(call, "LIST " + Describe()));
    auto doc = Json::Parse(reply.body);
    if (!doc.ok()) return UnavailableError("object listing of " + Describe() + " is not JSON");
    if (const Json* items = doc->Find("items"); items && items->is_array()) {
      for (const Json& it : items->AsArray()) {
        const Json* name = it.Find("name");
        if (!name || !name->is_string() || name->AsString().size() < strip) continue;
        ObjectInfo info;
        info.key = name->AsString().substr(strip);
        if (const Json* s = it.Find("size"); s && s->is_string())
          info.size = strtoull(s->AsString().c_str(), nullptr, 10);
        if (const Json* g = it.Find("generation"); g && g->is_string()) info.etag = g->AsString();
        out.push_back(std::move(info));
      }
    }
    const Json* next = doc->Find("nextPageToken");
    if (!next || !next->is_string() || next->AsString().empty()) break;
    page = next->AsString();
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Status GcsStore::Delete(const std::string& key) {
  HttpCall call;
  call.method = "DELETE";
  call.url = ObjectUrl(key);
  auto reply = Call(call, "DELETE " + Describe() + "/" + key);
  if (!reply.ok() && reply.status().code() != StatusCode::kNotFound) return reply.status();
  return Status::Ok();
}

}  // namespace modelfn

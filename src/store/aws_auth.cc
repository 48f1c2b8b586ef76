#include "store/aws_auth.h"

#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>

#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"

namespace modelfn {
namespace {

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Hex(const std::string& bin) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : bin) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 15]);
  }
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// INI sections of an AWS shared file: section name -> key -> value.
std::map<std::string, std::map<std::string, std::string>> ReadIni(const std::string& path) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::ifstream f(path);
  std::string line, section;
  while (std::getline(f, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = Trim(line.substr(1, line.size() - 2));
      continue;
    }
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[section][Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
  }
  return out;
}

std::string Home(const EnvFn& env) {
  auto h = env("HOME");
  return h ? *h : "";
}

std::string Profile(const EnvFn& env) {
  auto p = env("AWS_PROFILE");
  return p && !p->empty() ? *p : "default";
}

}  // namespace

EnvFn ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> query) {
  for (auto& [k, v] : query) {
    k = UriEncode(k, false);
    v = UriEncode(v, false);
  }
  std::sort(query.begin(), query.end());
  std::string out;
  for (const auto& [k, v] : query) {
    if (!out.empty()) out += "&";
    out += k + "=" + v;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> SignV4(const SigV4Input& in,
                                                        const AwsCredentials& creds,
                                                        const std::string& region,
                                                        const std::string& service,
                                                        int64_t wall_nanos) {
  time_t secs = static_cast<time_t>(wall_nanos / 1'000'000'000);
  tm t;
  gmtime_r(&secs, &t);
  char amz_date[20], date[10];
  strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &t);
  strftime(date, sizeof date, "%Y%m%d", &t);

  std::vector<std::pair<std::string, std::string>> out = in.headers;
  out.emplace_back("x-amz-date", amz_date);
  out.emplace_back("x-amz-content-sha256", in.payload_sha256);
  if (!creds.session_token.empty()) out.emplace_back("x-amz-security-token", creds.session_token);

  std::map<std::string, std::string> signed_headers;
  signed_headers["host"] = in.host;
  for (const auto& [k, v] : out) signed_headers[Lower(k)] = Trim(v);
  std::string canonical_headers, header_names;
  for (const auto& [k, v] : signed_headers) {
    canonical_headers += k + ":" + v + "\n";
    header_names += (header_names.empty() ? "" : ";") + k;
  }
  std::string canonical_request = in.method + "\n" + in.canonical_path + "\n" +
                                  CanonicalQuery(in.query) + "\n" + canonical_headers + "\n" +
                                  header_names + "\n" + in.payload_sha256;
  std::string scope = std::string(date) + "/" + region + "/" + service + "/aws4_request";
  std::string string_to_sign = "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + scope + "\n" +
                               Sha256Hex(canonical_request);
  std::string key = Hmac("AWS4" + creds.secret_access_key, date);
  key = Hmac(key, region);
  key = Hmac(key, service);
  key = Hmac(key, "aws4_request");
  std::string signature = Hex(Hmac(key, string_to_sign));
  out.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" +
                                        scope + ", SignedHeaders=" + header_names +
                                        ", Signature=" + signature);
  return out;
}

std::string ResolveAwsRegion(const EnvFn& env) {
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (auto v = env(name); v && !v->empty()) return *v;
  }
  auto cfg_path = env("AWS_CONFIG_FILE");
  auto cfg = ReadIni(cfg_path ? *cfg_path : Home(env) + "/.aws/config");
  std::string profile = Profile(env);
  std::string section = profile == "default" ? "default" : "profile " + profile;
  if (auto it = cfg.find(section); it != cfg.end() && it->second.count("region"))
    return it->second["region"];
  return "us-east-1";
}

StatusOr<AwsCredentials> ResolveAwsCredentials(const EnvFn& env, HttpClient& http,
                                               const Clock& clock) {
  AwsCredentials c;
  auto id = env("AWS_ACCESS_KEY_ID");
  auto secret = env("AWS_SECRET_ACCESS_KEY");
  if (id && secret && !id->empty() && !secret->empty()) {
    c.access_key_id = *id;
    c.secret_access_key = *secret;
    if (auto token = env("AWS_SESSION_TOKEN")) c.session_token = *token;
    return c;
  }
  std::string profile = Profile(env);
  auto cred_path = env("AWS_SHARED_CREDENTIALS_FILE");
  auto creds = ReadIni(cred_path ? *cred_path : Home(env) + "/.aws/credentials");
  auto cfg_path = env("AWS_CONFIG_FILE");
  auto cfg = ReadIni(cfg_path ? *cfg_path : Home(env) + "/.aws/config");
  for (auto* section :
       {&creds[profile], &cfg[profile == "default" ? "default" : "profile " + profile]}) {
    if (section->count("aws_access_key_id") && section->count("aws_secret_access_key")) {
      c.access_key_id = (*section)["aws_access_key_id"];
      c.secret_access_key = (*section)["aws_secret_access_key"];
      if (section->count("aws_session_token")) c.session_token = (*section)["aws_session_token"];
      return c;
    }
  }
  std::string url;
  if (auto full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI"); full && !full->empty()) {
    url = *full;
  } else if (auto rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel && !rel->empty()) {
    url = "http://169.254.170.2" + *rel;
  }
  if (!url.empty()) {
    HttpCall call;
    call.url = url;
    call.connect_timeout_ms = 2000;
    std::string token;
    if (auto tf = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); tf && !tf->empty()) {
      auto text = ReadFile(*tf);
      if (text.ok()) token = Trim(*text);
    } else if (auto tv = env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
      token = *tv;
    }
    if (!token.empty()) call.headers.emplace_back("Authorization", token);
    auto reply = http.Send(call);
    if (!reply.ok()) return reply.status().WithContext("container credentials endpoint");
    if (reply->status != 200) {
      return StoreAuthError("container credentials endpoint answered HTTP " +
                            std::to_string(reply->status));
    }
    auto doc = Json::Parse(reply->body);
    const Json* k = doc.ok() ? doc->Find("AccessKeyId") : nullptr;
    const Json* s = doc.ok() ? doc->Find("SecretAccessKey") : nullptr;
    if (!k || !s || !k->is_string() || !s->is_string()) {
      return StoreAuthError("container credentials endpoint sent no AccessKeyId/SecretAccessKey");
    }
    c.access_key_id = k->AsString();
    c.secret_access_key = s->AsString();
    if (const Json* t = doc->Find("Token"); t && t->is_string()) c.session_token = t->AsString();
    (void)clock;
    return c;
  }
  return StoreAuthError(
      "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile in "
      "~/.aws/credentials, or run where a container credentials endpoint is provided");
}

}  // namespace modelfn

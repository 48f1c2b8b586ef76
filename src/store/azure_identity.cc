#include "store/azure_identity.h"

#include <cstdlib>

#include "common/json.h"
#include "store/object_store.h"

namespace modelfn {
namespace {

constexpr const char* kResource = "https://storage.azure.com/";
constexpr const char* kImds = "http://169.254.169.254/metadata/identity/oauth2/token";
constexpr int64_t kRefreshBeforeS = 300;

// expires_on as seconds since the epoch: a string of digits or an integral number; 0 otherwise.
int64_t ExpiresOn(const Json* v) {
  if (v == nullptr) return 0;
  if (v->is_integral()) return v->AsInt64();
  if (v->is_string()) {
    const std::string& s = v->AsString();
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
      return 0;
    return std::strtoll(s.c_str(), nullptr, 10);
  }
  return 0;
}

}  // namespace

ManagedIdentityTokens::ManagedIdentityTokens(const EnvFn& env, std::unique_ptr<HttpClient> http,
                                             const Clock* clock)
    : http_(std::move(http)), clock_(clock) {
  if (auto e = env("IDENTITY_ENDPOINT")) endpoint_ = *e;
  if (auto h = env("IDENTITY_HEADER")) secret_ = *h;
  if (auto c = env("AZURE_CLIENT_ID")) client_id_ = *c;
}

StatusOr<std::string> ManagedIdentityTokens::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now_s = clock_->WallNanos() / 1'000'000'000;
  if (!token_.empty() && now_s < expires_s_ - kRefreshBeforeS) return token_;
  HttpCall call;
  std::string query = "resource=" + UriEncode(kResource, false);
  if (!client_id_.empty()) query += "&client_id=" + UriEncode(client_id_, false);
  if (!endpoint_.empty()) {
    call.url = endpoint_ + (endpoint_.find('?') == std::string::npos ? "?" : "&") + query +
               "&api-version=2019-08-01";
    call.headers = {{"X-IDENTITY-HEADER", secret_}};
  } else {
    call.url = std::string(kImds) + "?api-version=2018-02-01&" + query;
    call.headers = {{"Metadata", "true"}};
  }
  call.connect_timeout_ms = 2000;
  call.stall_timeout_s = 10;
  call.max_response_bytes = 1 << 20;
  auto reply = http_->Send(call);
  std::string where = std::string("the managed identity endpoint (") + kind() + ")";
  if (!reply.ok()) {
    return UnavailableError("cannot reach " + where + ": " + reply.status().message());
  }
  if (reply->status != 200) {
    return StoreAuthError(where + " answered HTTP " + std::to_string(reply->status) + ": " +
                          reply->body.substr(0, 300));
  }
  auto doc = Json::Parse(reply->body);
  const Json* token = doc.ok() ? doc->Find("access_token") : nullptr;
  if (token == nullptr || !token->is_string() || token->AsString().empty()) {
    return StoreAuthError(where + " answered without an access_token");
  }
  int64_t expires = ExpiresOn(doc->Find("expires_on"));
  if (expires <= now_s) {
    return StoreAuthError(where + " answered a token without a future expires_on");
  }
  token_ = token->AsString();
  expires_s_ = expires;
  return token_;
}

}  // namespace modelfn

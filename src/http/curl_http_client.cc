#include <curl/curl.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "http/http_client.h"

namespace modelfn {
namespace {

// libcurl is loaded on first use (dlopen), not linked: a function serving a local model (or the
// Lambda face with the model in its package) never maps libcurl and the ~30 libraries it pulls in
// (TLS, Kerberos, LDAP, ...), which cost ~4 ms of every cold start. The package bundles them.
struct CurlApi {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL*);
  void (*easy_reset)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  struct curl_slist* (*slist_append)(struct curl_slist*, const char*);
  void (*slist_free_all)(struct curl_slist*);
  std::string error;  // why loading failed, empty when loaded
};

const CurlApi& Curl() {
  static CurlApi api = [] {
    CurlApi a{};
    void* h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = dlerror();
      a.error = std::string("cannot load libcurl.so.4: ") + (e ? e : "unknown error");
      return a;
    }
    auto sym = [&](const char* name) {
      void* p = dlsym(h, name);
      if (p == nullptr && a.error.empty()) a.error = std::string("libcurl.so.4 lacks ") + name;
      return p;
    };
    a.global_init = reinterpret_cast<decltype(a.global_init)>(sym("curl_global_init"));
    a.easy_init = reinterpret_cast<decltype(a.easy_init)>(sym("curl_easy_init"));
    a.easy_cleanup = reinterpret_cast<decltype(a.easy_cleanup)>(sym("curl_easy_cleanup"));
    a.easy_reset = reinterpret_cast<decltype(a.easy_reset)>(sym("curl_easy_reset"));
    a.easy_setopt = reinterpret_cast<decltype(a.easy_setopt)>(sym("curl_easy_setopt"));
    a.easy_perform = reinterpret_cast<decltype(a.easy_perform)>(sym("curl_easy_perform"));
    a.easy_getinfo = reinterpret_cast<decltype(a.easy_getinfo)>(sym("curl_easy_getinfo"));
    a.easy_strerror = reinterpret_cast<decltype(a.easy_strerror)>(sym("curl_easy_strerror"));
    a.slist_append = reinterpret_cast<decltype(a.slist_append)>(sym("curl_slist_append"));
    a.slist_free_all = reinterpret_cast<decltype(a.slist_free_all)>(sym("curl_slist_free_all"));
    if (a.error.empty()) a.global_init(CURL_GLOBAL_DEFAULT);
    return a;
  }();
  return api;
}

struct Transfer {
  const HttpCall* call = nullptr;
  HttpReply* reply = nullptr;
  FILE* out = nullptr;
  FILE* in = nullptr;
  uint64_t in_left = 0;
  std::string_view mem_body;
  uint64_t sent = 0;
  uint64_t total_up = 0;
};

size_t OnHeader(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  std::string line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->reply->headers.clear();  // a new status line (e.g. after 100 Continue)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.pop_back();
    t->reply->headers.emplace_back(std::move(name), std::move(value));
  }
  return size * n;
}

size_t OnBody(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  t->reply->body_bytes += len;
  if (t->out != nullptr && t->reply->status == 0) {
    // status is filled after the transfer; use curl's info instead
  }
  if (t->out != nullptr) {
    if (fwrite(p, 1, len, t->out) != len) return 0;
  } else {
    t->reply->body.append(p, len);
  }
  if (t->call->progress) {
    uint64_t total = 0;
    for (const auto& [k, v] : t->reply->headers) {
      if (k == "content-length") total = strtoull(v.c_str(), nullptr, 10);
    }
    t->call->progress(t->reply->body_bytes, total);
  }
  return len;
}

size_t OnRead(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t want = size * n;
  size_t got = 0;
  if (t->in != nullptr) {
    if (want > t->in_left) want = static_cast<size_t>(t->in_left);
    got = fread(p, 1, want, t->in);
    t->in_left -= got;
  } else {
    got = std::min(want, t->mem_body.size());
    memcpy(p, t->mem_body.data(), got);
    t->mem_body.remove_prefix(got);
  }
  t->sent += got;
  if (t->call->progress) t->call->progress(t->sent, t->total_up);
  return got;
}

class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient() {
    if (Curl().error.empty()) handle_ = Curl().easy_init();
  }
  ~CurlHttpClient() override {
    if (handle_ != nullptr) Curl().easy_cleanup(handle_);
  }

  // One easy handle, reset between calls, keeps its connections alive: the Lambda loop's
  // next/response pairs and a store's successive requests reuse one TCP (and TLS) connection.
  StatusOr<HttpReply> Send(const HttpCall& call) override {
    std::lock_guard<std::mutex> lock(mu_);
    HttpFailure ignored;
    HttpFailure& failure = call.failure != nullptr ? *call.failure : ignored;
    failure = HttpFailure::kNone;
    if (handle_ == nullptr) {
      return UnavailableError(Curl().error.empty() ? "curl_easy_init failed" : Curl().error);
    }
    CURL* h = handle_;
    Curl().easy_reset(h);
    HttpReply reply;
    Transfer t;
    t.call = &call;
    t.reply = &reply;
    struct curl_slist* headers = nullptr;
    bool has_body = !call.body.empty() || !call.body_file.empty() || call.method == "PUT" ||
                    call.method == "POST";
    for (const auto& [k, v] : call.headers)
      headers = Curl().slist_append(headers, (k + ": " + v).c_str());
    headers = Curl().slist_append(headers, "Expect:");  // no 100-continue round trip
    if (!call.response_file.empty()) {
      t.out = fopen(call.response_file.c_str(), "wb");
      if (t.out == nullptr) {
        Curl().slist_free_all(headers);
        return UnavailableError("cannot create " + call.response_file);
      }
    }
    if (!call.body_file.empty()) {
      t.in = fopen(call.body_file.c_str(), "rb");
      if (t.in == nullptr || fseeko(t.in, static_cast<off_t>(call.body_offset), SEEK_SET) != 0) {
        if (t.in) fclose(t.in);
        if (t.out) fclose(t.out);
        Curl().slist_free_all(headers);
        return NotFoundError("cannot read " + call.body_file);
      }
      t.in_left = call.body_length;
      t.total_up = call.body_length;
    } else {
      t.mem_body = call.body;
      t.total_up = call.body.size();
    }
    Curl().easy_setopt(h, CURLOPT_URL, call.url.c_str());
    Curl().easy_setopt(h, CURLOPT_CUSTOMREQUEST, call.method.c_str());
    if (call.method == "HEAD") Curl().easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (has_body && call.method != "GET" && call.method != "HEAD" && call.method != "DELETE") {
      Curl().easy_setopt(h, CURLOPT_UPLOAD, 1L);
      Curl().easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
      Curl().easy_setopt(h, CURLOPT_READDATA, &t);
      Curl().easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.total_up));
    }
    Curl().easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    Curl().easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    Curl().easy_setopt(h, CURLOPT_HEADERDATA, &t);
    Curl().easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    Curl().easy_setopt(h, CURLOPT_WRITEDATA, &t);
    Curl().easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(call.connect_timeout_ms));
    if (call.stall_timeout_s > 0) {
      Curl().easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
      Curl().easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(call.stall_timeout_s));
    }
    Curl().easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    Curl().easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    Curl().easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    // A private CA (a store behind a company's TLS proxy, an emulator with its own certificate):
    // CURL_CA_BUNDLE names its certificates, as for the curl tool.
    if (const char* ca = getenv("CURL_CA_BUNDLE"); ca != nullptr && *ca != '\0') {
      Curl().easy_setopt(h, CURLOPT_CAINFO, ca);
    }
    CURLcode rc = Curl().easy_perform(h);
    long status = 0;
    Curl().easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    reply.status = static_cast<int>(status);
    Curl().slist_free_all(headers);
    if (t.in) fclose(t.in);
    if (t.out) {
      if (fflush(t.out) != 0 || fsync(fileno(t.out)) != 0)
        rc = rc == CURLE_OK ? CURLE_WRITE_ERROR : rc;
      fclose(t.out);
    }
    // Never put the URL's query (it may hold a SAS signature) into a message.
    std::string where = call.url.substr(0, call.url.find('?'));
    if (rc != CURLE_OK) {
      // A connect timeout is not told apart from a stall here: it counts as after the connection.
      failure = rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
                        rc == CURLE_COULDNT_CONNECT
                    ? HttpFailure::kConnect
                    : HttpFailure::kExchange;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return Status(StatusCode::kDeadlineExceeded,
                    call.method + " " + where + ": transfer stalled or timed out");
    }
    if (rc != CURLE_OK) {
      return UnavailableError(call.method + " " + where + ": " + Curl().easy_strerror(rc));
    }
    if (reply.status >= 200 && reply.status < 300 && call.method != "HEAD") {
      const std::string* len = reply.Header("content-length");
      if (len != nullptr && strtoull(len->c_str(), nullptr, 10) != reply.body_bytes) {
        failure = HttpFailure::kExchange;
        return DataLossError(call.method + " " + where + " ended after " +
                             std::to_string(reply.body_bytes) + " of " + *len + " bytes");
      }
    }
    if (!call.response_file.empty() && (reply.status < 200 || reply.status >= 300)) {
      // An error body went to the file: bring it back for the caller's message.
      FILE* f = fopen(call.response_file.c_str(), "rb");
      if (f) {
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf, f);
        reply.body.assign(buf, n);
        fclose(f);
      }
    }
    return reply;
  }

 private:
  std::mutex mu_;
  CURL* handle_ = nullptr;
};

}  // namespace

const std::string* HttpReply::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string HttpReply::HeaderOr(std::string_view name) const {
  const std::string* v = Header(name);
  return v ? *v : std::string();
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

StatusOr<HttpReply> RetryTransient(int tries, const std::function<StatusOr<HttpReply>()>& attempt) {
  Status last = UnavailableError("no attempt made");
  for (int i = 0; i < tries; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50 << (2 * (i - 1))));
    auto reply = attempt();
    if (reply.ok()) return reply;
    last = reply.status();
    if (last.code() != StatusCode::kUnavailable && last.code() != StatusCode::kDeadlineExceeded)
      break;
  }
  return last;
}

std::unique_ptr<HttpClient> MakeCurlHttpClient() { return std::make_unique<CurlHttpClient>(); }

}  // namespace modelfn

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "store/http_client.h"

namespace modelfn {
namespace {

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
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    handle_ = curl_easy_init();
  }
  ~CurlHttpClient() override {
    if (handle_ != nullptr) curl_easy_cleanup(handle_);
  }

  // One easy handle, reset between calls, keeps its connections alive: the Lambda loop's
  // next/response pairs and a store's successive requests reuse one TCP (and TLS) connection.
  StatusOr<HttpReply> Send(const HttpCall& call) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (handle_ == nullptr) return InternalError("curl_easy_init failed");
    CURL* h = handle_;
    curl_easy_reset(h);
    HttpReply reply;
    Transfer t;
    t.call = &call;
    t.reply = &reply;
    struct curl_slist* headers = nullptr;
    bool has_body = !call.body.empty() || !call.body_file.empty() || call.method == "PUT" ||
                    call.method == "POST";
    for (const auto& [k, v] : call.headers)
      headers = curl_slist_append(headers, (k + ": " + v).c_str());
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    if (!call.response_file.empty()) {
      t.out = fopen(call.response_file.c_str(), "wb");
      if (t.out == nullptr) {
        curl_slist_free_all(headers);
        return UnavailableError("cannot create " + call.response_file);
      }
    }
    if (!call.body_file.empty()) {
      t.in = fopen(call.body_file.c_str(), "rb");
      if (t.in == nullptr || fseeko(t.in, static_cast<off_t>(call.body_offset), SEEK_SET) != 0) {
        if (t.in) fclose(t.in);
        if (t.out) fclose(t.out);
        curl_slist_free_all(headers);
        return NotFoundError("cannot read " + call.body_file);
      }
      t.in_left = call.body_length;
      t.total_up = call.body_length;
    } else {
      t.mem_body = call.body;
      t.total_up = call.body.size();
    }
    curl_easy_setopt(h, CURLOPT_URL, call.url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call.method.c_str());
    if (call.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (has_body && call.method != "GET" && call.method != "HEAD" && call.method != "DELETE") {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(h, CURLOPT_READDATA, &t);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.total_up));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(call.connect_timeout_ms));
    if (call.stall_timeout_s > 0) {
      curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
      curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(call.stall_timeout_s));
    }
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    reply.status = static_cast<int>(status);
    curl_slist_free_all(headers);
    if (t.in) fclose(t.in);
    if (t.out) {
      if (fflush(t.out) != 0 || fsync(fileno(t.out)) != 0)
        rc = rc == CURLE_OK ? CURLE_WRITE_ERROR : rc;
      fclose(t.out);
    }
    // Never put the URL's query (it may hold a SAS signature) into a message.
    std::string where = call.url.substr(0, call.url.find('?'));
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return Status(StatusCode::kDeadlineExceeded,
                    call.method + " " + where + ": transfer stalled or timed out");
    }
    if (rc != CURLE_OK) {
      return UnavailableError(call.method + " " + where + ": " + curl_easy_strerror(rc));
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

std::unique_ptr<HttpClient> MakeCurlHttpClient() { return std::make_unique<CurlHttpClient>(); }

}  // namespace modelfn

// A scripted HTTP peer for unit tests of the cloud stores: records every call and answers from a
// queue of canned replies. Test-only.
#pragma once

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "http/http_client.h"

namespace modelfn {

// What a call carried, copied (HttpCall's body is a view).
struct RecordedCall {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string body_file;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;

  // The first header named `name` (case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
            return tolower(static_cast<unsigned char>(a)) == tolower(static_cast<unsigned char>(b));
          })) {
        return v;
      }
    }
    return "";
  }
};

// Not thread-safe: one test thread drives the store.
class FakeHttpClient final : public HttpClient {
 public:
  // Queues a reply; replies are used in order, one per call.
  void Reply(int status, std::string body = "",
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpReply r;
    r.status = status;
    r.body = std::move(body);
    r.body_bytes = r.body.size();
    r.headers = std::move(headers);
    replies_.push_back(std::move(r));
  }

  // A call with no reply queued fails with Internal, which the stores do not retry.
  StatusOr<HttpReply> Send(const HttpCall& call) override {
    calls.push_back({call.method, call.url, call.headers, std::string(call.body), call.body_file,
                     call.body_offset, call.body_length});
    if (replies_.empty()) return InternalError("no reply queued for " + call.url);
    HttpReply r = std::move(replies_.front());
    replies_.pop_front();
    return r;
  }

  size_t pending() const { return replies_.size(); }

  std::vector<RecordedCall> calls;

 private:
  std::deque<HttpReply> replies_;
};

}  // namespace modelfn

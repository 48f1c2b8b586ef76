// Parse time of our RequestParser against http-parser (Debian libhttp-parser-dev) on the request
// shapes the servers see: a health probe, the example inference requests, a 1 MB body and a
// chunked body. Both build the same result (method, target, header fields, body) so that the
// comparison is of equal work. Prints ns per request and the ratio (ours / http-parser).
// Usage: http_parse_bench [MODELFN_SOURCE_DIR]
#include <http_parser.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "http/request_parser.h"

namespace {

using modelfn::HttpRequest;
using modelfn::ParserLimits;
using modelfn::Problem;
using modelfn::RequestParser;

struct Theirs {
  std::string method, target, body, field, value;
  std::vector<std::pair<std::string, std::string>> headers;
  bool in_value = false;
  bool done = false;
};

Theirs* T(http_parser* p) { return static_cast<Theirs*>(p->data); }

http_parser_settings Settings() {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_url = [](http_parser* p, const char* at, size_t n) {
    T(p)->target.append(at, n);
    return 0;
  };
  s.on_header_field = [](http_parser* p, const char* at, size_t n) {
    Theirs* t = T(p);
    if (t->in_value) {
      for (char& c : t->field) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      t->headers.emplace_back(std::move(t->field), std::move(t->value));
      t->field.clear();
      t->value.clear();
      t->in_value = false;
    }
    t->field.append(at, n);
    return 0;
  };
  s.on_header_value = [](http_parser* p, const char* at, size_t n) {
    T(p)->in_value = true;
    T(p)->value.append(at, n);
    return 0;
  };
  s.on_headers_complete = [](http_parser* p) {
    Theirs* t = T(p);
    for (char& c : t->field) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    t->headers.emplace_back(std::move(t->field), std::move(t->value));
    t->method = http_method_str(static_cast<http_method>(p->method));
    return 0;
  };
  s.on_body = [](http_parser* p, const char* at, size_t n) {
    T(p)->body.append(at, n);
    return 0;
  };
  s.on_message_complete = [](http_parser* p) {
    T(p)->done = true;
    return 0;
  };
  return s;
}

// Best ns per call of each of `a` and `b`, measured in alternating rounds so that both see the
// same background load (the bench machines are shared).
template <typename A, typename B>
std::pair<double, double> NsPerCall(A a, B b, size_t bytes) {
  size_t iters = std::max<size_t>(200, (64u << 20) / std::max<size_t>(bytes, 1));
  iters = std::min<size_t>(iters, 100000);
  auto time = [&](auto f) {
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < iters; ++i) f();
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(iters);
  };
  double best_a = 1e30, best_b = 1e30;
  for (int round = 0; round < 11; ++round) {
    best_a = std::min(best_a, time(a));
    best_b = std::min(best_b, time(b));
  }
  return {best_a, best_b};
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Post(const std::string& body) {
  return "POST /v1/infer HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: python-requests/2.31\r\n"
         "Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n"
         "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

int main(int argc, char** argv) {
  std::string root = argc > 1 ? argv[1] : MODELFN_SOURCE_DIR;
  std::vector<std::pair<std::string, std::string>> cases;
  cases.emplace_back("GET /v1/health",
                     "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                     "User-Agent: kube-probe/1.29\r\nAccept: */*\r\n\r\n");
  for (const char* f :
       {"examples/digits/requests/infer.json", "examples/breast_cancer/requests/infer_named.json",
        "examples/digits/requests/batch.json"}) {
    std::string body = ReadFile(root + "/" + f);
    if (!body.empty()) cases.emplace_back(std::string("POST ") + f, Post(body));
  }
  cases.emplace_back("POST 1 MB body", Post(std::string(1 << 20, '1')));
  std::string chunked =
      "POST /v1/infer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
      "Content-Type: application/json\r\n\r\n";
  for (int i = 0; i < 16; ++i) chunked += "1000\r\n" + std::string(4096, '2') + "\r\n";
  chunked += "0\r\n\r\n";
  cases.emplace_back("POST chunked 16x4 KiB", chunked);

  ParserLimits limits;
  limits.max_body_bytes = 8 << 20;
  http_parser_settings settings = Settings();
  printf("%-48s %8s %12s %12s %7s\n", "request", "bytes", "ours ns", "http-parser", "ratio");
  for (const auto& c : cases) {
    const std::string& name = c.first;  // not a structured binding: lambdas below capture it
    const std::string& text = c.second;
    size_t sink = 0;
    auto [ours, theirs] = NsPerCall(
        [&] {
          RequestParser p(limits);
          HttpRequest req;
          size_t consumed = 0;
          Problem problem;
          if (p.Parse(text, &req, &consumed, &problem) != RequestParser::Result::kComplete) abort();
          sink += req.body.size() + req.headers.size();
        },
        [&] {
          Theirs t;
          http_parser p;
          http_parser_init(&p, HTTP_REQUEST);
          p.data = &t;
          http_parser_execute(&p, &settings, text.data(), text.size());
          if (!t.done) abort();
          sink += t.body.size() + t.headers.size();
        },
        text.size());
    printf("%-48s %8zu %12.0f %12.0f %7.2f\n", name.c_str(), text.size(), ours, theirs,
           ours / theirs);
    if (sink == 0) return 1;
  }
  return 0;
}

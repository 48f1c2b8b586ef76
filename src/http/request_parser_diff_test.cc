// Differential test: our RequestParser against Node's http-parser (Debian libhttp-parser-dev), a
// maintained parser, over the fuzz corpus and a generated set of tricky requests. Both must agree
// on accept/reject and on every request's method, target, header fields and body. Where they
// legitimately differ, Explain() names the case and why; any other difference fails the test.
#include <dirent.h>
#include <gtest/gtest.h>
#include <http_parser.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "http/request_parser.h"

namespace modelfn {
namespace {

struct Message {
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercased names, trimmed values
  bool operator==(const Message& o) const {
    return method == o.method && target == o.target && body == o.body && headers == o.headers;
  }
};

enum class Verdict { kAccepted, kIncomplete, kRejected };

struct Outcome {
  Verdict verdict = Verdict::kIncomplete;
  int status = 0;                 // ours, when rejected: the problem's HTTP status
  std::vector<Message> messages;  // complete requests, in order
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Generous limits, so that the verdicts compare the grammar, not the sizes.
ParserLimits DiffLimits() {
  ParserLimits l;
  l.max_header_bytes = 80 * 1024;  // http-parser's HTTP_MAX_HEADER_SIZE
  l.max_body_bytes = 64 * 1024 * 1024;
  return l;
}

Outcome Ours(std::string_view in) {
  Outcome out;
  RequestParser p(DiffLimits());
  while (true) {
    HttpRequest req;
    size_t consumed = 0;
    Problem problem;
    auto r = p.Parse(in, &req, &consumed, &problem);
    if (r == RequestParser::Result::kError) {
      out.verdict = Verdict::kRejected;
      out.status = problem.status;
      return out;
    }
    if (r == RequestParser::Result::kNeedMore) {
      bool blank = in.find_first_not_of("\r\n") == std::string_view::npos;
      out.verdict = in.empty() || blank ? Verdict::kAccepted : Verdict::kIncomplete;
      return out;
    }
    Message m{req.method, req.target, req.body, {}};
    for (auto& [k, v] : req.headers) m.headers.emplace_back(k, v);
    out.messages.push_back(std::move(m));
    in.remove_prefix(consumed);
    p.Reset();
  }
}

struct TheirState {
  Outcome* out;
  Message cur;
  std::string field, value;
  bool in_value = false;
  bool in_message = false;
  void FlushHeader() {
    if (!field.empty() || in_value) cur.headers.emplace_back(Lower(field), Trim(value));
    field.clear();
    value.clear();
    in_value = false;
  }
};

TheirState* State(http_parser* p) { return static_cast<TheirState*>(p->data); }

Outcome Theirs(std::string_view in, bool* upgrade) {
  Outcome out;
  TheirState st{&out, {}, {}, {}, false, false};
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_message_begin = [](http_parser* p) {
    State(p)->cur = Message();
    State(p)->in_message = true;
    return 0;
  };
  s.on_url = [](http_parser* p, const char* at, size_t n) {
    State(p)->cur.target.append(at, n);
    return 0;
  };
  s.on_header_field = [](http_parser* p, const char* at, size_t n) {
    if (State(p)->in_value) State(p)->FlushHeader();
    State(p)->field.append(at, n);
    return 0;
  };
  s.on_header_value = [](http_parser* p, const char* at, size_t n) {
    State(p)->in_value = true;
    State(p)->value.append(at, n);
    return 0;
  };
  s.on_headers_complete = [](http_parser* p) {
    State(p)->FlushHeader();
    State(p)->cur.method = http_method_str(static_cast<http_method>(p->method));
    return 0;
  };
  s.on_body = [](http_parser* p, const char* at, size_t n) {
    State(p)->cur.body.append(at, n);
    return 0;
  };
  s.on_message_complete = [](http_parser* p) {
    State(p)->out->messages.push_back(std::move(State(p)->cur));
    State(p)->in_message = false;
    return 0;
  };
  http_parser p;
  http_parser_init(&p, HTTP_REQUEST);
  p.data = &st;
  size_t n = http_parser_execute(&p, &s, in.data(), in.size());
  *upgrade = p.upgrade != 0;
  if (HTTP_PARSER_ERRNO(&p) != HPE_OK || (n != in.size() && !p.upgrade)) {
    out.verdict = Verdict::kRejected;
  } else {
    out.verdict = st.in_message ? Verdict::kIncomplete : Verdict::kAccepted;
  }
  return out;
}

std::string Escape(std::string_view s);

std::string Describe(const Outcome& o) {
  std::string out;
  for (const Message& m : o.messages) {
    out += " [" + Escape(m.method) + " " + Escape(m.target) + " body=" + Escape(m.body);
    for (const auto& [k, v] : m.headers) out += " " + Escape(k) + "=" + Escape(v);
    out += "]";
  }
  return out;
}

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 300)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// True when one head (text up to a blank line) holds `at_least` fields named by the prefix.
bool HasLine(std::string_view in, const std::string& lowercase_prefix, int at_least) {
  std::string lower = Lower(std::string(in));
  size_t start = 0;
  while (start < lower.size()) {
    size_t end = lower.find("\r\n\r\n", start);
    std::string head = lower.substr(start, end == std::string::npos ? end : end - start);
    int n = 0;
    for (size_t p = head.find("\r\n" + lowercase_prefix); p != std::string::npos;
         p = head.find("\r\n" + lowercase_prefix, p + 2)) {
      ++n;
    }
    if (n >= at_least) return true;
    if (end == std::string::npos) break;
    start = end + 4;
  }
  return false;
}

bool IsMethodHttpParserKnows(std::string_view m) {
  for (int i = 0; i < 64; ++i) {
    const char* name = http_method_str(static_cast<http_method>(i));
    if (name == nullptr || std::string_view(name) == "<unknown>") break;
    if (m == name) return true;
  }
  return false;
}

// Request lines of the input (any line followed by a line that starts a field, roughly: every line
// whose third space-separated word starts with "HTTP/" or "http/").
std::vector<std::string> RequestLines(std::string_view in) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t e = in.find('\n', pos);
    std::string line(
        in.substr(pos, e == std::string_view::npos ? std::string_view::npos : e - pos));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t v = Lower(line).rfind(" http/");
    if (v != std::string::npos && line.find(' ') < v) out.push_back(line);
    if (e == std::string_view::npos) break;
    pos = e + 1;
  }
  return out;
}

// The deliberate differences, each with its reason, in the direction it goes. Empty: unexplained.
std::string Explain(std::string_view in, const Outcome& ours, const Outcome& theirs, bool upgrade) {
  std::string lower = Lower(std::string(in));
  size_t common = 0;
  while (common < ours.messages.size() && common < theirs.messages.size() &&
         ours.messages[common] == theirs.messages[common]) {
    ++common;
  }
  bool ours_more = ours.messages.size() > common;
  bool theirs_more = theirs.messages.size() > common;
  if (ours_more && theirs_more && !upgrade) return "";  // the same bytes read as different requests
  if (!ours_more && !theirs_more && ours.verdict == Verdict::kIncomplete &&
      theirs.verdict == Verdict::kRejected) {
    return "a head still incomplete: http-parser refuses at its first bad octet, we judge a head "
           "once complete (the header limit and the read timeout bound the wait)";
  }
  bool we_stricter = theirs_more || (!ours_more && ours.verdict == Verdict::kRejected);
  auto has = [&](std::string_view needle) { return lower.find(needle) != std::string::npos; };
  // A bare LF in a head (a body may hold any octet): segments up to a blank line that hold a
  // request line.
  bool bare_lf = false;
  for (size_t start = 0; start < in.size();) {
    size_t end = in.find("\r\n\r\n", start);
    std::string_view seg = in.substr(start, end == std::string_view::npos ? end : end - start);
    if (Lower(std::string(seg)).find("http/") != std::string::npos) {
      for (size_t i = 0; i < seg.size(); ++i) {
        bare_lf |= seg[i] == '\n' && (i == 0 || seg[i - 1] != '\r');
      }
      bare_lf |= start > 0 && in[start] == '\n';
    }
    if (end == std::string_view::npos) break;
    start = end + 4;
  }
  if (upgrade) return "Upgrade/CONNECT: we do not switch protocols and serve the request as such";
  if (bare_lf)
    return "bare LF as a line end: we wait for CRLF or refuse (RFC 9112 section 2.2 MAY)";
  if (we_stricter) {
    if (ours.status == 413 || ours.status == 431) {
      return "a size limit: we refuse a body or head over the limit as soon as it is announced";
    }
    for (const std::string& l : RequestLines(in)) {
      if (l.find(" * ") != std::string::npos && l.rfind("OPTIONS ", 0) != 0) {
        return "asterisk-form with a method other than OPTIONS: refused (RFC 9112 3.2.4)";
      }
    }
    if (HasLine(in, "host:", 2) || HasLine(in, "authorization:", 2) ||
        HasLine(in, "x-api-key:", 2)) {
      return "repeated Host/Authorization/X-Api-Key: refused by design (400)";
    }
    if (HasLine(in, "content-type:", 2) || HasLine(in, "inference-header-content-length:", 2)) {
      return "repeated Content-Type/Inference-Header-Content-Length: refused by design (400)";
    }
    if (has("transfer-encoding:") && !has("transfer-encoding: chunked\r\n")) {
      return "a transfer coding other than exactly 'chunked': we answer 501";
    }
    if (has("\r\n ") || has("\r\n\t")) return "obsolete line folding: refused (RFC 9112 5.2)";
    if (has(" :") || has("\t:")) {
      return "whitespace between a field name and its colon: refused (RFC 9112 5.1 MUST)";
    }
    for (const std::string& l : RequestLines(in)) {
      std::string v = l.substr(l.rfind(' ') + 1);
      if (v != "HTTP/1.1" && v != "HTTP/1.0") return "an HTTP version other than 1.0 and 1.1: 505";
      if (l.find('\t') != std::string::npos || l.find("  ") != std::string::npos ||
          l.front() == ' ') {
        return "HTAB or extra spaces in the request line: refused (RFC 9112 3: single SP)";
      }
    }
    bool lone_cr = false;
    for (size_t i = 0; i < in.size(); ++i)
      lone_cr |= in[i] == '\r' && (i + 1 == in.size() || in[i + 1] != '\n');
    if (lone_cr || in.find('\0') != std::string_view::npos) {
      return "a lone CR or a NUL in a field: refused (RFC 9112 section 2.2)";
    }
  } else {
    if (HasLine(in, "content-length:", 2)) {
      return "identical repeated Content-Length: accepted (RFC 9110 section 8.6 allows it)";
    }
    for (const std::string& l : RequestLines(in)) {
      if (!IsMethodHttpParserKnows(l.substr(0, l.find(' ')))) {
        return "a method http-parser does not list: we accept any token (the router answers 405)";
      }
      std::string target = l.substr(l.find(' ') + 1, l.rfind(' ') - l.find(' ') - 1);
      for (char c : target) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x7f || std::string_view("\"{}|\\^`<>").find(c) != std::string_view::npos) {
          return "target octets outside http-parser's URL set: we refuse only controls and "
                 "whitespace there (the router matches exact paths)";
        }
      }
    }
    for (char c : in) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\r' && c != '\n' && c != '\t') || u == 0x7f) {
        return "a control octet in a field value: we refuse only CR, LF and NUL on input (and "
               "never write one)";
      }
    }
  }
  return "";
}

std::vector<std::string> Corpus() {
  std::vector<std::string> out;
  std::string root = MODELFN_SOURCE_DIR;
  auto read = [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  // What scripts/fuzz.sh seeds and finds, and any corpus committed beside the fuzz targets.
  for (std::string dir : {root + "/fuzz/corpus/http", root + "/fuzz/corpus/http_parser",
                          root + "/fuzz/http_parser_corpus", root + "/build-fuzz/corpus/http"}) {
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') out.push_back(read(dir + "/" + e->d_name));
      }
      closedir(d);
    }
  }
  for (std::string dir :
       {root + "/examples/digits/requests", root + "/examples/breast_cancer/requests"}) {
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string body = read(dir + "/" + e->d_name);
        out.push_back("POST /v1/infer HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body);
      }
      closedir(d);
    }
  }
  // Generated: each request line and field variant alone and pipelined behind a good request.
  const std::string ok = "GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\n";
  std::vector<std::string> lines = {
      "GET / HTTP/1.1",
      "POST /v1/infer?model=x HTTP/1.1",
      "GET http://h:1/p?q HTTP/1.1",
      "GET / HTTP/1.0",
      "GET / HTTP/2.0",
      "GET / HTTP/1.2",
      "GET  / HTTP/1.1",
      "GET / HTTP/1.1 ",
      "get / HTTP/1.1",
      "FOO / HTTP/1.1",
      "GET /a b HTTP/1.1",
      "GET /\x7f HTTP/1.1",
      "GET /\xc3\xa9 HTTP/1.1",
      "GET /{x}|\"y\" HTTP/1.1",
      "GET * HTTP/1.1",
      "OPTIONS * HTTP/1.1",
      "GET",
      " GET / HTTP/1.1",
      "GET / http/1.1",
      "GET /\t HTTP/1.1",
  };
  std::vector<std::string> fields = {
      "Host: a",
      "Host: a\r\nHost: b",
      "Host: a\r\nX-Api-Key: k\r\nX-Api-Key: k",
      "Host: a\r\nAuthorization: a\r\nauthorization: b",
      "Host: a\r\nContent-Length: 3",
      "Host: a\r\nContent-Length: 3\r\nContent-Length: 3",
      "Host: a\r\nContent-Length: 3\r\nContent-Length: 4",
      "Host: a\r\nContent-Length: +3",
      "Host: a\r\nContent-Length:  3 ",
      "Host: a\r\nContent-Length: 3, 3",
      "Host: a\r\nContent-Length: -1",
      "Host: a\r\nContent-Length: 99999999999999999999999",
      "Host: a\r\nTransfer-Encoding: chunked",
      "Host: a\r\nTransfer-Encoding: Chunked",
      "Host: a\r\nTransfer-Encoding: gzip, chunked",
      "Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3",
      "Host: a\r\nX: \x01",
      "Host: a\r\nX: a\x7f",
      "Host: a\r\nX: caf\xc3\xa9",
      "Host: a\r\nX:",
      "Host: a\r\nX : y",
      "Host: a\r\n: y",
      "Host: a\r\nX\x01: y",
      "Host: a\r\nX: y\r\n folded",
      "Host: a\r\nX: a\rb",
      "Host: a\r\nConnection: close",
      "Host: a\r\nExpect: 100-continue\r\nContent-Length: 3",
      "Host: a\r\nUpgrade: websocket\r\nConnection: upgrade",
  };
  std::vector<std::string> bodies = {
      "",      "abc",      "abcd", "3\r\nabc\r\n0\r\n\r\n", "3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
      "z\r\n", "3\r\nabcX"};
  for (const auto& l : lines) {
    for (const auto& f : fields) {
      for (const auto& b : bodies) {
        std::string r = l + "\r\n" + f + "\r\n\r\n" + b;
        out.push_back(r);
        out.push_back(ok + r);
      }
    }
  }
  out.push_back("\r\n\r\n" + ok);
  out.push_back("\n" + ok);
  out.push_back("GET / HTTP/1.1\nHost: a\n\n");
  out.push_back(ok + ok + ok);
  // Found by libFuzzer (fuzz/http_parser_fuzz) and kept: a target not in origin-form, a chunk size
  // far over the limit.
  out.push_back("POST x HTTP/1.0\r\n\r\no\xf2");
  out.push_back(
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n43333333333333\r\n0iki\r\nTra\r\n"
      "\x12\n");
  return out;
}

TEST(RequestParserDiffTest, AgreesWithHttpParserOrTheDifferenceIsExplained) {
  std::vector<std::string> corpus = Corpus();
  ASSERT_GT(corpus.size(), 1000u);
  size_t agreed = 0, agreed_accepted = 0;
  std::map<std::string, size_t> explained;
  for (const std::string& in : corpus) {
    bool upgrade = false;
    Outcome ours = Ours(in);
    Outcome theirs = Theirs(in, &upgrade);
    bool same = ours.verdict == theirs.verdict && ours.messages == theirs.messages;
    if (same) {
      ++agreed;
      if (ours.verdict == Verdict::kAccepted && !ours.messages.empty()) ++agreed_accepted;
      continue;
    }
    // Both accepted, but the requests differ: never explained.
    std::string why = ours.verdict == theirs.verdict && ours.verdict == Verdict::kAccepted
                          ? ""
                          : Explain(in, ours, theirs, upgrade);
    if (why.empty()) {
      ADD_FAILURE() << "unexplained difference on \"" << Escape(in) << "\": ours "
                    << static_cast<int>(ours.verdict) << " with " << ours.messages.size()
                    << " requests, http-parser " << static_cast<int>(theirs.verdict) << " with "
                    << theirs.messages.size() << Describe(ours) << " vs" << Describe(theirs);
      continue;
    }
    ++explained[why];
  }
  printf("%zu inputs: %zu agree (%zu with requests both parsed alike)\n", corpus.size(), agreed,
         agreed_accepted);
  for (const auto& [why, n] : explained) printf("  %5zu differ: %s\n", n, why.c_str());
  EXPECT_GT(agreed_accepted, 100u);
}

}  // namespace
}  // namespace modelfn

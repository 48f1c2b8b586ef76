#include "http/response_writer.h"

#include <strings.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "common/json.h"

namespace modelfn {
namespace {

// "Date: ..." value, cached per second per thread.
const std::string& HttpDate() {
  thread_local time_t cached_sec = 0;
  thread_local std::string cached;
  time_t now = time(nullptr);
  if (now != cached_sec) {
    cached_sec = now;
    tm t;
    gmtime_r(&now, &t);
    char buf[64];
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &t);
    cached = buf;
  }
  return cached;
}

void LogDroppedHeader(std::string_view name) {
  std::string line;
  JsonWriter w(&line);
  w.BeginObject();
  w.Key("level").String("error");
  w.Key("event").String("response_header_dropped");
  w.Key("header").String(name.substr(0, 64));
  w.Key("why").String("invalid name or a control character in the value");
  w.EndObject();
  line.push_back('\n');
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

// Fields the server writes itself (framing, connection management): a handler's copy of one, such
// as an instance's Transfer-Encoding passed through the gateway, would desynchronise the client.
bool IsFramingHeader(std::string_view name) {
  for (std::string_view f :
       {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
        "trailer", "proxy-connection", "content-type", "date", "server"}) {
    if (name.size() == f.size() && strncasecmp(name.data(), f.data(), f.size()) == 0) return true;
  }
  return false;
}

void AppendHeader(std::string_view name, std::string_view value, std::string* out) {
  if (!IsValidHeaderName(name) || !IsValidHeaderValue(value)) {
    LogDroppedHeader(name);
    return;
  }
  out->append("\r\n");
  out->append(name);
  out->append(": ");
  out->append(value);
}

}  // namespace

// The only writer of response heads.
void AppendResponse(const HttpResponse& r, bool keep_alive, bool head, std::string* out) {
  out->reserve(out->size() + r.body.size() + 256);
  // A final answer is 2xx-5xx; anything else from a handler is a bug, answered as one.
  int status = r.status >= 200 && r.status <= 599 ? r.status : 500;
  out->append("HTTP/1.1 ");
  out->append(std::to_string(status));
  out->push_back(' ');
  out->append(ReasonPhrase(status));
  out->append("\r\nServer: modelfn\r\nDate: ");
  out->append(HttpDate());
  if (!r.body.empty() || r.status >= 200) {
    AppendHeader("Content-Type",
                 IsValidHeaderValue(r.content_type) ? std::string_view(r.content_type)
                                                    : std::string_view("application/octet-stream"),
                 out);
  }
  out->append("\r\nContent-Length: ");
  out->append(std::to_string(r.body.size()));
  for (const auto& [k, v] : r.headers) {
    if (IsFramingHeader(k)) {
      LogDroppedHeader(k);  // the server alone frames the message and manages the connection
      continue;
    }
    AppendHeader(k, v, out);
  }
  out->append(keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
  if (!head) out->append(r.body);  // HEAD: same headers, no content
}

bool IsValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
    if (!ok) return false;
  }
  return true;
}

bool IsValidHeaderValue(std::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

bool IsSafeRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Status";
  }
}

}  // namespace modelfn

// libFuzzer target: the HTTP request parser, with the server's default limits, never crashes,
// whatever bytes arrive in whatever pieces, and gives the same answer fed whole or in small reads
// (byte by byte up to 64 KiB of input, where a rescan per read shows as a timeout; 97-byte reads
// beyond, so a 6 MiB body still runs in reasonable time). Each input is raw bytes off the wire, so
// the corpus doubles as input for a differential test against another parser.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/request_parser.h"

using modelfn::HttpRequest;
using modelfn::ParserLimits;
using modelfn::Problem;
using modelfn::RequestParser;

namespace {

// Parses every request in `buf`, feeding it in steps of `step` bytes. Returns a summary.
std::string Run(std::string_view buf, size_t step) {
  RequestParser parser{ParserLimits()};
  std::string summary;
  std::string pending;
  HttpRequest req;
  size_t fed = 0;
  while (fed < buf.size() || !pending.empty()) {
    size_t n = std::min(step, buf.size() - fed);
    pending.append(buf.substr(fed, n));
    fed += n;
    size_t consumed = 0;
    Problem problem;
    auto r = parser.Parse(pending, &req, &consumed, &problem);
    if (r == RequestParser::Result::kError) return summary + "E" + std::to_string(problem.status);
    if (r == RequestParser::Result::kNeedMore) {
      if (fed >= buf.size()) return summary + "M";
      continue;
    }
    if (consumed == 0 || consumed > pending.size()) abort();
    summary += req.method + " " + req.path + " " + std::to_string(req.body.size()) + ";";
    pending.erase(0, consumed);
    parser.Reset();
    req = HttpRequest();
  }
  return summary;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view buf(reinterpret_cast<const char*>(data), size);
  std::string whole = Run(buf, buf.size() + 1);
  std::string pieces = Run(buf, buf.size() <= (64 << 10) ? 1 : 97);
  if (whole != pieces) {
    fprintf(stderr, "whole:  %s\npieces: %s\n", whole.c_str(), pieces.c_str());
    abort();
  }
  return 0;
}

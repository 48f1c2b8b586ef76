#include "http/media_type.h"

namespace modelfn {

std::string LowerMediaType(std::string_view ct) {
  std::string out;
  for (char c : ct) {
    if (c == ';') break;
    if (c == ' ' || c == '\t') continue;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

bool IsJsonMediaType(std::string_view ct) {
  std::string m = LowerMediaType(ct);
  return m.empty() || m == "application/json" || m == "text/json" ||
         (m.size() > 5 && m.compare(m.size() - 5, 5, "+json") == 0);
}

}  // namespace modelfn

#include "store/cloud_http.h"

namespace modelfn {

void AddConditionalHeaders(const PutOptions& o,
                           std::vector<std::pair<std::string, std::string>>* h) {
  if (o.condition == PutOptions::Condition::kIfAbsent) h->emplace_back("If-None-Match", "*");
  if (o.condition == PutOptions::Condition::kIfMatch) h->emplace_back("If-Match", o.if_match);
}

}  // namespace modelfn

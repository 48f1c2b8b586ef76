#include "events/sqs_arn.h"

#include <vector>

namespace modelfn::events {

bool IsQueueDestination(const std::string& destination) {
  return destination.rfind("arn:aws", 0) == 0 && destination.find(":sqs:") != std::string::npos;
}

StatusOr<std::string> SqsQueueUrlOfArn(
    const std::string& arn,
    const std::function<std::optional<std::string>(const std::string&)>& env) {
  // arn:aws:sqs:REGION:ACCOUNT:NAME (partitions aws, aws-cn, aws-us-gov)
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    size_t colon = arn.find(':', pos);
    parts.push_back(arn.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  auto name_ok = [](const std::string& n) {
    if (n.empty() || n.size() > 80) return false;
    for (char c : n) {
      if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
    }
    return true;
  };
  if (parts.size() != 6 || parts[0] != "arn" || parts[1].rfind("aws", 0) != 0 ||
      parts[2] != "sqs" || parts[3].empty() || parts[4].empty() || !name_ok(parts[5])) {
    return InvalidArgumentError("not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME): " + arn);
  }
  for (const char* var : {"AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL"}) {
    if (auto e = env(var); e && !e->empty()) {
      std::string base = *e;
      while (!base.empty() && base.back() == '/') base.pop_back();
      return base + "/" + parts[4] + "/" + parts[5];
    }
  }
  return "https://sqs." + parts[3] + ".amazonaws.com/" + parts[4] + "/" + parts[5];
}

}  // namespace modelfn::events

#include "faces/trigger_prefixes.h"

namespace modelfn {

Status CheckTriggerPrefixes(const std::string& input, const std::string& output,
                            const std::string& failure) {
  for (const std::string* p : {&input, &output, &failure}) {
    if (p->empty() || p->back() != '/') {
      return InvalidArgumentError("trigger prefixes must end with '/'");
    }
  }
  if (output.rfind(input, 0) == 0 || failure.rfind(input, 0) == 0) {
    return InvalidArgumentError(
        "the output and failure prefixes must not be inside the input prefix (the trigger would "
        "loop)");
  }
  return Status();
}

}  // namespace modelfn

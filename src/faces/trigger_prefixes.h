// The folders of an object trigger, as every deploy target writes them: objects under the input
// prefix are scored, results go under the output prefix and failure records under the failure
// prefix (docs/lambda.md, "S3 trigger"; the same layout on Cloud Storage and Azure Blob).
#pragma once

#include <string>

#include "common/status.h"

namespace modelfn {

// OK when each prefix ends with '/' and neither the output nor the failure prefix lies inside
// the input prefix (a result written there would trigger the function again, without end).
// Otherwise InvalidArgument, in words a command line can print.
Status CheckTriggerPrefixes(const std::string& input, const std::string& output,
                            const std::string& failure);

}  // namespace modelfn

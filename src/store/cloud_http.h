// What the cloud backends (S3, Azure Blob, GCS) share on top of the HTTP client.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "store/object_store.h"

namespace modelfn {

// Adds If-None-Match: * (kIfAbsent) or If-Match: <etag> (kIfMatch) for a conditional write; S3
// and Azure spell them alike. Adds nothing for kNone.
void AddConditionalHeaders(const PutOptions& options,
                           std::vector<std::pair<std::string, std::string>>* headers);

}  // namespace modelfn

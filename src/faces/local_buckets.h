// Buckets that are local folders: what `modelfn up` gives a function whose upload trigger
// watches a folder (docs/events.md), so its face reads and writes the folder where an event
// names the bucket, in every face's own event shape.
#pragma once

#include <map>
#include <string>

#include "faces/object_batch.h"

namespace modelfn {

// MODELFN_LOCAL_BUCKETS: "NAME=/ABS/FOLDER[,NAME=/ABS/FOLDER...]". Entries that are not NAME=
// followed by an absolute path are ignored (the variable is set by the operator's platform, not
// by event senders: an event can only name a bucket, and only these names open folders).
std::map<std::string, std::string> ParseLocalBuckets(const std::string& value);

// An opener that opens the buckets of MODELFN_LOCAL_BUCKETS (read from `env` now) as local
// folders (store/local_store.h), and every other bucket with `cloud`.
BucketOpener WithLocalBuckets(
    const std::function<std::optional<std::string>(const std::string&)>& env, BucketOpener cloud);

}  // namespace modelfn

// Progress of a long transfer, shared by the HTTP client and the object stores built on it.
#pragma once

#include <cstdint>
#include <functional>

namespace modelfn {

// Called with (bytes done, bytes total) during long transfers; total is 0 when unknown. Called on
// the thread doing the transfer.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

}  // namespace modelfn

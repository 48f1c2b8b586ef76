#include "pool/init_slots.h"

#include "common/cpu_quota.h"

namespace modelfn {

InitSlots& InitSlots::Host() {
  static InitSlots* host = new InitSlots(ReadCpuQuota().EffectiveCpus());
  return *host;
}

}  // namespace modelfn

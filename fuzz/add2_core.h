// The handler core over the real ONNX Runtime engine and tests/models/add2, shared by the fuzz
// targets that drive whole requests. Built once per process, never destroyed (libFuzzer exits
// without unwinding); aborts when the model cannot load, since every input would be meaningless.
#pragma once

#include <cstdlib>
#include <string>

#include "common/clock.h"
#include "common/log.h"
#include "engine/ort_engine.h"
#include "function/function_core.h"

namespace modelfn::fuzz {

inline FunctionCore& Add2Core() {
  static FunctionCore* core = [] {
    static FakeClock clock;
    static EventLog log(-1, &clock);
    const char* dir = getenv("MODELFN_SOURCE_DIR");
    std::string path = std::string(dir ? dir : ".") + "/tests/models/add2/model.onnx";
    auto e = OrtEngine::Load(path, OrtEngineOptions());
    if (!e.ok()) abort();
    InferenceLimits limits;
    limits.max_elements = 1 << 16;
    auto* c =
        new FunctionCore(std::move(e).value(), FunctionIdentity{"add2", "1"}, limits, &clock, &log);
    c->SetReady(InitTimings());
    return c;
  }();
  return *core;
}

}  // namespace modelfn::fuzz

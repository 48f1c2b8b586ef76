// modelfn-fn's command line and environment: the settings Main reads before loading the model.
#pragma once

#include <optional>
#include <string>

#include "function/batch_policy.h"
#include "function/ort_threads.h"

namespace modelfn {

extern const char* const kFnUsage;

struct FnArgs {
  std::string model;
  std::string host = "0.0.0.0";
  int port = 8080;
  int workers = 0;
  bool port_given = false;           // --port on the command line
  bool version = false;              // --version: print it and exit (ParseArgs returns -1)
  std::optional<std::string> face;   // --face
  std::string batching;              // --batching, else MODELFN_BATCHING
  BatchingOptions batching_options;  // parsed from `batching`
  std::string threads;               // --threads, else MODELFN_ORT_INTRA_OP_THREADS ("" = auto)
  std::string spin;                  // MODELFN_ORT_SPIN ("" = auto)
  OrtThreadsChoice ort_threads;      // chosen in Main, before the model loads
};

// Parses `s` as an integer in [lo, hi]. False (and *out untouched) otherwise.
bool ParseInt(const char* s, long lo, long hi, long* out);

// The integer in environment variable `name`, `def` when unset; a value out of [lo, hi] is
// ignored with a message on stderr.
long EnvInt(const char* name, long def, long lo, long hi);

// Reads the environment, then the command line (which wins). Returns 0 to continue, or the
// process exit code (-1: --help was printed, exit 0; 2: a usage error, already explained).
int ParseArgs(int argc, char** argv, FnArgs* args);

}  // namespace modelfn

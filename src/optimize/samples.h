// Sample requests for `modelfn optimize`: the inputs its accuracy gate runs through the original
// and the optimised model, and static quantisation's calibration set. Each sample is a /v1/infer
// body, read from the user's files or made up from the model's schema.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "tensor/schema.h"

namespace modelfn {

struct Samples {
  std::vector<std::string> bodies;  // /v1/infer request bodies (JSON objects)
  std::string source;               // the path read, or "synthetic"
  bool synthetic = false;           // made up from the schema: says little about real accuracy
};

// Reads sample bodies from `path`: a .json file holding one body (an object) or an array of
// bodies; a .jsonl or .ndjson file with one body per line (blank lines skipped); or a folder of
// such files, read in name order. At most `max_samples` are kept. Errors: NotFound (no such path,
// or a folder with no sample file), InvalidArgument (reason "invalid_samples") naming the file,
// and the line for JSON lines, whose text is not JSON objects.
StatusOr<Samples> LoadSamples(const std::string& path, size_t max_samples);

// `count` bodies {"inputs": {"NAME": ...}} of random values for `schema`'s inputs, from `seed`
// (the same every run): dynamic dimensions 1; floats normal(0, 1); integers 0..9; BOOL either.
// Unimplemented (reason "samples_needed") when an input is BYTES, or `fed_by_pipeline` (the
// manifest's pipeline feeds inputs from texts or images, which cannot be made up).
StatusOr<Samples> SyntheticSamples(const ModelSchema& schema, bool fed_by_pipeline, size_t count,
                                   uint64_t seed);

}  // namespace modelfn

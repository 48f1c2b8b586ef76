// `modelfn package --target aws-lambda-layer`: the runtime as a Lambda layer shared by every
// model's function, and per-function zips that hold only the model.
//
// Lambda unpacks a function's layers at /opt and its own zip at /var/task. A provided.al2023
// function whose zip has no `bootstrap` runs /opt/bootstrap, so the layer holds what the
// self-contained zip holds minus the model (lambda_zip.h):
//   /opt/bootstrap, /opt/bin/modelfn-fn, /opt/lib/...   (the bootstrap finds bin/ and lib/ beside
//                                                        itself, so /opt works as /var/task does)
// and the function zip holds model/manifest.json and the model's files, read from
// $LAMBDA_TASK_ROOT/model as in the self-contained zip. A function whose model is in a store holds
// only kModelSourceEntry, a note naming the store URI (MODELFN_MODEL in the template is what the
// runtime reads).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "package/lambda_zip.h"

namespace modelfn {

inline constexpr const char* kModelSourceEntry = "MODEL_SOURCE.txt";

// Builds the layer zip at options.out from options.runtime_binary, options.bootstrap_binary and
// options.arch (options.model_dir must be empty: a layer holds no model). Errors as
// BuildLambdaZip; InvalidArgument when a model folder is given.
StatusOr<LambdaZipReport> BuildLambdaLayer(const LambdaZipOptions& options);

// Builds a function zip for a layer-based function at `out`: the model folder `model_dir`
// (verified against its manifest) under model/, or, with `model_dir` empty, only the note naming
// `store_uri`. DataLoss when the folder does not match its manifest; FailedPrecondition
// ("package_too_large") above the zip limits (the archive is removed).
StatusOr<LambdaZipReport> BuildModelZip(const std::string& model_dir, const std::string& store_uri,
                                        const std::string& out);

}  // namespace modelfn

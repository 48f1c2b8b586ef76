// What the modelfn subcommands share beyond args.h: the store a command names, progress on the
// terminal, and output helpers. Called from the main thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/args.h"
#include "common/status.h"
#include "http/progress.h"
#include "manifest/manifest.h"
#include "store/object_store.h"
#include "store/registry.h"
#include "store/store_uri.h"

namespace modelfn {

// Prints the status's message as a failure; returns exit code 1.
int Fail(const Status& s);

// One JSON document on stdout, newline-terminated.
void PrintJson(const std::string& json);

// Progress on stderr: a bar when it is a terminal; with `json` (the command's --json), one JSON
// line per tenth ({"event":"progress","step","done_bytes","total_bytes","percent"}); else null
// (no output).
ProgressFn TerminalProgress(const std::string& label, bool json = false);

struct StoreHandle {
  StoreUri uri;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<ModelRegistry> registry;
};

// The store named by --store, else MODELFN_STORE, else ./models. Fails when the URI does not
// parse or the backend cannot be opened.
StatusOr<StoreHandle> OpenFromArgs(const Args& args);

// The manifest of the model `files[0]` in `dir` (the files as ListModelFiles found them).
// What the author declared in an existing manifest.json there ("batching", inputs' "max_shape"
// and "range") is kept; an unreadable one is ignored.
StatusOr<Manifest> ManifestFor(const std::string& dir, const std::vector<std::string>& files,
                               const std::string& name, const std::string& version);

}  // namespace modelfn

#include "cli/cli_common.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli/args.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/json.h"
#include "engine/ort_engine.h"
#include "http/problem.h"
#include "store/open_store.h"

namespace modelfn {

int Fail(const Status& s) {
  if (!JsonErrors()) return ::modelfn::Fail(s.message());
  fprintf(stderr, "modelfn: %s\n", s.message().c_str());
  Problem p = ProblemFromStatus(s);
  PrintJsonError(p.code, p.title, p.detail, 1);
  return 1;
}

void PrintJson(const std::string& json) { printf("%s\n", json.c_str()); }

// "[#####     ] 48% 12.0/25.0 MB" on a terminal; with --json, a JSON line per tenth on stderr
// (stdout keeps the one result document); on a pipe without --json, nothing.
ProgressFn TerminalProgress(const std::string& label, bool json) {
  if (json) {
    return [label, last = -1](uint64_t done, uint64_t total) mutable {
      if (total == 0) return;
      int tenth = static_cast<int>(done * 10 / total);
      if (tenth == last) return;
      last = tenth;
      std::string line;
      JsonWriter w(&line);
      w.BeginObject().Key("event").String("progress").Key("step").String(label);
      w.Key("done_bytes").Uint(done).Key("total_bytes").Uint(total);
      w.Key("percent").Int(static_cast<int64_t>(done * 100 / total)).EndObject();
      fprintf(stderr, "%s\n", line.c_str());
      fflush(stderr);
    };
  }
  if (!isatty(STDERR_FILENO)) return nullptr;
  return [label, last = -1](uint64_t done, uint64_t total) mutable {
    if (total == 0) return;
    int pct = static_cast<int>(done * 100 / total);
    if (pct == last) return;
    last = pct;
    char bar[21];
    for (int i = 0; i < 20; ++i) bar[i] = i < pct / 5 ? '#' : ' ';
    bar[20] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %.1f/%.1f MB", label.c_str(), bar, pct, done / 1e6,
            total / 1e6);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
  };
}

StatusOr<StoreHandle> OpenFromArgs(const Args& args) {
  std::string uri = args.Get("store");
  if (uri.empty()) {
    const char* env = getenv("MODELFN_STORE");
    uri = env && *env ? env : "./models";
  }
  StoreHandle h;
  ASSIGN_OR_RETURN(h.uri, ParseStoreUri(uri));
  ASSIGN_OR_RETURN(h.store, OpenStore(h.uri, &RealClock::Get()));
  h.registry = std::make_unique<ModelRegistry>(h.store.get(), &RealClock::Get());
  return h;
}

StatusOr<Manifest> ManifestFor(const std::string& dir, const std::vector<std::string>& files,
                               const std::string& name, const std::string& version) {
  auto engine = OrtEngine::Load(dir + "/" + files[0], OrtEngineOptions());
  if (!engine.ok()) return engine.status();
  ASSIGN_OR_RETURN(Manifest m,
                   BuildManifest(dir, name, version, files, (*engine)->schema(), RealClock::Get()));
  if (auto text = ReadFile(dir + "/manifest.json"); text.ok()) {
    if (auto old = ParseManifest(*text); old.ok()) {
      m.merge_batches = old->merge_batches;
      for (const InputLimits& l : old->input_limits) {
        if (m.schema.InputIndex(l.input) >= 0) m.input_limits.push_back(l);
      }
      // The pipeline carries over while the files it names are still listed and it still fits.
      if (old->pipeline) {
        bool listed = true;
        for (const std::string& f : old->pipeline->Files()) {
          bool found = false;
          for (size_t i = 1; i < m.files.size(); ++i) found = found || m.files[i].path == f;
          listed = listed && found;
        }
        Manifest probe = m;
        probe.pipeline = old->pipeline;
        if (listed && CheckPipelineMatches(probe, m.schema).ok()) m.pipeline = old->pipeline;
      }
    }
  }
  return m;
}

}  // namespace modelfn

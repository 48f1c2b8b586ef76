#!/usr/bin/env bash
# Cold start and memory of forked (template) against exec'd instances of modelfn-fn, for the test
# model add2 and the digits example: start to first answer (p10/p50/p90) and PSS per instance with
# four of each alive. Usage: bench/template_bench.sh [RUNS] (default 30); BUILD_DIR overrides build/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
runs="${1:-30}"
ninja -C "$build" -j2 modelfn-fn template_coldstart >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench/template_coldstart" "$build/modelfn-fn" "$root/tests/models/add2" \
  <(printf '{"inputs": {"a": [[1, 2, 3]], "b": [[10, 20, 30]]}}') "$runs" 4
"$build/bench/template_coldstart" "$build/modelfn-fn" "$root/examples/digits" \
  "$root/examples/digits/requests/infer.json" "$runs" 4

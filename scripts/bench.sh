#!/usr/bin/env bash
# Runs the benchmarks (bench/run.py) and rewrites docs/benchmarks.md. Takes a few minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh --bench
scripts/build.sh
exec .venv/bin/python bench/run.py "$@"

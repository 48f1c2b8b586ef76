#!/usr/bin/env bash
# Configures and builds modelfn into build/ (Release with debug info). Quiet on success.
# Usage: scripts/build.sh [extra cmake -D options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${MODELFN_BUILD_DIR:-$root/build}"
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
if [ ! -f "$build/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DMODELFN_WERROR="$werror" "$@" >/dev/null
fi
ninja -C "$build" --quiet

#!/usr/bin/env bash
# Configures and builds modelfn into build/ (Release with debug info). Quiet on success.
# Usage: scripts/build.sh [extra cmake -D options]
#        scripts/build.sh --arch arm64   cross-builds modelfn-fn and modelfn-bootstrap for arm64
#                                        (build-arm64/) and copies them to build/arm64/, where
#                                        `modelfn package --arch arm64` finds them
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${MODELFN_BUILD_DIR:-$root/build}"
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
source "$root/scripts/ccache_env.sh"
if [ "${1:-}" = "--arch" ]; then
  [ "${2:-}" = "arm64" ] || { echo "build.sh: --arch takes arm64" >&2; exit 2; }
  cross="$root/build-arm64"
  if [ ! -f "$cross/build.ninja" ]; then
    cmake -S "$root" -B "$cross" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODELFN_BUILD_TESTS=OFF \
      -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" -DMODELFN_WERROR="$werror" "${launcher[@]}" \
      -DONNXRUNTIME_ROOT="$root/third_party/onnxruntime-linux-aarch64" >/dev/null
  fi
  ninja -C "$cross" --quiet modelfn-fn modelfn-bootstrap
  mkdir -p "$build/arm64"
  cp "$cross/modelfn-fn" "$cross/modelfn-bootstrap" "$build/arm64/"
  exit 0
fi
if [ ! -f "$build/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S "$root" -B "$build" -G Ninja -DMODELFN_WERROR="$werror" "${launcher[@]}" "$@" >/dev/null
fi
ninja -C "$build" --quiet

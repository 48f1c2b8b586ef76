#!/usr/bin/env bash
# Runs every test of modelfn on this machine: installs what is missing (scripts/setup.sh), builds,
# runs the unit tests (GoogleTest under ctest) and the black-box tests (pytest against the real
# binaries and real third-party clients). Exits non-zero if anything fails or if no test ran.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build.sh
build="${MODELFN_BUILD_DIR:-$root/build}"

echo "== format (clang-format)"
files=$(git ls-files 'src/*.cc' 'src/*.h' 'bench/*.cc' 2>/dev/null || find src bench -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror $files
echo "formatted: $(echo "$files" | wc -w) files"

echo "== unit tests (ctest)"
(cd "$build" && ctest --output-on-failure --timeout 120 -j2) | tail -n 4

echo "== black-box tests (pytest)"
set +e
MODELFN_BUILD_DIR="$build" .venv/bin/python -m pytest tests -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit $rc

#!/usr/bin/env bash
# Runs every test of modelfn on this machine: installs what is missing (scripts/setup.sh), builds,
# checks formatting, runs the unit tests (GoogleTest under ctest) and the black-box tests (pytest
# against the real binaries and real third-party clients), then runs both again on a build with
# AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer. Exits non-zero if anything fails
# or if no test ran. Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build.sh
[ "$(uname -m)" = x86_64 ] && scripts/build.sh --arch arm64
build="${MODELFN_BUILD_DIR:-$root/build}"
asan="$root/build-asan"

echo "== format (clang-format)"
files=$(git ls-files 'src/*.cc' 'src/*.h' 'bench/*.cc' 'fuzz/*.cc')
clang-format --dry-run --Werror $files
echo "formatted: $(echo "$files" | wc -w) files"

run_pytest() {
  set +e
  MODELFN_BUILD_DIR="$1" .venv/bin/python -m pytest tests -q -p no:cacheprovider "${@:2}"
  local rc=$?
  set -e
  if [ $rc -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
  fi
  [ $rc -eq 0 ] || exit $rc
}

echo "== unit tests (ctest)"
(cd "$build" && ctest --output-on-failure --timeout 120 -j2) | tail -n 4

echo "== sanitizer build (ASan + UBSan + LSan)"
if [ ! -f "$asan/build.ninja" ]; then
  cmake -S "$root" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMODELFN_WERROR=ON \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" >/dev/null
fi
ninja -C "$asan" --quiet
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd "$asan" && ctest --output-on-failure --timeout 300 -j2) | tail -n 4
echo "== black-box tests against the sanitizer build (pytest)"
run_pytest "$asan" "$@"
unset LSAN_OPTIONS UBSAN_OPTIONS

echo "== black-box tests (pytest)"
run_pytest "$build" "$@"

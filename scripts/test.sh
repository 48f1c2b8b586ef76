#!/usr/bin/env bash
# Runs every test of modelfn on this machine: installs what is missing (scripts/setup.sh), builds,
# checks formatting, runs the unit tests (GoogleTest under ctest) and the black-box tests (pytest
# against the real binaries and real third-party clients), then runs both again on a build with
# AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer. Exits non-zero if anything fails
# or if no test ran. Extra arguments go to pytest.
#
# scripts/test.sh --tsan [pytest args]: only the ThreadSanitizer run instead. Builds build-tsan,
# runs the unit tests and the platform's black-box tests (tests/test_up*.py,
# tests/security/test_faults.py) under it, and fails if any process (the platform, its instances,
# a unit test) reported a race. scripts/tsan.supp holds the suppressions (ONNX Runtime only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/ccache_env.sh

# The ThreadSanitizer run: every report is kept in build-tsan/tsan-reports/ (one file per
# process: the platform, its instances, which inherit TSAN_OPTIONS, and the unit tests).
run_tsan() {
  tsan="$root/build-tsan"
  reports="$tsan/tsan-reports"

  echo "== ThreadSanitizer build"
  if [ ! -f "$tsan/build.ninja" ]; then
    cmake -S "$root" -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODELFN_WERROR=ON \
      "${launcher[@]}" -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" >/dev/null
  fi
  ninja -C "$tsan" --quiet -j "${MODELFN_JOBS:-2}"

  rm -rf "$reports"
  mkdir -p "$reports"
  # halt_on_error=0: a race is reported and the run goes on, so one run shows every race; the
  # reports are counted at the end. log_path: instances' stderr is their log, which tests read.
  # die_after_fork=0: a unit test forks a process whose deadline watch thread runs and checks
  # that the child starts a watch of its own (ThreadSanitizer otherwise kills such a child).
  export TSAN_OPTIONS="suppressions=$root/scripts/tsan.supp:halt_on_error=0:exitcode=66:second_deadlock_stack=1:history_size=4:die_after_fork=0:log_path=$reports/tsan"

  status=0
  echo "== unit tests under ThreadSanitizer (ctest)"
  (cd "$tsan" && rm -rf test-tmp && mkdir test-tmp && ctest --output-on-failure --timeout 600 -j2) | tail -n 15 || status=1

  echo "== platform black-box tests under ThreadSanitizer (pytest)"
  set +e
  MODELFN_BUILD_DIR="$tsan" .venv/bin/python -m pytest tests/test_up*.py tests/security/test_faults.py \
    -q -p no:cacheprovider "$@"
  rc=$?
  set -e
  if [ $rc -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    status=1
  elif [ $rc -ne 0 ]; then
    status=1
  fi

  found=$(grep -l "WARNING: ThreadSanitizer" "$reports"/tsan.* 2>/dev/null || true)
  if [ -n "$found" ]; then
    echo "== ThreadSanitizer reports ($(echo "$found" | wc -l) processes): $reports" >&2
    grep -h "WARNING: ThreadSanitizer\|SUMMARY: ThreadSanitizer" $found | sort | uniq -c >&2
    status=1
  else
    echo "== no ThreadSanitizer report"
  fi
  return $status
}

if [ "${1:-}" = --tsan ]; then
  shift
  run_tsan "$@"
  exit $?
fi
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
(cd "$build" && rm -rf test-tmp && mkdir test-tmp && ctest --output-on-failure --timeout 120 -j2) | tail -n 4

echo "== sanitizer build (ASan + UBSan + LSan)"
# UBSan without its vptr check: the check proves an object's type by probing its memory through
# pipe(2), and a process out of file descriptors (which the gateway must survive, and
# tests/security/test_faults.py causes) cannot make the pipe, so every virtual call there (stages,
# instances, shared_ptr's control blocks) would be reported as a call on an invalid object.
# At -O1, as the AddressSanitizer documentation advises: -O0 code is tens of times slower under
# the sanitizers (`modelfn plan`'s simulations took over two minutes), and -O1 keeps the stack
# traces exact enough. Asserts stay on (Debug: no NDEBUG). GCC's maybe-uninitialized warning is
# off here only: with the sanitizers' instrumentation at -O1 it reports libstdc++'s own std::regex
# and std::function internals; the release build keeps it, as an error.
# A build dir configured before these flags is reconfigured.
if [ -f "$asan/CMakeCache.txt" ] && ! { grep -q -- "-fno-sanitize=vptr" "$asan/CMakeCache.txt" &&
  grep -q "^CMAKE_CXX_FLAGS_DEBUG:STRING=-g -O1$" "$asan/CMakeCache.txt" &&
  grep -q -- "-Wno-maybe-uninitialized" "$asan/CMakeCache.txt"; }; then
  rm -f "$asan/build.ninja"
fi
# The text tokenizer (Rust, not instrumented either way) is linked from the release build rather
# than compiled a second time.
tokenizer_lib="$build/cargo/release/libmodelfn_tokenizer.a"
tokenizer_opt=()
[ -f "$tokenizer_lib" ] && tokenizer_opt=(-DMODELFN_TOKENIZER_LIB="$tokenizer_lib")
if [ ! -f "$asan/build.ninja" ]; then
  cmake -S "$root" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DMODELFN_WERROR=ON "${launcher[@]}" \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize=vptr \
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-maybe-uninitialized" \
    "${tokenizer_opt[@]}" >/dev/null
fi
ninja -C "$asan" --quiet
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd "$asan" && rm -rf test-tmp && mkdir test-tmp && ctest --output-on-failure --timeout 300 -j2) | tail -n 4
echo "== black-box tests against the sanitizer build (pytest)"
run_pytest "$asan" "$@"
unset LSAN_OPTIONS UBSAN_OPTIONS

echo "== black-box tests (pytest)"
run_pytest "$build" "$@"

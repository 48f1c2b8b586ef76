#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cc) with clang, ASan and UBSan, the whole tree
# instrumented for coverage, and runs each one for a while from its committed seeds
# (fuzz/corpus/<target>) with its dictionary (fuzz/dict/<target>.dict).
#
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target ...]   (default: every target)
#
# Each target runs in two passes sharing its time: inputs growing from the seeds as libFuzzer
# likes, then -len_control=0 (inputs of any size up to the limit from the start). Inputs go up to
# the limit of what reaches the parser (6 MiB request body, 64 KiB of headers, ...). An input that
# takes longer than FUZZ_TIMEOUT seconds (default 10) or more than FUZZ_RSS_MB (default 2048) is a
# finding like a crash. Findings are written to build-fuzz/artifacts/<target>/; keep each as a
# regression input: fuzz/corpus/<target>/ once fixed (ctest replays it), fuzz/pending/<target>/
# until then. New coverage goes to build-fuzz/corpus/<target>/, not into the repository.
# FUZZ_KEEP_GOING=1 runs libFuzzer in fork mode and goes on after a finding, so one known bug does
# not hide the others.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs="${1:-60}"
shift || true
timeout_s="${FUZZ_TIMEOUT:-10}"
rss_mb="${FUZZ_RSS_MB:-2048}"

# Where the input stops: what the server accepts before refusing.
body=$((6 * 1024 * 1024))
declare -A max_len=(
  [json_fuzz]=$body
  [http_parser_fuzz]=$((body + 64 * 1024))
  [function_core_fuzz]=$((body + 2))
  [tensor_binary_fuzz]=$((body + 10))
  [lambda_event_fuzz]=$body
  [object_input_fuzz]=$((body + 1))
  [base64_fuzz]=$body
  [manifest_fuzz]=$((1024 * 1024))
  [yaml_config_fuzz]=$((1024 * 1024))
  [jwt_fuzz]=$((64 * 1024 + 1))
  [lambda_response_fuzz]=$body
  [cloudevent_fuzz]=$((body + 64 * 1024 + 1))
)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*_fuzz.cc; do targets+=("$(basename "$f" .cc)"); done
fi
for t in "${targets[@]}"; do
  [ -n "${max_len[$t]:-}" ] || { echo "fuzz: no max_len for target $t (add it above)" >&2; exit 2; }
done

[ -d third_party/onnxruntime ] || scripts/setup.sh
if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: installing clang-14 and libFuzzer" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
fi
build="$root/build-fuzz"
if [ ! -f "$build/build.ninja" ]; then
  # fuzzer-no-link on every file: libFuzzer is guided by the coverage of the libraries it calls.
  CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMODELFN_FUZZ=ON -DMODELFN_BUILD_TESTS=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
    >/dev/null
fi
ninja -C "$build" -j"${FUZZ_BUILD_JOBS:-2}" --quiet "${targets[@]}"

export MODELFN_SOURCE_DIR="$root"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp"
failed=()
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$work" "$artifacts"
  first=$((secs / 2))
  for pass in "grow:$first" "max:$((secs - first))"; do
    name=${pass%%:*}; time_s=${pass##*:}
    [ "$time_s" -gt 0 ] || continue
    extra=()
    [ "$name" = max ] && extra=(-len_control=0)
    [ "${FUZZ_KEEP_GOING:-0}" = 1 ] && extra+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    echo "== $t ($name, ${time_s}s, max_len ${max_len[$t]})"
    log="$build/$t.$name.log"
    rc=0
    before=$(ls "$artifacts" | wc -l)
    "$build/fuzz/$t" -max_total_time="$time_s" -timeout="$timeout_s" -rss_limit_mb="$rss_mb" \
      -max_len="${max_len[$t]}" -dict="$root/fuzz/dict/$t.dict" -artifact_prefix="$artifacts/" \
      -print_final_stats=1 "${extra[@]}" "$work" "$root/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | tail -n 2 || true
    grep -E '^#[0-9]+: cov' "$log" | tail -n 1 || true  # fork mode's progress
    grep -E 'stat::number_of_executed_units|stat::peak_rss' "$log" || true
    # Findings, each kind once with its count (fork mode can hit one bug many times).
    grep -E '^SUMMARY|^==[0-9]+== ?ERROR' "$log" | sed -E 's/^==[0-9]+== ?//' | sort | uniq -c || true
    if [ $rc -ne 0 ] || [ "$(ls "$artifacts" | wc -l)" -ne "$before" ]; then
      echo "$t: $(($(ls "$artifacts" | wc -l) - before)) finding(s) (exit $rc); see $log and $artifacts" >&2
      failed+=("$t")
      [ "${FUZZ_KEEP_GOING:-0}" = 1 ] || break
    fi
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi

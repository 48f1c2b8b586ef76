#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a while, seeded with
# the example and test requests. Usage: scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs="${1:-60}"
scripts/setup.sh
if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: installing clang-14 and libFuzzer" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
fi
build="$root/build-fuzz"
if [ ! -f "$build/build.ninja" ]; then
  CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMODELFN_FUZZ=ON -DMODELFN_BUILD_TESTS=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" >/dev/null
fi
ninja -C "$build" --quiet json_fuzz http_parser_fuzz function_core_fuzz
corpus="$build/corpus"
mkdir -p "$corpus"/{json,http,core}
for f in examples/*/requests/*.json examples/*/manifest.json tests/models/*/manifest.json; do
  cp "$f" "$corpus/json/$(echo "$f" | tr / _)"
  printf '\x00\x00' | cat - "$f" >"$corpus/core/$(echo "$f" | tr / _)"
  { printf 'POST /v1/infer HTTP/1.1\r\nContent-Length: %d\r\n\r\n' "$(wc -c <"$f")"; cat "$f"; } \
    >"$corpus/http/$(echo "$f" | tr / _)"
done
printf 'POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n0\r\n\r\n' >"$corpus/http/chunked"
export MODELFN_SOURCE_DIR="$root"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp"
for t in json:json_fuzz http:http_parser_fuzz core:function_core_fuzz; do
  dir=${t%%:*}; bin=${t##*:}
  echo "== $bin for ${secs}s"
  log="$build/$bin.log"
  rc=0
  (cd "$build" && "./fuzz/$bin" -max_total_time="$secs" -max_len=8192 -print_final_stats=1 "$corpus/$dir") >"$log" 2>&1 || rc=$?
  grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Test unit written' "$log" || true
  if [ $rc -ne 0 ]; then
    echo "$bin failed (exit $rc); see $log" >&2
    failed=1
  fi
done
exit "${failed:-0}"

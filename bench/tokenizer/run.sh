#!/usr/bin/env bash
# The tokenizer choice, measured: (a) the `tokenizers` Rust crate behind a small C ABI (src/lib.rs)
# against the Python `tokenizers` package (the parity reference), and (b) ONNX Runtime Extensions
# as PyPI ships it. Prints one JSON object: build time of (a) from an empty cargo home (a fresh
# machine: downloads included), its size in a binary, tokenizer.json load time (the cold-start
# cost), encode time per text, parity of ids on >= 10,000 strings, and what (b) can do here.
# Python packages go to a scratch folder, not the project's venv. Usage: bench/tokenizer/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
work=$(mktemp -d /tmp/modelfn-tokenizer-XXXXXX)
trap 'rm -rf "$work"' EXIT
export PATH="$HOME/.cargo/bin:$PATH"

"$py" -m pip install -q --no-deps --target "$work/py" tokenizers==0.23.3 \
  onnxruntime-extensions==0.15.2 >&2

mkdir -p "$work/crate"
cp -r "$here/Cargo.toml" "$here/Cargo.lock" "$here/src" "$work/crate/"
t0=$(date +%s.%N)
CARGO_HOME="$work/cargo" cargo build -q --release --locked -j2 \
  --manifest-path "$work/crate/Cargo.toml" >&2
t1=$(date +%s.%N)
lib="$work/crate/target/release/libmodelfn_tokenizer.a"
g++ -O2 -std=c++20 "$here/harness.cc" "$lib" -lpthread -ldl -o "$work/harness"
echo 'int main() { return 0; }' | g++ -O2 -x c++ - -o "$work/empty"
strip "$work/harness" "$work/empty"
gzip -9 -c "$work/harness" > "$work/harness.gz"
gzip -9 -c "$work/empty" > "$work/empty.gz"

PYTHONPATH="$work/py" "$py" "$here/make_data.py" "$work" > "$work/python.json"

rust_runs() {  # vocab -> {"load_ms": median, "encode_us_per_text": median, "identical": n}
  local vocab=$1 i
  for i in 1 2 3; do
    "$work/harness" "$work/tokenizer_$vocab.json" "$work/strings.bin" "$work/ids_rs_$vocab.txt"
  done > "$work/rust_$vocab.jsonl"
  "$py" - "$work" "$vocab" <<'PY'
import json, statistics, sys
work, vocab = sys.argv[1], sys.argv[2]
runs = [json.loads(l) for l in open(f"{work}/rust_{vocab}.jsonl")]
py_ids = open(f"{work}/ids_py_{vocab}.txt").read().splitlines()
rs_ids = open(f"{work}/ids_rs_{vocab}.txt").read().splitlines()
print(json.dumps({"load_ms": statistics.median(r["load_ms"] for r in runs),
                  "encode_us_per_text": statistics.median(r["encode_us_per_text"] for r in runs),
                  "identical": sum(a == b for a, b in zip(py_ids, rs_ids)), "of": len(py_ids)}))
PY
}
ortx_so=$(ls "$work"/py/onnxruntime_extensions/_extensions_pydll*.so)
gcc "$here/dlopen_probe.c" -o "$work/dlopen_probe" -ldl
ortx_outside=$("$work/dlopen_probe" "$ortx_so" || true)
ortx_api=$(PYTHONPATH="$work/py" "$py" "$here/ortx_probe.py" "$work" "$ortx_so")

"$py" - <<PY
import json
print(json.dumps({
  "rust_crate": {
    "build_s_fresh_cargo_home": round($t1 - $t0, 1),
    "staticlib_bytes": $(stat -c %s "$lib"),
    "binary_bytes_added_stripped": $(stat -c %s "$work/harness") - $(stat -c %s "$work/empty"),
    "binary_bytes_added_gzip9": $(stat -c %s "$work/harness.gz") - $(stat -c %s "$work/empty.gz"),
    "vocab_8000": json.loads('''$(rust_runs 8000)'''),
    "vocab_30522": json.loads('''$(rust_runs 30522)'''),
  },
  "python_tokenizers": json.loads('''$(cat "$work/python.json")'''),
  "ort_extensions": {
    "library": "$(basename "$ortx_so")",
    "library_bytes": $(stat -c %s "$ortx_so"),
    "dlopen_without_libpython": """$ortx_outside""",
    "tokenizer_api_with_bert_tokenizer_json": json.loads('''$ortx_api'''),
  },
}, indent=1))
PY

#!/usr/bin/env bash
# Installs everything modelfn needs on a fresh Debian 12 machine (x86_64 or arm64), idempotently.
# Quiet when everything is already in place. Usage: scripts/setup.sh [--bench]
#   - Debian packages: compiler, CMake, Ninja, GoogleTest, OpenSSL, SQLite, expat, simdjson, the
#     image libraries (libjpeg-turbo, libpng, libwebp),
#     yaml-cpp, nlohmann-json (the parser benchmark's peer), wrk, clang-format, Chromium (the
#     dashboard test), ccache (builds of another clone on this machine reuse its objects).
#   - ONNX Runtime 1.29.0 (Microsoft's release build, as the npm registry carries it), unpacked into
#     third_party/onnxruntime in the layout of Microsoft's release tarball (include/, lib/), with
#     every file checked against pinned sha256 sums.
#   - On x86_64, the arm64 cross build: g++-aarch64-linux-gnu, arm64 libraries (multiarch),
#     qemu-user-static, and ONNX Runtime's arm64 library (npm onnxruntime-node@1.30.0).
#   - The text tokenizer's Rust crates (cargo fetch; Rust itself comes from rustup).
#   - A Python virtualenv (.venv) with the pinned test peers (scripts/requirements-test.txt) and,
#     with --bench, the benchmark peers (scripts/requirements-bench.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
want_bench=0
for a in "$@"; do
  case "$a" in
    --bench) want_bench=1 ;;
    *) echo "usage: scripts/setup.sh [--bench]" >&2; exit 2 ;;
  esac
done
log() { printf 'setup: %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
debs=(build-essential cmake ninja-build libgtest-dev libgmock-dev libssl-dev libcurl4-openssl-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libsqlite3-dev libexpat1-dev libhttp-parser-dev zlib1g-dev libprotobuf-dev libsimdjson-dev libyaml-cpp-dev nlohmann-json3-dev libcsv-dev curl openssl wrk clang-format python3-venv faketime umoci skopeo chromium ccache)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- ONNX Runtime ----------------------------------------------------------------------------
ort_version=1.29.0
ort_dir="$root/third_party/onnxruntime"
ort_stamp="$ort_dir/.modelfn-ort-$ort_version"
arch=$(uname -m)
if [ ! -f "$ort_stamp" ]; then
  case "$arch" in
    x86_64) ;;
    *) log "ONNX Runtime headers are only packaged for linux-x64 here; pass -DONNXRUNTIME_ROOT=<dir> of Microsoft's release tarball for $arch"; exit 1 ;;
  esac
  command -v npm >/dev/null || { log "npm is needed to fetch ONNX Runtime"; exit 1; }
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  log "fetching ONNX Runtime $ort_version (npm com.github.asus4.onnxruntime@0.4.9)"
  (cd "$tmp" && npm pack --silent com.github.asus4.onnxruntime@0.4.9 >/dev/null)
  tgz="$tmp/com.github.asus4.onnxruntime-0.4.9.tgz"
  echo "e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d  $tgz" | sha256sum -c --quiet -
  hdr='package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers'
  tar -xzf "$tgz" -C "$tmp" package/Plugins/Linux/x64/libonnxruntime.so "$hdr"
  (cd "$tmp" && sha256sum -c --quiet) <<SUMS
5715f06d8992ca8eeeddcce43df3a7d38f97d537052126f558e912cb312460ca  package/Plugins/Linux/x64/libonnxruntime.so
acc0cf4b3f28d39339c76770d76164bb7a0637dc89f5fde764b4017b632f6743  $hdr/onnxruntime_c_api.h
9c63ed5bf0427ddf1c10a99aca0beeec77318ce77d2ea6f7ae76d7d933660f67  $hdr/onnxruntime_cxx_api.h
c508dbb7d8203003a2584b8712118cb88e5b4ef1e1c7876a9974156fb7489301  $hdr/onnxruntime_cxx_inline.h
88b242845d25981633a0bbd1c148e273cf8bfb016ea3f57c4af41a06530f72b0  $hdr/onnxruntime_float16.h
5ce3b054e798eced8d14f5b86e98692fd33470463f96194ce0700a2d53dd8721  $hdr/onnxruntime_error_code.h
e6c986c9e98583f8113b2c6bc3864814883b806d501cf24da4d239c45753e235  $hdr/onnxruntime_ep_c_api.h
febf1052ee15e56ce136c41d028938d04b3e217bd4820dcafcb9bcd0f4f2c5ea  $hdr/onnxruntime_session_options_config_keys.h
973037c14b0f1af0854ae25cd676776f79dbcfd2a6791f6ee17a5374c2a62550  $hdr/onnxruntime_run_options_config_keys.h
SUMS
  rm -rf "$ort_dir"; mkdir -p "$ort_dir/include" "$ort_dir/lib"
  cp "$tmp/$hdr"/*.h "$ort_dir/include/"
  cp "$tmp/package/Plugins/Linux/x64/libonnxruntime.so" "$ort_dir/lib/libonnxruntime.so.$ort_version"
  ln -s "libonnxruntime.so.$ort_version" "$ort_dir/lib/libonnxruntime.so.1"
  ln -s "libonnxruntime.so.1" "$ort_dir/lib/libonnxruntime.so"
  echo "$ort_version" >"$ort_stamp"
fi

# --- arm64 (Lambda Graviton) cross build: toolchain, arm64 libraries, ONNX Runtime for arm64 ------
# On x86_64 only: g++-aarch64-linux-gnu, Debian multiarch arm64 libraries for what modelfn-fn links
# and bundles, qemu-user-static (the tests run the arm64 package emulated), and Microsoft's arm64
# libonnxruntime.so.1 from onnxruntime-node@1.30.0 (C API 1.30; compiled against the 1.29 headers
# above, whose API version it serves).
if [ "$arch" = x86_64 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "adding the arm64 architecture (Debian multiarch)"
    $sudo_cmd dpkg --add-architecture arm64
    $sudo_cmd apt-get update -qq >/dev/null
  fi
  # libsimdjson14:arm64, not libsimdjson-dev:arm64: Debian's -dev packages of simdjson and
  # yaml-cpp are not co-installable across architectures (installing the arm64 one removes the
  # x86_64 one); cmake/parsers.cmake links the versioned library and the shared headers instead.
  # The image libraries' -dev packages are (Multi-Arch: same; apt brings both architectures to
  # the same version).
  cross=(g++-aarch64-linux-gnu qemu-user-static libssl-dev:arm64 libcurl4-openssl-dev:arm64
         zlib1g-dev:arm64 libsqlite3-dev:arm64 libexpat1-dev:arm64 libprotobuf-dev:arm64
         libsimdjson14:arm64 libjpeg62-turbo-dev:arm64 libpng-dev:arm64 libwebp-dev:arm64
         libcsv-dev:arm64)
  missing=()
  for p in "${cross[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing the arm64 cross build: ${missing[*]}"
    $sudo_cmd apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  ort_arm="$root/third_party/onnxruntime-linux-aarch64"
  if [ ! -f "$ort_arm/.modelfn-ort-1.30.0" ]; then
    log "fetching ONNX Runtime 1.30.0 for arm64 (npm onnxruntime-node@1.30.0)"
    tmp2=$(mktemp -d)
    (cd "$tmp2" && npm pack --silent onnxruntime-node@1.30.0 >/dev/null)
    echo "6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75  $tmp2/onnxruntime-node-1.30.0.tgz" |
      sha256sum -c --quiet -
    so=package/bin/napi-v6/linux/arm64/libonnxruntime.so.1
    tar -xzf "$tmp2/onnxruntime-node-1.30.0.tgz" -C "$tmp2" "$so"
    echo "1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76  $tmp2/$so" | sha256sum -c --quiet -
    rm -rf "$ort_arm"; mkdir -p "$ort_arm/include" "$ort_arm/lib"
    cp "$ort_dir/include/"*.h "$ort_arm/include/"
    cp "$tmp2/$so" "$ort_arm/lib/libonnxruntime.so.1"
    ln -s libonnxruntime.so.1 "$ort_arm/lib/libonnxruntime.so"
    rm -rf "$tmp2"
    echo 1.30.0 >"$ort_arm/.modelfn-ort-1.30.0"
  fi
fi

# --- Storage servers for the store tests: Azurite (npm) and fake-gcs-server (Go) ---------------
tools="$root/third_party/tools"
if [ ! -x "$tools/node_modules/.bin/azurite-blob" ]; then
  log "installing azurite@3.35.0 (npm)"
  mkdir -p "$tools"
  (cd "$tools" && npm install --silent --no-audit --no-fund azurite@3.35.0 >/dev/null)
fi
if [ ! -x "$tools/bin/fake-gcs-server" ]; then
  command -v go >/dev/null || { log "go is needed to build fake-gcs-server"; exit 1; }
  log "installing fake-gcs-server v1.56.1 (Go module proxy)"
  mkdir -p "$tools/bin"
  GOBIN="$tools/bin" GOFLAGS=-mod=mod go install github.com/fsouza/fake-gcs-server@v1.56.1 >/dev/null 2>&1 ||
    { log "go install github.com/fsouza/fake-gcs-server@v1.56.1 failed"; exit 1; }
fi

if [ ! -x "$tools/bin/aws-lambda-rie" ]; then
  log "installing aws-lambda-rie (Go module proxy)"
  mkdir -p "$tools/bin"
  GOBIN="$tools/bin" CGO_ENABLED=0 GOFLAGS=-mod=mod go install \
    github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d >/dev/null 2>&1 ||
    { log "go install of aws-lambda-rie failed"; exit 1; }
fi

# Jaeger (v2, an OpenTelemetry Collector build) for the tracing tests: its OTLP receiver and
# query API. Built in a module of its own with `go get -tool` (its go.mod has replace directives,
# which `go install pkg@version` refuses); v1.75.0 is the release the Go module proxy here serves.
if [ ! -x "$tools/bin/jaeger" ]; then
  command -v go >/dev/null || { log "go is needed to build jaeger"; exit 1; }
  log "building jaeger v1.75.0 (Go module proxy; a few minutes the first time)"
  jtmp=$(mktemp -d)
  (cd "$jtmp" && printf 'module jaegerbuild\n\ngo 1.24\n' >go.mod &&
    GOFLAGS=-mod=mod go get -tool github.com/jaegertracing/jaeger/cmd/jaeger@v1.75.0 >/dev/null 2>&1 &&
    go build -o "$tools/bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger >/dev/null 2>&1) ||
    { rm -rf "$jtmp"; log "building jaeger v1.75.0 failed"; exit 1; }
  rm -rf "$jtmp"
fi

# The AWS SAM CLI for `sam validate --lint` in tests/test_aws_stack.py, in a virtualenv of its own
# (it pins its own cfn-lint, which must not replace the test virtualenv's).
if [ ! -x "$tools/sam/bin/sam" ]; then
  log "installing aws-sam-cli==1.170.0 (PyPI) into $tools/sam"
  python3 -m venv "$tools/sam"
  "$tools/sam/bin/pip" install -q --disable-pip-version-check aws-sam-cli==1.170.0 ||
    { log "pip install aws-sam-cli failed"; exit 1; }
fi

# --- Rust (the text tokenizer, src/pipeline/tokenizer) -----------------------------------------
# cargo builds the tokenizers crate into the function runtime; without it the build still works
# but has no text tokenizer (text inputs are refused at load, tests/test_tokenizer_parity.py
# fails). Rust comes from rustup (Debian 12's cargo is too old for the crate). The crates are
# fetched here, pinned by Cargo.lock, so that the build itself needs no network.
cargo_bin=$(command -v cargo || ls "$HOME/.cargo/bin/cargo" 2>/dev/null || true)
if [ -z "$cargo_bin" ]; then
  log "cargo not found: install Rust >= 1.85 with rustup (https://rustup.rs) for text inputs"
else
  "$cargo_bin" fetch -q --locked --manifest-path "$root/src/pipeline/tokenizer/Cargo.toml" ||
    { log "cargo fetch of the tokenizer's crates failed"; exit 1; }
fi

# --- Python peers for tests (and benchmarks) --------------------------------------------------
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  python3 -m venv "$venv"
fi
pip_sync() {
  local req="$1" stamp="$venv/.$(basename "$1").sha256"
  local sum; sum=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    log "installing Python packages from $(basename "$req")"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    echo "$sum" >"$stamp"
  fi
}
pip_sync "$root/scripts/requirements-test.txt"
[ "$want_bench" = 1 ] && pip_sync "$root/scripts/requirements-bench.txt"
exit 0

#!/usr/bin/env bash
# The main job on the bundled example: builds modelfn, starts modelfn-fn on the digits model,
# sends the sample requests and prints the answers and the cold-start timings, then stops it.
# Then the same model behind `modelfn up`: pushed to a store folder, served from zero instances
# through the gateway, with a burst that scales it out and the platform's status. Last, text in and
# labels out: the sentiment example (examples/sentiment) answering sentences, and images in: the
# clothing classifier (examples/fashion) answering a PNG and a JPEG.
# Usage: scripts/run_example.sh [MODEL_DIR]   (default: examples/digits)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build.sh
model="${1:-examples/digits}"
log=$(mktemp)
work=$(mktemp -d)
fn_pid=""
up_pid=""
text_pid=""
image_pid=""
cleanup() {
  [ -n "$image_pid" ] && kill "$image_pid" 2>/dev/null
  [ -n "$fn_pid" ] && kill "$fn_pid" 2>/dev/null
  [ -n "$text_pid" ] && kill "$text_pid" 2>/dev/null
  [ -n "$up_pid" ] && kill "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null
  rm -rf "$log" "$work"
}
trap cleanup EXIT

# Waits for modelfn-fn's init line in the log file $1 and prints the URL it listens on; shows the
# log and fails when the function did not start.
fn_url() {
  for _ in $(seq 200); do
    grep -q '"event":"init' "$1" && break
    sleep 0.05
  done
  if ! grep -q '"event":"init"' "$1"; then
    cat "$1" >&2
    return 1
  fi
  echo "http://127.0.0.1:$(sed -n 's/.*"event":"init".*"port":\([0-9]*\).*/\1/p' "$1" | head -1)"
}

build/modelfn-fn --model "$model" --port 0 --host 127.0.0.1 >"$log" 2>&1 &
fn_pid=$!
url=$(fn_url "$log")
echo "modelfn-fn serves $model on $url"
echo
echo "== init (cold start) =="
grep '"event":"init"' "$log"
req="$model/requests"
show() {
  echo
  echo "== $1 =="
  shift
  printf "$ curl"; printf " %q" "$@" | sed "s|$root/||g"; echo
  curl -sS "$@"
  echo
}
show "POST /v1/infer (seed body, one-input model)" -X POST "$url/v1/infer" -H 'Content-Type: application/json' -d "@$req/infer.json"
show "POST /v1/infer (named inputs)" -X POST "$url/v1/infer" -H 'Content-Type: application/json' -d "@$req/infer_named.json"
show "POST /v1/batch (the last item is invalid on purpose)" -X POST "$url/v1/batch" -H 'Content-Type: application/json' -d "@$req/batch.json"
show "POST /v2/models/{model}/infer (Open Inference Protocol)" -X POST "$url/v2/models/$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' "$model/manifest.json" | head -1)/infer" -H 'Content-Type: application/json' -d "@$req/v2_infer.json"
show "POST /v1/infer with a wrong shape (typed error)" -X POST "$url/v1/infer" -H 'Content-Type: application/json' -d '{"inputs": [[1, 2, 3]]}'
show "GET /v1/health" "$url/v1/health"
echo
echo "== expected labels (ONNX Runtime in Python, at export time) =="
grep -A12 '"label"' "$model/expected.json" | tr -d ' \n' | sed 's/\],.*/]/'
echo
echo
echo "== request log lines (cold_start only on the first) =="
grep '"event":"request"' "$log" | head -3
kill -TERM "$fn_pid"
wait "$fn_pid" || true
fn_pid=""
echo
echo "== shutdown =="
tail -1 "$log"

echo
echo "== modelfn up: the same model behind the local platform =="
name=$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' "$model/manifest.json" | head -1)
version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' "$model/manifest.json" | head -1)
build/modelfn push "$model" --name "$name" --version "$version" --store "$work/models"
build/modelfn promote "$name" "$version" --store "$work/models"
cat >"$work/modelfn.yaml" <<YAML
store: ./models
functions:
  $name:
    model: $name
    max_instances: 3
    idle_ttl_s: 30
gateway:
  listen: 127.0.0.1:0
YAML
echo "\$ cat modelfn.yaml"; cat "$work/modelfn.yaml"
build/modelfn up -f "$work/modelfn.yaml" >"$work/up.log" 2>"$work/up.err" &
up_pid=$!
for _ in $(seq 200); do
  [ -f "$work/.modelfn/up.json" ] && break
  sleep 0.05
done
gw=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$work/.modelfn/up.json")
echo "gateway on $gw (dashboard: $gw/dashboard)"
echo
echo "== first request: no instance runs yet (cold start through the gateway) =="
curl -sS -o /dev/null -D - -w 'time %{time_total} s\n' -X POST "$gw/v1/models/$name/infer" \
  -H 'Content-Type: application/json' -d "@$req/infer.json" | grep -iE '^x-modelfn|^time'
echo
echo "== a burst of 12 concurrent requests: the platform scales out (max 3 instances) =="
seq 12 | xargs -P 12 -I{} curl -sS -o /dev/null -w '%{http_code}\n' -X POST \
  "$gw/v1/models/$name/infer" -H 'Content-Type: application/json' -d "@$req/infer.json" | sort | uniq -c
echo
echo "== modelfn status =="
build/modelfn status -f "$work/modelfn.yaml"
kill -TERM "$up_pid"
wait "$up_pid" || true
up_pid=""

echo
echo "== text in, labels out: examples/sentiment (tokenizer.json + a classifier, see examples/README.md) =="
text_log="$work/sentiment.log"
build/modelfn-fn --model examples/sentiment --port 0 --host 127.0.0.1 >"$text_log" 2>&1 &
text_pid=$!
turl=$(fn_url "$text_log")
show "POST /v1/infer (one text)" -X POST "$turl/v1/infer" -H 'Content-Type: application/json' \
  -d '{"inputs": "I loved this film"}'
show "POST /v1/infer (a list of texts, padded together in one run)" -X POST "$turl/v1/infer" \
  -H 'Content-Type: application/json' -d @examples/sentiment/requests/infer.json
show "POST /v2/models/sentiment/infer (texts as a BYTES tensor)" -X POST \
  "$turl/v2/models/sentiment/infer" -H 'Content-Type: application/json' \
  -d @examples/sentiment/requests/v2_infer.json
show "POST /v1/infer with a number where text belongs (typed error)" -X POST "$turl/v1/infer" \
  -H 'Content-Type: application/json' -d '{"inputs": [42]}'
kill -TERM "$text_pid"
wait "$text_pid" || true
text_pid=""

echo
echo "== images in, labels out: examples/fashion (a clothing classifier, see examples/README.md) =="
image_log="$work/fashion.log"
build/modelfn-fn --model examples/fashion --port 0 --host 127.0.0.1 >"$image_log" 2>&1 &
image_pid=$!
iurl=$(fn_url "$image_log")
show "POST /v1/infer (a PNG as the body)" -X POST "$iurl/v1/infer" -H 'Content-Type: image/png' \
  --data-binary @examples/fashion/requests/sneaker.png
show "POST /v1/infer (a JPEG as the body)" -X POST "$iurl/v1/infer" -H 'Content-Type: image/jpeg' \
  --data-binary @examples/fashion/requests/ankle-boot.jpg
head -c 100 examples/fashion/requests/coat.png >"$work/half.png"
show "POST /v1/infer (the first 100 bytes of a PNG: typed error)" -X POST "$iurl/v1/infer" \
  -H 'Content-Type: image/png' --data-binary "@$work/half.png"
kill -TERM "$image_pid"
wait "$image_pid" || true
image_pid=""

#!/usr/bin/env bash
# Runs the benchmarks (bench/run.py) and rewrites docs/benchmarks.md. Takes a few minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh --bench
scripts/build.sh
# scripts/bench.sh            the function benchmark (bench/run.py)
# scripts/bench.sh --store    the model store benchmark (bench/store_bench.py)
# scripts/bench.sh --lambda   the Lambda benchmark (bench/lambda_bench.py)
# scripts/bench.sh --platform the local platform benchmark (bench/platform_bench.py)
# scripts/bench.sh --faces    cold start per face (bench/face_coldstart.py)
# scripts/bench.sh --pipeline text and images through the manifest's pipeline against Python
#                             (bench/pipeline_bench.py)
# scripts/bench.sh --batching dynamic batching on and off on a medium model (bench/batching_bench.py)
# scripts/bench.sh --coldstart cold start of a 23 MB model against ONNX Runtime's floor
#                             (bench/coldstart_bench.py)
# scripts/bench.sh --threads   ONNX Runtime threads per Run, one and 16 connections
#                             (bench/threads_bench.py)
# scripts/bench.sh --peers     batching against BentoML and Ray Serve (bench/peers_bench.py;
#                             the peers' venv: bench/requirements-peers.txt)
# scripts/bench.sh --gateway-ab BASELINE_BUILD
#                             the gateway's CPU and system calls per request, against an older
#                             build, in alternating rounds (bench/gateway_ab.py; prints a table)
if [ "${1:-}" = "--lambda" ]; then
  shift
  exec .venv/bin/python bench/lambda_bench.py "$@"
fi
if [ "${1:-}" = "--platform" ]; then
  shift
  exec .venv/bin/python bench/platform_bench.py "$@"
fi
if [ "${1:-}" = "--gateway-ab" ]; then
  shift
  exec .venv/bin/python bench/gateway_ab.py "$@"
fi
if [ "${1:-}" = "--faces" ]; then
  shift
  exec .venv/bin/python bench/face_coldstart.py "$@"
fi
if [ "${1:-}" = "--pipeline" ]; then
  shift
  exec .venv/bin/python bench/pipeline_bench.py "$@"
fi
if [ "${1:-}" = "--batching" ]; then
  shift
  exec .venv/bin/python bench/batching_bench.py "$@"
fi
if [ "${1:-}" = "--coldstart" ]; then
  shift
  exec .venv/bin/python bench/coldstart_bench.py "$@"
fi
if [ "${1:-}" = "--threads" ]; then
  shift
  exec .venv/bin/python bench/threads_bench.py "$@"
fi
if [ "${1:-}" = "--peers" ]; then
  shift
  exec .venv/bin/python bench/peers_bench.py "$@"
fi
if [ "${1:-}" = "--store" ]; then
  shift
  exec .venv/bin/python bench/store_bench.py "$@"
fi
exec .venv/bin/python bench/run.py "$@"

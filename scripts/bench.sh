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
#                             [--proxies: nginx and HAProxy as peers; apt-get install nginx-light haproxy]
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
# scripts/bench.sh --optimize  modelfn optimize on the MLP and the transformer: size, session, Run,
#                             cold start and accuracy, graph level extended and dynamic int8
#                             (bench/optimize_bench.py)
# scripts/bench.sh --pinned    the compute-bound goal with wrk on a CPU of its own, MLP and transformer (bench/pinned_bench.py)
# scripts/bench.sh --plan-replay [--runs N]
#                             the planner against the platform on a replayed traffic, N runs with
#                             min instances 0 and 1 (bench/plan_replay_bench.py; docs/plan.md)
# scripts/bench.sh --holder    bursts of 64 and 256 from zero, lambda mode, the scale-from-zero
#                             holder off and on (bench/burst_bench.py --holder; prints lines),
#                             then a fresh instance's first merged invocation against its later
#                             ones (--sequence 60 --items 32)
# scripts/bench.sh --gateway-ab BASELINE_BUILD
#                             the gateway's CPU and system calls per request, against an older
#                             build, in alternating rounds (bench/gateway_ab.py; prints a table)
script=run.py
case "${1:-}" in
  --lambda) script=lambda_bench.py ;;
  --platform) script=platform_bench.py ;;
  --gateway-ab) script=gateway_ab.py ;;
  --faces) script=face_coldstart.py ;;
  --pipeline) script=pipeline_bench.py ;;
  --batching) script=batching_bench.py ;;
  --coldstart) script=coldstart_bench.py ;;
  --threads) script=threads_bench.py ;;
  --peers) script=peers_bench.py ;;
  --pinned) script=pinned_bench.py ;;
  --plan-replay) script=plan_replay_bench.py ;;
  --optimize) script=optimize_bench.py ;;
  --store) script=store_bench.py ;;
  --holder)
    shift
    for n in 64 256; do
      .venv/bin/python bench/burst_bench.py mlp --requests "$n" --max-instances 2 --holder 32 \
        --runs 10 "$@"
    done
    .venv/bin/python bench/burst_bench.py mlp --sequence 60 --items 32
    exit 0 ;;
esac
[ "$script" = run.py ] || shift
exec .venv/bin/python "bench/$script" "$@"

#!/usr/bin/env python3
"""Dynamic batching of modelfn-fn (--batching) against the same binary without it, on a medium
model whose Run takes about a millisecond at batch 1 (bench/make_mlp.py), under wrk at 1, 16 and
64 connections, in one run, and writes the section "batching" of docs/benchmarks.md.

  scripts/bench.sh --batching [--seconds 5] [--spec on]
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("MODELFN_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402
from run import free_port, wrk  # noqa: E402


def make_model(out):
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_mlp.py"), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([str(BUILD / "modelfn"), "manifest", str(out / "model.onnx"), "--name", "mlp",
                    "--version", "1.0.0"], check=True, stdout=subprocess.DEVNULL)


def start(model, batching):
    port = free_port()
    args = [str(BUILD / "modelfn-fn"), "--model", str(model), "--port", str(port),
            "--host", "127.0.0.1"]
    if batching:
        args += ["--batching", batching]
    env = dict(os.environ, MODELFN_LOG_REQUESTS="0")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    init = json.loads(proc.stdout.readline())  # the init line: ready
    return proc, port, init


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--spec", default="on", help="the --batching setting measured (default: on)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    a = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp())
    model = tmp / "mlp"
    make_model(model)
    body = model / "requests" / "infer.json"
    rows, init_line = [], None
    for conns in (1, 16, 64):
        for label, spec in (("off", None), (a.spec, a.spec)):
            proc, port, init = start(model, spec)
            if spec:
                init_line = init
            try:
                wrk(port, body, conns, 1)  # warm
                r = wrk(port, body, conns, a.seconds)
                runs = metric(port, "modelfn_batch_rows_count")
                rsum = metric(port, "modelfn_batch_rows_sum")
            finally:
                proc.terminate()
                proc.wait()
            r.update(conns=conns, label=label, rows_per_run=(rsum / runs) if runs else None)
            rows.append(r)
            print(f"c={conns:3d} batching {label:>4}: {r['rps']:9.0f} req/s  p50 {r['p50_us']:8.0f} us"
                  f"  p99 {r['p99_us']:8.0f} us  errors {r['non_2xx'] + r['socket_errors']}"
                  + (f"  rows/Run {r['rows_per_run']:.1f}" if r["rows_per_run"] else ""), flush=True)
    lines = [f"## Dynamic batching (`modelfn-fn --batching`) — {today()}", "",
             f"- Machine: {machine()}. wrk (1 thread) shares the cores with the function.",
             "- Model: bench/make_mlp.py (x FP32 [N, 1024], 4 Gemm+Relu layers of 1024, 17 MB of weights), one row per request.",
             f"- Command: `scripts/bench.sh --batching --seconds {a.seconds:g} --spec {a.spec}` (bench/batching_bench.py); "
             f"{a.seconds:g} s per row after 1 s of warm-up, each row a fresh process.",
             f"- Batching as the init line reported it: `{init_line['batching']}`; Run time per batch size measured at load (ms): `{init_line['batch_run_ms']}`.",
             "", "| connections | batching | req/s | vs off | p50 | p99 | rows per Run | errors |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    base = {}
    for r in rows:
        if r["label"] == "off":
            base[r["conns"]] = r["rps"]
        ratio = r["rps"] / base[r["conns"]]
        rpr = f"{r['rows_per_run']:.1f}" if r["rows_per_run"] else "1 (no batcher)"
        lines.append(f"| {r['conns']} | {r['label']} | {r['rps']:.0f} | {ratio:.2f}x | {r['p50_us'] / 1000:.2f} ms | "
                     f"{r['p99_us'] / 1000:.2f} ms | {rpr} | {r['non_2xx'] + r['socket_errors']} |")
    md = "\n".join(lines) + "\n"
    print(md)
    if not a.no_write:
        write_section("batching", md)


if __name__ == "__main__":
    main()

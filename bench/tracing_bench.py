#!/usr/bin/env python3
"""Cost of tracing (docs/benchmarks.md): wrk at 16 connections against `modelfn up` (digits, one
http-mode instance) with tracing off, on at 100 % and on at 1 % sampling (spans to a real Jaeger on
the same machine), in alternating rounds; the ratios are against "off" of the same run.

  bench/tracing_bench.py [--rounds 3] [--seconds 5] [--baseline BUILD_DIR]

--baseline adds a platform run by the modelfn of another build (a commit before tracing existed):
the cost of tracing "off" is this build's "off" against it.
"""
import argparse
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from report import machine, today  # noqa: E402
from run import BUILD, free_port, wrk  # noqa: E402
from servers import Jaeger  # noqa: E402

CLI = BUILD / "modelfn"
MODEL = ROOT / "examples" / "digits"


class Platform:
    def __init__(self, workdir, store, env, cli=CLI):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True)
        self.port = free_port()
        (self.dir / "modelfn.yaml").write_text(
            f"store: {store}\nfunctions:\n  digits:\n    model: digits\n    mode: http\n"
            f"    concurrency: 16\n    min_instances: 1\n    max_instances: 1\n"
            f"gateway:\n  listen: 127.0.0.1:{self.port}\n")
        self.proc = subprocess.Popen([str(cli), "up", "-f", str(self.dir / "modelfn.yaml")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ, **env))
        deadline = time.time() + 60
        body = (MODEL / "requests" / "infer.json").read_bytes()
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                c.request("POST", "/v1/infer", body, {"Content-Type": "application/json"})
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("modelfn up did not answer")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--baseline", help="a build folder whose modelfn has no tracing")
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-tracing-bench-"))
    store = work / "models"
    subprocess.run([str(CLI), "push", str(MODEL), "--name", "digits", "--version", "1.0.0",
                    "--store", str(store)], check=True, capture_output=True)
    subprocess.run([str(CLI), "promote", "digits", "1.0.0", "--store", str(store)], check=True,
                   capture_output=True)
    jaeger = Jaeger()
    kinds = {
        "off": {},
        "on, 100 %": {"MODELFN_OTLP_ENDPOINT": jaeger.otlp_endpoint},
        "on, 1 %": {"MODELFN_OTLP_ENDPOINT": jaeger.otlp_endpoint, "MODELFN_TRACE_SAMPLE": "0.01"},
    }
    platforms = {k: Platform(work / str(i), store, env) for i, (k, env) in enumerate(kinds.items())}
    if args.baseline:
        kinds["baseline build"] = {}
        platforms["baseline build"] = Platform(work / "baseline", store, {},
                                               pathlib.Path(args.baseline) / "modelfn")
    body_file = MODEL / "requests" / "infer.json"
    runs = {k: [] for k in kinds}
    try:
        for p in platforms.values():  # warm
            wrk(p.port, body_file, 16, 1)
        for _ in range(args.rounds):
            for k, p in platforms.items():
                runs[k].append(wrk(p.port, body_file, 16, args.seconds))
    finally:
        for p in platforms.values():
            p.stop()
        jaeger.stop()
    base = statistics.median(r["rps"] for r in runs["off"])
    base_p50 = statistics.median(r["p50_us"] for r in runs["off"])
    print(f"{today()} {machine()}")
    print("| tracing | req/s | ratio | p50 | p99 |")
    print("| --- | --- | --- | --- | --- |")
    for k, rs in runs.items():
        rps = statistics.median(r["rps"] for r in rs)
        p50 = statistics.median(r["p50_us"] for r in rs)
        p99 = statistics.median(r["p99_us"] for r in rs)
        errors = sum(r["non_2xx"] + r["socket_errors"] for r in rs)
        print(f"| {k} | {rps:,.0f} | {rps / base:.2f}x | {p50 / 1000:.2f} ms ({p50 / base_p50:.2f}x) "
              f"| {p99 / 1000:.2f} ms |" + (f" {errors} errors" if errors else ""))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""ONNX Runtime threads per Run: one thread, every CPU, every CPU spinning; one request at a time
(what a Lambda instance sees) and 16 at once (an HTTP instance's concurrent requests).

For each model (the medium MLP of bench/make_mlp.py and the 23 MB transformer of
bench/make_transformer.py, written to a temporary folder) and each setting, modelfn-fn serves over
HTTP and wrk measures 1 and 16 connections; the rows of one model ran in the same invocation.

    scripts/bench.sh --threads [--seconds 4] [--out FILE]
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402
from run import BUILD, free_port, wait_ready, wrk  # noqa: E402

SETTINGS = [("1", "off", "1 thread"), (None, "off", "every CPU, no spinning"),
            (None, "on", "every CPU, spinning")]


def make(tmp, script, name):
    out = pathlib.Path(tmp) / name
    subprocess.run([sys.executable, str(ROOT / "bench" / script), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([str(BUILD / "modelfn"), "manifest", str(out / "model.onnx"), "--name", name,
                    "--version", "1"], check=True, stdout=subprocess.DEVNULL)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    cpus = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory(prefix="threads-bench-") as tmp:
        models = [(make(tmp, "make_mlp.py", "mlp"), "medium MLP (bench/make_mlp.py)"),
                  (make(tmp, "make_transformer.py", "transformer"),
                   "23 MB transformer, 16 tokens (bench/make_transformer.py)")]
        for model, label in models:
            body = model / "requests" / "infer.json"
            base = {}
            for threads, spin, name in SETTINGS:
                port = free_port()
                env = dict(os.environ, MODELFN_ORT_INTRA_OP_THREADS=threads or str(cpus),
                           MODELFN_ORT_SPIN=spin)
                p = subprocess.Popen([str(BUILD / "modelfn-fn"), "--model", str(model), "--port",
                                      str(port), "--host", "127.0.0.1"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    wait_ready(port, body.read_bytes())
                    one = wrk(port, body, 1, args.seconds)
                    many = wrk(port, body, 16, args.seconds)
                finally:
                    p.terminate()
                    p.wait()
                if not base:
                    base = {"one": one, "many": many}
                rows.append((label, f"{name} ({threads or cpus})", one, many, base))
    lines = [f"## ONNX Runtime threads per Run ({today()})", "",
             f"- Machine: {machine()}; wrk (1 thread) shares the CPUs.",
             "- Command: `scripts/bench.sh --threads` (bench/threads_bench.py): modelfn-fn over HTTP, "
             "`MODELFN_ORT_INTRA_OP_THREADS` and `MODELFN_ORT_SPIN` set per row.", "",
             "| model | threads per Run | 1 connection: p50 | speed-up | 16 connections: req/s | "
             "vs 1 thread |", "| --- | --- | --- | --- | --- | --- |"]
    for label, name, one, many, base in rows:
        lines.append(f"| {label} | {name} | {one['p50_us']:.0f} µs | "
                     f"{base['one']['p50_us'] / one['p50_us']:.2f}x | {many['rps']:.0f} | "
                     f"{many['rps'] / base['many']['rps']:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"wrote {write_section('threads', text, args.out)}")


if __name__ == "__main__":
    main()

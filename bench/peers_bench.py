#!/usr/bin/env python3
"""Dynamic batching against the Python serving systems that have it, same model, same cores:
modelfn-fn --batching on, BentoML with adaptive batching (bench/bentoml_peer.py) and Ray Serve
with @serve.batch (bench/ray_peer.py), each serving the medium MLP of bench/make_mlp.py through
ONNX Runtime with one intra-op thread; modelfn-fn without batching for reference. wrk at 16 and 64
keep-alive connections, every contender in the same invocation. Then ONNX Runtime's own Run loop
at the batch size the batchers use (bench/ort_run_loop --rows 32 on 2 threads): the compute-bound
ceiling, in rows per second.

The peers run from their own venv (bench/requirements-peers.txt):

    python3 -m venv /tmp/peersvenv && /tmp/peersvenv/bin/pip install -r bench/requirements-peers.txt
    scripts/bench.sh --peers [--python /tmp/peersvenv/bin/python] [--seconds 5] [--out FILE]
"""
import argparse
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import json

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402
from run import BUILD, free_port, wait_ready, wrk  # noqa: E402

CONNS = (16, 64)


def contenders(py, model):
    """name -> (command, note) for a port."""
    fn = str(BUILD / "modelfn-fn")
    return {
        "modelfn-fn, batching on": lambda port: [fn, "--model", str(model), "--port", str(port),
                                                 "--host", "127.0.0.1", "--batching", "on"],
        "modelfn-fn, batching off": lambda port: [fn, "--model", str(model), "--port", str(port),
                                                  "--host", "127.0.0.1"],
        # At its default max_latency_ms of 50, BentoML refused about 12 % of requests at 64
        # connections with 503 "process is overloaded"; 200 ms refuses none and is as fast.
        "BentoML 1.4 adaptive batching (max 32 rows, 200 ms)": lambda port: [
            py, str(ROOT / "bench" / "bentoml_peer.py"), str(model), str(port), "--max-latency-ms",
            "200"],
        "Ray Serve 2.60 @serve.batch (max 32, 50 ms)": lambda port: [
            py, str(ROOT / "bench" / "ray_peer.py"), str(model), str(port)],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="/tmp/peersvenv/bin/python",
                    help="the interpreter with bench/requirements-peers.txt installed")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="peers-bench-") as tmp:
        model = pathlib.Path(tmp) / "mlp"
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_mlp.py"), str(model)], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([str(BUILD / "modelfn"), "manifest", str(model / "model.onnx"), "--name",
                        "mlp", "--version", "1"], check=True, stdout=subprocess.DEVNULL)
        body = model / "requests" / "infer.json"
        for name, cmd in contenders(args.python, model).items():
            port = free_port()
            p = subprocess.Popen(cmd(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            try:
                wait_ready(port, body.read_bytes(), timeout=120)
                wrk(port, body, 64, 2)  # warm-up: the batchers learn, the JITs settle
                rows[name] = {c: wrk(port, body, c, args.seconds) for c in CONNS}
                print(name, {c: round(rows[name][c]["rps"]) for c in CONNS}, flush=True)
            finally:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        raw = json.loads(subprocess.run(
            [str(BUILD / "bench" / "ort_run_loop"), str(model / "model.onnx"), "--seconds",
             str(args.seconds), "--threads", "2", "--rows", "32"],
            capture_output=True, text=True, check=True).stdout)
    ours = rows["modelfn-fn, batching on"]
    lines = [f"## Dynamic batching against BentoML and Ray Serve ({today()})", "",
             f"- Machine: {machine()}; wrk (1 thread) shares the CPUs with the server.",
             "- Model: bench/make_mlp.py's medium MLP (4 layers of 1024, 17 MB), one row per request;"
             " every contender runs it in ONNX Runtime with one intra-op thread.",
             "- Command: `scripts/bench.sh --peers` (bench/peers_bench.py); one invocation, a fresh "
             f"process per contender, 2 s of warm-up, then {args.seconds:g} s per row.", "",
             "| contender | connections | req/s | p50 | p99 | errors | modelfn / it |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, by_c in rows.items():
        for c in CONNS:
            r = by_c[c]
            errors = r["non_2xx"] + r["socket_errors"]
            ratio = "" if name == "modelfn-fn, batching on" else f"{ours[c]['rps'] / r['rps']:.2f}x"
            lines.append(f"| {name} | {c} | {r['rps']:.0f} | {r['p50_us'] / 1000:.2f} ms | "
                         f"{r['p99_us'] / 1000:.2f} ms | {errors} | {ratio} |")
    ceiling = raw["throughput_rps"] * 32
    lines += ["", f"ONNX Runtime's own Run loop at 32 rows per Run on 2 threads: {ceiling:,.0f} rows/s "
              f"(no HTTP, no JSON). modelfn-fn with batching at 64 connections answers "
              f"{ours[64]['rps']:,.0f} rows/s: {ours[64]['rps'] / ceiling:.0%} of it, with wrk on "
              "the same two CPUs."]
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"wrote {write_section('peers', text, args.out)}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""First benchmark of modelfn: one command, one run, same model, ratios printed and written to
docs/benchmarks.md.

  (a) ONNX Runtime's Run loop in-process (bench/ort_run_loop.cc): the floor.
  (b) modelfn-fn over HTTP under wrk at concurrency 1, 8, 64.
  (c) the seed's approach: FastAPI + uvicorn (one worker) + onnxruntime, same body, same load.
  Cold start of (b) and (c): exec to first successful answer, median of several runs.

Run through scripts/bench.sh (installs the peers, builds, then runs this).
"""
import argparse
import http.client
import json
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("MODELFN_BUILD_DIR", ROOT / "build"))
PY = sys.executable
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_once(port, body, timeout=1.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/v1/infer", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def start(kind, model_dir, port):
    return subprocess.Popen(server_cmd(kind, model_dir, port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def server_cmd(kind, model_dir, port):
    if kind == "modelfn":
        return [str(BUILD / "modelfn-fn"), "--model", str(model_dir), "--port", str(port), "--host", "127.0.0.1"]
    return [PY, str(ROOT / "bench" / "fastapi_peer.py"), str(model_dir), str(port)]


def cold_start_ms(kind, model_dir, body_file):
    """Exec to first 200 answer on /v1/infer, measured by bench/coldstart_probe (C++, polls every
    200 us with fresh connections). kind "floor": exec to exit of a process that only creates the
    ONNX Runtime environment and session and runs once (bench/ort_run_loop with 0 seconds)."""
    probe = str(BUILD / "bench" / "coldstart_probe")
    if kind == "floor":
        cmd = [probe, "--exit", "--", str(BUILD / "bench" / "ort_run_loop"), str(model_dir / "model.onnx"),
               "--seconds", "0"]
    else:
        port = free_port()
        cmd = [probe, str(port), str(body_file), "--", *server_cmd(kind, model_dir, port)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} cold start failed: {out.stderr}")
    return float(out.stdout)


def wrk(port, body_file, connections, seconds, scheme="http"):
    env = dict(os.environ, BODY_FILE=str(body_file))
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s",
                          str(ROOT / "bench" / "post.lua"), f"{scheme}://127.0.0.1:{port}/v1/infer"],
                         capture_output=True, text=True, env=env, check=True).stdout

    def latency(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v = float(m.group(1))
        return v * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_us": latency("50"),
        "p99_us": latency("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


def wait_ready(port, body, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if post_once(port, body) == 200:
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("server not ready")


def handler_p50_us(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    m = re.search(r'modelfn_request_duration_seconds\{route="/v1/infer",quantile="0.5"\} ([\d.e+-]+)', text)
    return float(m.group(1)) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "examples" / "digits"))
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--cold-runs", type=int, default=15)
    ap.add_argument("--python-cold-runs", type=int, default=5)
    ap.add_argument("--out", default=None, help="markdown file to update (default docs/benchmarks.md)")
    args = ap.parse_args()
    model_dir = pathlib.Path(args.model)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    spec = manifest["inputs"][0]
    width = spec["shape"][1]
    row = json.loads((model_dir / "requests" / "infer.json").read_text())["inputs"][0]
    body = json.dumps({"inputs": [row]}).encode()
    body_file = BUILD / "bench_body.json"
    body_file.write_bytes(body)

    print(f"model {manifest['name']}@{manifest['version']}, one row of {width} FP32 per request")
    print("(a) ONNX Runtime Run loop in-process ...", flush=True)
    raw = json.loads(subprocess.run([str(BUILD / "bench" / "ort_run_loop"), str(model_dir / "model.onnx"),
                                     "--seconds", str(args.seconds), "--threads", "2"],
                                    capture_output=True, text=True, check=True).stdout)
    print(f"    Run p50 {raw['p50_us']:.2f} us, p99 {raw['p99_us']:.2f} us; "
          f"2 threads {raw['throughput_rps']:.0f} runs/s; Env {raw['env_ms']:.1f} ms, session {raw['session_ms']:.1f} ms")

    print("cold starts ...", flush=True)
    cold = {}
    for kind, n in (("floor", args.cold_runs), ("modelfn", args.cold_runs), ("python", args.python_cold_runs)):
        samples = [cold_start_ms(kind, model_dir, body_file) for _ in range(n)]
        cold[kind] = {"median_ms": statistics.median(samples), "min_ms": min(samples),
                      "max_ms": max(samples), "runs": n}
        print(f"    {kind}: median {cold[kind]['median_ms']:.1f} ms (min {cold[kind]['min_ms']:.1f}, "
              f"max {cold[kind]['max_ms']:.1f}, {n} runs)", flush=True)

    load = {}
    handler = None
    for kind in ("modelfn", "python"):
        port = free_port()
        proc = start(kind, model_dir, port)
        try:
            wait_ready(port, body)
            load[kind] = {}
            for c in (1, 8, 64):
                load[kind][c] = wrk(port, body_file, c, args.seconds)
                r = load[kind][c]
                print(f"    {kind} c={c}: {r['rps']:.0f} req/s, p50 {r['p50_us']:.0f} us, p99 {r['p99_us']:.0f} us,"
                      f" non-2xx {r['non_2xx']}, socket errors {r['socket_errors']}", flush=True)
                if kind == "modelfn" and c == 1:
                    handler = handler_p50_us(port)
        finally:
            proc.terminate()
            proc.wait(10)

    m, p = load["modelfn"], load["python"]
    ratios = {c: m[c]["rps"] / p[c]["rps"] for c in (1, 8, 64)}
    overhead_e2e = m[1]["p50_us"] - raw["p50_us"]
    overhead_handler = handler - raw["p50_us"]
    cold_ratio = cold["python"]["median_ms"] / cold["modelfn"]["median_ms"]
    floor_ms = cold["floor"]["median_ms"]
    print()
    print(f"throughput modelfn / python: c=1 {ratios[1]:.1f}x, c=8 {ratios[8]:.1f}x, c=64 {ratios[64]:.1f}x")
    print(f"cold start python / modelfn: {cold_ratio:.1f}x ({cold['modelfn']['median_ms']:.1f} ms vs "
          f"{cold['python']['median_ms']:.0f} ms); ORT process floor {floor_ms:.1f} ms, "
          f"modelfn / floor {cold['modelfn']['median_ms'] / floor_ms:.2f}x")
    print(f"added over a raw Run, p50: in the handler {overhead_handler:.1f} us; "
          f"end to end through HTTP at c=1 {overhead_e2e:.1f} us")
    print(f"modelfn c=64 throughput / raw Run loop on 2 threads: {m[64]['rps'] / raw['throughput_rps']:.3f}")

    lines = [
        f"## Function runtime vs ONNX Runtime and the Python approach ({today()})",
        "",
        "`scripts/bench.sh` (bench/run.py).",
        "",
        f"- Machine: {machine()}. wrk (1 thread) runs on the same 2 cores as the server.",
        f"- Model: `{manifest['name']}`, one row of {width} FP32 per request, JSON body"
        f" `{{\"inputs\": [[...]]}}` ({len(body)} bytes).",
        "- modelfn-fn: default settings (workers = CPU quota = 2, ONNX Runtime intra-op threads 1,"
        " request log lines on, stdout to /dev/null). Python: FastAPI + uvicorn, one worker,"
        " onnxruntime with intra-op threads 1.",
        f"- Load phases: {args.seconds:g} s each. Cold start: spawn to the end of the first 200 answer to"
        " POST /v1/infer, polled every 200 us with fresh connections by bench/coldstart_probe (C++).",
        "",
        "| measure | (a) raw ORT Run | (b) modelfn-fn | (c) FastAPI + onnxruntime | (b)/(c) |",
        "| --- | --- | --- | --- | --- |",
        f"| cold start, median ms | {floor_ms:.1f} (exec, Env {raw['env_ms']:.1f}, session {raw['session_ms']:.1f}, 1 Run, exit) |"
        f" {cold['modelfn']['median_ms']:.1f} ({cold['modelfn']['runs']} runs, min {cold['modelfn']['min_ms']:.1f}) |"
        f" {cold['python']['median_ms']:.0f} ({cold['python']['runs']} runs) | {cold_ratio:.1f}x faster |",
    ]
    for c in (1, 8, 64):
        lines.append(f"| c={c}: req/s | {raw['throughput_rps']:.0f} runs/s (2 threads) | {m[c]['rps']:.0f} |"
                     f" {p[c]['rps']:.0f} | {ratios[c]:.1f}x |")
        lines.append(f"| c={c}: p50 / p99 us | {raw['p50_us']:.1f} / {raw['p99_us']:.1f} (1 thread) |"
                     f" {m[c]['p50_us']:.0f} / {m[c]['p99_us']:.0f} | {p[c]['p50_us']:.0f} / {p[c]['p99_us']:.0f} | |")
    lines += [
        "",
        f"- Added over a raw Run, p50: **{overhead_handler:.1f} us inside the function** (handler time from"
        f" /metrics: parse, validate, Run, encode) and **{overhead_e2e:.1f} us end to end** at c=1 (wrk's"
        " latency, including loopback TCP and wrk itself).",
        f"- Cold start: modelfn-fn {cold['modelfn']['median_ms']:.1f} ms = {cold['modelfn']['median_ms'] / floor_ms:.2f}x"
        f" ONNX Runtime's own floor for this model ({floor_ms:.1f} ms: a process that execs, creates the"
        " Env and the session, runs once and exits, with nothing else);"
        f" the Python approach {cold['python']['median_ms']:.0f} ms.",
        f"- Failed requests: modelfn non-2xx {sum(m[c]['non_2xx'] for c in m)}, socket errors"
        f" {sum(m[c]['socket_errors'] for c in m)}; Python non-2xx {sum(p[c]['non_2xx'] for c in p)},"
        f" socket errors {sum(p[c]['socket_errors'] for c in p)}.",
        f"- modelfn at c=64 reaches {m[64]['rps'] / raw['throughput_rps']:.1%} of the raw Run loop's rate on two"
        " threads, while sharing the two cores with wrk.",
    ]
    out = write_section("function", "\n".join(lines), args.out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

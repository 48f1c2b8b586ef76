#!/usr/bin/env python3
"""Compares modelfn-fn binaries (e.g. before and after a change) on a busy machine, where req/s
alone is too noisy: bench/run.py's request (digits, one row of 64 FP32) under wrk at c=8, the
binaries alternated round by round, reporting per binary the server's CPU time per request
(utime + stime from /proc over the load phase), req/s and the handler p50 from /metrics.

  bench/cpu_per_request.py [--rounds 8] [--seconds 3] BINARY [BINARY ...]
"""
import argparse
import http.client
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run import free_port, handler_p50_us  # noqa: E402


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(port, body, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("POST", "/v1/infer", body=body, headers={"Content-Type": "application/json"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("server not ready")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--model", default=str(ROOT / "examples" / "digits"))
    args = ap.parse_args()
    model = pathlib.Path(args.model)
    row = json.loads((model / "requests" / "infer.json").read_text())["inputs"][0]
    body = json.dumps({"inputs": [row]}).encode()
    body_file = pathlib.Path(f"/tmp/modelfn-cpu-bench-{os.getpid()}.json")
    body_file.write_bytes(body)
    results = {b: [] for b in args.binaries}
    try:
        for _ in range(args.rounds):
            for binary in args.binaries:
                port = free_port()
                proc = subprocess.Popen([binary, "--model", str(model), "--port", str(port), "--host",
                                         "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    wait_ready(port, body)
                    before = cpu_seconds(proc.pid)
                    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{args.seconds}s", "-s",
                                          str(ROOT / "bench" / "post.lua"), f"http://127.0.0.1:{port}/v1/infer"],
                                         env=dict(os.environ, BODY_FILE=str(body_file)),
                                         capture_output=True, text=True, check=True).stdout
                    used = cpu_seconds(proc.pid) - before
                    count = int(re.search(r"(\d+) requests in", out).group(1))
                    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
                    results[binary].append((used / count * 1e6, rps, handler_p50_us(port)))
                finally:
                    proc.terminate()
                    proc.wait(10)
    finally:
        body_file.unlink()
    for binary, runs in results.items():
        cpu = [r[0] for r in runs]
        print(f"{binary}: CPU per request {statistics.median(cpu):.1f} us median (min {min(cpu):.1f}; "
              f"rounds {' '.join(f'{c:.1f}' for c in cpu)}), req/s median "
              f"{statistics.median(r[1] for r in runs):.0f}, handler p50 median "
              f"{statistics.median(r[2] for r in runs):.1f} us")


if __name__ == "__main__":
    main()

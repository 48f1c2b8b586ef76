#!/usr/bin/env python3
"""The gateway's cost per request, two builds side by side, on the digits example.

For each mode (http, lambda) and each build, in alternating rounds so that a noisy neighbour
weighs on both alike: wrk at --connections keep-alive connections for --seconds through `modelfn
up`, with the CPU time each process used (from /proc) divided by the requests answered, for the
gateway and for its instances. Then, once per build and mode, the gateway's system calls per
request (strace -c over a shorter wrk run; strace slows the gateway, so its req/s is not used).
CPU time on a shared machine moves with the neighbours; system calls per request do not.

    scripts/bench.sh --gateway-ab BASELINE_BUILD [--rounds 5] [--connections 16]

Prints a markdown table; it does not edit docs/benchmarks.md.
"""
import argparse
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from platform_bench import MODEL, Platform, push_store  # noqa: E402
from run import BUILD, wait_ready  # noqa: E402

BODY = MODEL / "requests" / "infer.json"
HZ = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0
    for tid in tasks:
        try:
            fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(p))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return out


def run_wrk(port, connections, seconds):
    env = dict(os.environ, BODY_FILE=str(BODY))
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s",
                          str(ROOT / "bench" / "post.lua"), f"http://127.0.0.1:{port}/v1/infer"],
                         capture_output=True, text=True, env=env, check=True).stdout
    return int(re.search(r"(\d+) requests in", out).group(1))


def settings(mode):
    if mode == "http":
        return {"mode": "http", "min_instances": 1, "max_instances": 1, "concurrency": 64,
                "idle_ttl_s": 600}
    return {"mode": "lambda", "min_instances": 2, "max_instances": 2, "idle_ttl_s": 600}


def start(work, store, cli, mode):
    p = Platform(work, store, cli=pathlib.Path(cli), **settings(mode))
    wait_ready(p.port, BODY.read_bytes())
    return p


def measure(work, store, cli, mode, connections, seconds):
    p = start(work, store, cli, mode)
    try:
        gw = p.proc.pid
        procs = [gw] + children(gw)
        before = {q: cpu_ticks(q) for q in procs}
        n = run_wrk(p.port, connections, seconds)
        after = {q: cpu_ticks(q) for q in procs}
    finally:
        p.stop()
    per_req = lambda q: (after[q] - before[q]) / HZ / n * 1e6  # noqa: E731
    return {"rps": n / seconds, "gateway_us": per_req(gw),
            "instances_us": sum(per_req(q) for q in procs[1:])}


def syscalls(work, store, cli, mode, connections):
    p = start(work, store, cli, mode)
    try:
        trace = pathlib.Path(work) / "strace.txt"
        st = subprocess.Popen(["strace", "-c", "-f", "-o", str(trace), "-p", str(p.proc.pid)],
                              stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # strace attaches to every thread
        n = run_wrk(p.port, connections, 3)
        st.send_signal(2)
        st.wait()
    finally:
        p.stop()
    counts = {}
    for line in trace.read_text().splitlines():
        f = line.split()
        if len(f) >= 5 and f[-1].isidentifier() and f[3].isdigit() and f[-1] != "total":
            counts[f[-1]] = int(f[3])
    # Timer sleeps of the manager thread follow the clock, not the requests.
    counts.pop("clock_nanosleep", None)
    return sum(counts.values()) / n, {k: v / n for k, v in counts.items() if v / n >= 0.05}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("baseline", help="build folder of the older commit (with modelfn and modelfn-fn)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--modes", default="http,lambda")
    args = ap.parse_args()
    builds = {"baseline": pathlib.Path(args.baseline) / "modelfn", "this build": BUILD / "modelfn"}
    with tempfile.TemporaryDirectory(prefix="gateway-ab-") as tmp:
        work = pathlib.Path(tmp)
        store = work / "models"
        push_store(store)
        rows = []
        for mode in args.modes.split(","):
            runs = {b: [] for b in builds}
            for r in range(args.rounds):
                for name, cli in builds.items():
                    d = work / f"{mode}-{r}-{name.replace(' ', '-')}"
                    runs[name].append(measure(d, store, cli, mode, args.connections, args.seconds))
            for name, cli in builds.items():
                d = work / f"{mode}-strace-{name.replace(' ', '-')}"
                total, by_call = syscalls(d, store, cli, mode, args.connections)
                med = lambda k: statistics.median(x[k] for x in runs[name])  # noqa: E731
                rows.append((mode, name, med("rps"), [round(x["rps"]) for x in runs[name]],
                             med("gateway_us"), med("instances_us"), total, by_call))
            shutil.rmtree(work / "unused", ignore_errors=True)
    print(f"{args.connections} connections, {args.rounds} alternating rounds of {args.seconds:g} s;"
          " medians\n")
    print("| mode | build | req/s | rounds | gateway CPU/req | instances CPU/req | "
          "gateway syscalls/req |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mode, name, rps, each, gw, inst, total, by_call in rows:
        calls = ", ".join(f"{k} {v:.2f}" for k, v in sorted(by_call.items(), key=lambda kv: -kv[1]))
        print(f"| {mode} | {name} | {rps:,.0f} | {', '.join(map(str, each))} | {gw:.0f} µs | "
              f"{inst:.0f} µs | {total:.2f} ({calls}) |")


if __name__ == "__main__":
    main()

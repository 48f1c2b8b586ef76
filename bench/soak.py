#!/usr/bin/env python3
"""Soak of `modelfn up`: the bundled example (examples/digits) under steady load for a while, with
scale-to-zero cycles, one instance killed and one promote on the way, sampling every 10 s the
resident memory (RSS), open descriptors and threads of the platform process and of its instances
(and templates). Reports the growth from the end of the warm-up (minute 5 by default) to the end:
the goal is < 1 % for the platform. A script to run by hand on a quiet machine, not part of CI.

  bench/soak.py                                  30 minutes at 450 req/s (the issue's soak)
  bench/soak.py --duration 300 --warmup 60       a short run
  bench/soak.py --samples soak.csv --json        every sample to a CSV, the summary as JSON

The load: --rate requests per second on --connections keep-alive connections, paced to a
schedule (a late request is sent at once, never dropped from the count); every --cycle-every
seconds the load pauses for --cycle-pause seconds, longer than the function's idle_ttl_s, so the
function scales to zero and back. At the run's halfway point one instance is killed (SIGKILL); at
three quarters a second version is pushed and promoted, and the function follows the pointer.
"""
import argparse
import http.client
import json
import os
import pathlib
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from up_runner import ROOT, Up, push  # noqa: E402

MODEL = ROOT / "examples" / "digits"


def instance_pids(up):
    return [i["pid"] for i in up.instances() if i["pid"] > 0]


def proc_facts(pid):
    """(rss_kib, fds, threads) of a live process, or None when it is gone."""
    try:
        rss = threads = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return rss, fds, threads
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def descendants(pid):
    """Every live process below `pid` (instances, templates, what they started)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


class Load:
    """Paced requests on keep-alive connections; counts answers by status."""

    def __init__(self, port, body, rate, connections):
        self.port, self.body, self.rate = port, body, rate
        self.connections = connections
        self.paused = threading.Event()
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.next_at = time.monotonic()
        self.statuses = {}
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(connections)]

    def start(self):
        for t in self.threads:
            t.start()

    def slot(self):
        with self.lock:
            at = max(self.next_at, time.monotonic() - 1.0)  # a backlog of at most 1 s
            self.next_at = at + 1.0 / self.rate
        return at

    def run(self):
        conn = None
        while not self.stopped.is_set():
            if self.paused.is_set():
                with self.lock:
                    self.next_at = time.monotonic()
                self.stopped.wait(0.05)
                continue
            at = self.slot()
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request("POST", "/v1/models/digits/infer", body=self.body,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                status = r.status
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                status = 0
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join(70)


def growth(samples, key, warmup):
    """(value at the end of the warm-up, value at the end, growth in %) of samples[i][key]."""
    after = [s for s in samples if s["t"] >= warmup and s.get(key) is not None]
    if len(after) < 2:
        return None
    start, end = after[0][key], after[-1][key]
    return {"at_warmup": start, "end": end, "max": max(s[key] for s in after),
            "growth_pct": round(100.0 * (end - start) / start, 2) if start else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=1800, help="seconds (default 30 min)")
    ap.add_argument("--warmup", type=float, default=300,
                    help="growth is measured from this second on (default minute 5)")
    ap.add_argument("--rate", type=float, default=450, help="requests per second")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--interval", type=float, default=10, help="seconds between samples")
    ap.add_argument("--idle-ttl", type=float, default=3, help="the function's idle_ttl_s")
    ap.add_argument("--cycle-every", type=float, default=120, help="seconds; 0: no pauses")
    ap.add_argument("--cycle-pause", type=float, default=8, help="seconds without load")
    ap.add_argument("--samples", help="write every sample to this CSV file")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args()
    if args.cycle_every and args.cycle_pause <= args.idle_ttl:
        ap.error("--cycle-pause must be longer than --idle-ttl to reach zero instances")

    work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-soak-"))
    store = work / "models"
    push(MODEL, "digits", store)
    platform = Up(work, store, "digits", {"idle_ttl_s": args.idle_ttl, "max_queue": 1024})
    body = (MODEL / "requests" / "infer.json").read_bytes()
    load = Load(platform.port, body, args.rate, args.connections)
    samples, events = [], []
    t0 = time.monotonic()
    killed = promoted = False
    next_cycle = args.cycle_every or float("inf")
    load.start()
    try:
        while (t := time.monotonic() - t0) < args.duration:
            if t >= next_cycle:
                load.paused.set()
                zero_by = time.monotonic() + args.cycle_pause
                time.sleep(max(0.0, zero_by - time.monotonic()))
                reached_zero = instance_pids(platform) == []
                events.append({"t": round(t, 1), "event": "scale-to-zero pause",
                               "reached_zero": reached_zero})
                load.paused.clear()
                next_cycle += args.cycle_every
            if not killed and t >= args.duration / 2:
                pids = instance_pids(platform)
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    events.append({"t": round(t, 1), "event": f"killed instance {pids[0]}"})
                    killed = True
            if not promoted and t >= args.duration * 3 / 4:
                push(MODEL, "digits", store, "1.0.1")
                events.append({"t": round(t, 1), "event": "promoted 1.0.1"})
                promoted = True
            sample = {"t": round(t, 1)}
            facts = proc_facts(platform.proc.pid)
            if facts is None:
                raise RuntimeError("the platform exited")
            sample["platform_rss_kib"], sample["platform_fds"], sample["platform_threads"] = facts
            children = [f for f in map(proc_facts, descendants(platform.proc.pid)) if f]
            sample["children"] = len(children)
            sample["children_rss_kib"] = sum(f[0] for f in children)
            sample["children_fds"] = sum(f[1] for f in children)
            sample["children_threads"] = sum(f[2] for f in children)
            with load.lock:
                sample["answered"] = sum(load.statuses.values())
            samples.append(sample)
            time.sleep(max(0.0, t0 + len(samples) * args.interval - time.monotonic()))
    finally:
        load.stop()
        platform.stop()
    elapsed = time.monotonic() - t0
    summary = {
        "duration_s": round(elapsed), "warmup_s": args.warmup, "rate_target": args.rate,
        "rate_achieved": round(sum(load.statuses.values()) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "events": events, "samples": len(samples),
    }
    for key in ("platform_rss_kib", "platform_fds", "platform_threads", "children",
                "children_rss_kib", "children_fds", "children_threads"):
        summary[key] = growth(samples, key, args.warmup)
    if args.samples:
        keys = list(samples[0].keys())
        with open(args.samples, "w") as f:
            f.write(",".join(keys) + "\n")
            for s in samples:
                f.write(",".join(str(s[k]) for k in keys) + "\n")
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"soak: {summary['duration_s']} s at {summary['rate_achieved']} req/s "
              f"(target {args.rate}), answers by status {summary['statuses']}")
        for e in events:
            print(f"  t={e['t']} s: {e['event']}" +
                  (f" (zero instances reached: {e['reached_zero']})" if "reached_zero" in e else ""))
        print(f"growth from t={args.warmup:.0f} s to the end:")
        for key in ("platform_rss_kib", "platform_fds", "platform_threads",
                    "children", "children_rss_kib", "children_fds", "children_threads"):
            g = summary[key]
            if g is None:
                print(f"  {key}: too few samples after the warm-up")
                continue
            print(f"  {key}: {g['at_warmup']} -> {g['end']} (max {g['max']}), "
                  f"{g['growth_pct']} %")
        rss = summary["platform_rss_kib"]
        if rss is not None and rss["growth_pct"] is not None:
            print(f"platform RSS growth {rss['growth_pct']} % (goal < 1 %): "
                  f"{'met' if abs(rss['growth_pct']) < 1 else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

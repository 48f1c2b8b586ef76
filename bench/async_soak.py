#!/usr/bin/env python3
"""The asynchronous invocation figures of docs/events.md: N invocations (default 10,000) submitted
to `modelfn up`, a tenth of them failing on purpose (tests/models/fails answers 500 for a row of
3), while the platform is killed with SIGKILL K times (default 2) and started again on the same
state folder. Then checks that every invocation that got a 202 ended exactly once (one record in
the success or failure destination, its state in GET /v1/async/{id}), none was lost, and counts
the sends the function saw beyond 1 + max_retries per failing one and 1 per other one (re-runs
after the kills: delivery is at least once).

  bench/async_soak.py [--n 10000] [--kills 2]
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import signal
import sys
import tempfile
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from up_harness import Up, config, fn_config, push  # noqa: E402

GOOD, BAD = {"inputs": [[1, 2, 3, 4]]}, {"inputs": [[1, 2, 3]]}
RETRIES = 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--kills", type=int, default=2)
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-async-soak-"))
    store = work / "models"
    push(store, ROOT / "tests" / "models" / "fails", "fails", "1")
    ok_dir, failed_dir = work / "ok", work / "failed"
    text = config(store, [fn_config("fails", max_instances=2, **{"async": {
        "max_retries": RETRIES, "retry_base_s": 0.01, "retry_cap_s": 0.05,
        "on_success": str(ok_dir), "on_failure": str(failed_dir)}})])
    d = work / "platform"
    d.mkdir()
    u = Up(d, text)
    bodies = [BAD if i % 10 == 0 else GOOD for i in range(args.n)]
    accepted, refused = {}, 0
    kill_at = {int(args.n * (k + 1) / (args.kills + 1)) for k in range(args.kills)}
    t0 = time.monotonic()

    def send(i):
        try:
            r = requests.post(f"{u.url}/v1/async/fails", data=json.dumps(bodies[i]),
                              headers={"Content-Type": "application/json"}, timeout=30)
            return i, r.status_code, (r.json().get("id") if r.status_code == 202 else None)
        except requests.RequestException:
            return i, 0, None

    i = 0
    kills = 0
    at_kill = []
    while i < args.n:
        end = min(args.n, i + 500)
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            for idx, status, inv in ex.map(send, range(i, end)):
                if inv:
                    accepted[inv] = bodies[idx] is BAD
                else:
                    refused += 1
        i = end
        if any(i >= k > i - 500 for k in kill_at) and kills < args.kills:
            at_kill.append(next(f for f in u.status()["functions"] if f["name"] == "fails")["async"])
            os.kill(u.proc.pid, signal.SIGKILL)  # mid-stream: some queued, some running
            u.proc.wait(30)
            kills += 1
            u = Up(d, text)
    deadline = time.monotonic() + 1800
    while True:
        a = next(f for f in u.status()["functions"] if f["name"] == "fails")["async"]
        if a["succeeded"] + a["failed"] >= len(accepted) and a["queued"] == 0 and a["running"] == 0:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"not done: {a}")
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    # A write cut by SIGKILL leaves its temporary file (.modelfn-tmp-*) beside the records.
    oks = {p.stem for p in ok_dir.iterdir() if not p.name.startswith(".")}
    fails = {p.stem for p in failed_dir.iterdir() if not p.name.startswith(".")}
    leftovers = sum(1 for q in (ok_dir, failed_dir) for p in q.iterdir() if p.name.startswith("."))
    want_bad = {k for k, b in accepted.items() if b}
    lost = set(accepted) - oks - fails
    both = oks & fails
    wrong = (fails ^ want_bad) | (oks & want_bad)
    lines = 0
    for p in (d / ".modelfn" / "logs").glob("fails*.log"):
        lines += sum(1 for l in p.read_text().splitlines()
                     if l.startswith("{") and '"event":"request"' in l)
    expected = (len(accepted) - len(want_bad)) + len(want_bad) * (1 + RETRIES)
    u.stop()
    print(json.dumps({"submitted": args.n, "accepted": len(accepted), "refused_during_kills": refused,
                      "kills": kills, "succeeded": len(oks), "failed": len(fails),
                      "lost": len(lost), "temp_files_left": leftovers, "ended_twice": len(both), "wrong_outcome": len(wrong),
                      "sends_seen": lines, "sends_expected": expected,
                      "reruns_after_kills": lines - expected, "seconds": round(elapsed, 1),
                      "at_kills": [{k: a[k] for k in ("queued", "running")} for a in at_kill]}))
    return 0 if not lost and not both and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())

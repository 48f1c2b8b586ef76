#!/usr/bin/env python3
"""The upload trigger figures of docs/events.md: N objects (default 1,000 JSON-lines files of
digits rows, --rows each) are uploaded to a SeaweedFS bucket watched by `modelfn up` while the platform is
killed with SIGKILL K times (default 2) and started again on the same state folder; then (with
--outage-s S) the bucket's server itself is killed for S seconds while the backlog is scored, and
started again. Checks that every object ended with exactly one result and no failure record,
and counts the deliveries beyond one per object (at least once: redeliveries after the kills,
absorbed as duplicates).

  bench/trigger_soak.py [--n 1000] [--kills 2] [--outage-s 60]
"""
import argparse
import json
import os
import pathlib
import signal
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from servers import SeaweedS3  # noqa: E402
from up_harness import Up, config, fn_config, push  # noqa: E402

ROWS = json.loads((ROOT / "examples/digits/requests/infer.json").read_text())["inputs"]


def keys(c, bucket, prefix):
    out = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--outage-s", type=float, default=0)
    ap.add_argument("--rows", type=int, default=400, help="rows per object")
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-trigger-soak-"))
    store = work / "models"
    push(store, ROOT / "examples" / "digits", "digits", "1.0.0")
    s3 = SeaweedS3()
    c = s3.client()
    bucket = s3.bucket("soak")
    # max_in_flight 1 keeps a backlog, so that the kills and the outage meet work in progress.
    text = config(store, [fn_config("digits", max_instances=1, **{"async": {
        "max_retries": 2, "retry_base_s": 0.5, "retry_cap_s": 5, "max_in_flight": 1}})], extra=(
        "triggers:\n"
        f"  - {{function: digits, source: 's3://{bucket}/incoming/', output: results/,\n"
        "      failure: failed/, poll_s: 0.5}\n"))
    d = work / "platform"
    d.mkdir()
    env = s3.env()
    ups = [Up(d, text, env=env)]
    delivered = []
    uploaded = [0]

    def upload():
        lines = [json.dumps(r) for r in ROWS]
        for i in range(args.n):
            body = "\n".join(lines[(i + j) % len(lines)] for j in range(args.rows)) + "\n"
            c.put_object(Bucket=bucket, Key=f"incoming/o-{i:05d}.jsonl", Body=body.encode())
            uploaded[0] = i + 1

    while ups[0].function("digits")["async"]["trigger"]["scans"] < 1:
        time.sleep(0.1)
    t0 = time.monotonic()
    uploader = threading.Thread(target=upload)
    uploader.start()
    for k in range(args.kills):
        # Kill at even points of the upload, while results are being written.
        while uploaded[0] < args.n * (k + 1) // (args.kills + 1):
            time.sleep(0.05)
        u = ups[-1]
        delivered.append(u.function("digits")["async"]["trigger"]["delivered"])
        a = u.function("digits")["async"]
        print(f"kill {k + 1}: {uploaded[0]} uploaded, {len(keys(c, bucket, 'results/'))} results, "
              f"{a['queued']} queued, {a['running']} running", flush=True)
        os.kill(u.proc.pid, signal.SIGKILL)
        u.proc.wait(30)
        ups.append(Up(d, text, env=env))
    uploader.join()
    if args.outage_s > 0:
        done = len(keys(c, bucket, "results/"))
        print(f"store down for {args.outage_s:.0f} s with {done} of {args.n} results written",
              flush=True)
        s3.kill()
        time.sleep(args.outage_s)
        s3.start()
        print("store back", flush=True)
    deadline = time.monotonic() + 900
    while len(keys(c, bucket, "results/")) < args.n:
        if ups[-1].proc.poll() is not None:
            sys.exit(f"modelfn up exited ({ups[-1].proc.returncode}): "
                     f"{ups[-1].proc.stderr.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            sys.exit(f"only {len(keys(c, bucket, 'results/'))} of {args.n} results")
        time.sleep(1)
    u = ups[-1]
    while True:  # every queued delivery ended (duplicates of a kill's redeliveries included)
        a = u.function("digits")["async"]
        if a["queued"] == 0 and a["running"] == 0:
            break
        time.sleep(0.5)
    seconds = time.monotonic() - t0
    results = keys(c, bucket, "results/")
    failed = keys(c, bucket, "failed/")
    per_input = {}
    for k in results:
        name = k[len("results/"):].split(".jsonl.")[0]
        per_input[name] = per_input.get(name, 0) + 1
    assert len(per_input) == args.n, f"{args.n - len(per_input)} objects have no result"
    assert all(v == 1 for v in per_input.values()), "an object has two results"
    assert not failed, failed[:5]
    a = u.function("digits")["async"]
    trig = a["trigger"]
    delivered.append(trig["delivered"])
    print(f"{args.n} objects, {args.kills} SIGKILLs"
          + (f", the store down {args.outage_s:.0f} s" if args.outage_s else "")
          + f": every object has exactly one result, none failed, in {seconds:.0f} s; "
          f"deliveries queued per run {delivered} (sum {sum(delivered)}), the last run's "
          f"async counts: {json.dumps({k: a[k] for k in ('succeeded', 'failed', 'sent', 'retried')})}")
    ups[-1].stop()
    s3.stop()


if __name__ == "__main__":
    main()

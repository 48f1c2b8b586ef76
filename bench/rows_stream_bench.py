#!/usr/bin/env python3
"""Peak memory of batch inference on a large stored object (docs/events.md): a JSON-lines or CSV
file of digits rows (a baseline of --small-mb and a large one of --mb, 1 GiB by default) is put in
a SeaweedFS bucket, and `modelfn invoke` runs the Lambda face once on the S3 event for it, a real
cold start. Reports the rows, the time, and the peak RSS of the processes (modelfn invoke and the
function it runs), for each size: bounded memory means the large object's peak is about the
small one's.

  bench/rows_stream_bench.py [--mb 1024] [--small-mb 8] [--format jsonl|csv]
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from servers import SeaweedS3  # noqa: E402

BUILD = pathlib.Path(os.environ.get("MODELFN_BUILD_DIR", ROOT / "build"))
ROWS = json.loads((ROOT / "examples/digits/requests/infer.json").read_text())["inputs"]

# Runs a command and prints the peak RSS (KiB) of its process tree, as the kernel accounts it.
PEAK = ("import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "sys.stderr.buffer.write(r.stderr[-2000:])\n"
        "print(json.dumps({'rc': r.returncode, 'out': r.stdout.decode()[-4000:],"
        " 'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n")


def make_file(path, mb, fmt):
    lines = ([json.dumps(r) for r in ROWS] if fmt == "jsonl" else
             [",".join(str(v) for v in r) for r in ROWS])
    chunk = ("\n".join(lines) + "\n").encode()
    target = mb << 20
    n = 0
    with open(path, "wb") as f:
        if fmt == "csv":
            f.write((",".join(f"p{i}" for i in range(64)) + "\n").encode())
        while f.tell() < target:
            f.write(chunk)
            n += len(ROWS)
    return n


def run(s3, bucket, key, path, work):
    c = s3.client()
    c.upload_file(str(path), bucket, key)
    head = c.head_object(Bucket=bucket, Key=key)
    event = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                          "eventName": "ObjectCreated:Put",
                          "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                                 "object": {"key": key, "size": head["ContentLength"],
                                            "eTag": head["ETag"].strip('"')}}}]}
    ev = work / (key.replace("/", "_") + ".event.json")
    ev.write_text(json.dumps(event))
    env = {**os.environ, **s3.env(), "TMPDIR": str(work)}
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", "import json\n" + PEAK, str(BUILD / "modelfn"),
                        "invoke", "--model", str(ROOT / "examples/digits"), "--event", str(ev),
                        "--timeout", "900", "--json"], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    res = json.loads(r.stdout)
    if res["rc"] != 0:
        sys.exit(f"invoke failed: {res['out']}\n{r.stderr}")
    return seconds, res["peak_kib"] / 1024, res["out"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--small-mb", type=int, default=8)
    ap.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-rows-bench-"))
    s3 = SeaweedS3()
    try:
        bucket = s3.bucket("rows")
        results = []
        for mb in (args.small_mb, args.mb):
            path = work / f"in-{mb}.{args.format}"
            rows = make_file(path, mb, args.format)
            size = path.stat().st_size
            key = f"incoming/rows-{mb}.{args.format}"
            seconds, peak_mb, out = run(s3, bucket, key, path, work)
            path.unlink()
            listed = s3.client().list_objects_v2(Bucket=bucket, Prefix=f"results/rows-{mb}")
            written = listed.get("Contents", [])
            assert len(written) == 1, (out, written)
            results.append((mb, size, rows, seconds, peak_mb, written[0]["Size"]))
            print(f"{size / 2**20:8.1f} MiB {args.format}: {rows} rows in {seconds:.1f} s "
                  f"({rows / seconds:,.0f} rows/s), peak RSS {peak_mb:.1f} MiB, "
                  f"output {written[0]['Size'] / 2**20:.1f} MiB", flush=True)
        (_, s_size, _, _, s_peak, _), (_, b_size, _, _, b_peak, _) = results
        print(f"input {b_size / s_size:.0f}x larger, peak RSS {b_peak / s_peak:.2f}x")
    finally:
        s3.stop()


if __name__ == "__main__":
    main()

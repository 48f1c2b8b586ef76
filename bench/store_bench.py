#!/usr/bin/env python3
"""Model store benchmark: one run against a real S3-compatible server (SeaweedFS) on loopback.

  - cold start of modelfn-fn on a ~100 MB model from s3:// with an empty host cache (fetch,
    verify, load) vs a warm cache (verify and load only), several runs each;
  - fetch throughput of modelfn (download + sha256 verify into the cache) vs boto3's download of
    the same object from the same server (and boto3 + hashlib.sha256, the same work as modelfn).

Run through scripts/bench.sh --store (or directly with the project's .venv python).
"""
import argparse
import hashlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("MODELFN_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402
from servers import SeaweedS3, write_big_onnx  # noqa: E402


def start_fn(uri, env):
    t0 = time.perf_counter()
    p = subprocess.Popen([str(BUILD / "modelfn-fn"), "--model", uri, "--port", "0", "--host", "127.0.0.1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})
    while True:
        line = json.loads(p.stdout.readline())
        if line.get("event") in ("init", "init_error"):
            break
    wall = (time.perf_counter() - t0) * 1000
    p.terminate()
    p.wait(30)
    if line.get("event") != "init":
        raise RuntimeError(f"modelfn-fn failed: {line}")
    line["exec_to_ready_ms"] = wall
    return line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    server = SeaweedS3()
    try:
        work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-store-bench-"))
        (work / "model").mkdir()
        write_big_onnx(work / "model" / "model.onnx", args.mb * 1024 * 1024 // 4)
        size = (work / "model" / "model.onnx").stat().st_size
        bucket = server.bucket("bench")
        env = server.env()
        subprocess.run([str(BUILD / "modelfn"), "push", str(work / "model"), "--name", "big", "--version", "1",
                        "--store", f"s3://{bucket}/m"], check=True, env={**os.environ, **env}, capture_output=True)
        subprocess.run([str(BUILD / "modelfn"), "promote", "big", "1", "--store", f"s3://{bucket}/m"], check=True,
                       env={**os.environ, **env}, capture_output=True)
        uri = f"s3://{bucket}/m/big"
        print(f"model: {size / 1e6:.1f} MB on SeaweedFS at {server.endpoint}")

        # One discarded pair first: the server's and the page cache's own warm-up.
        start_fn(uri, {**env, "MODELFN_CACHE_DIR": str(work / "cache-discard")})
        cold, warm = [], []
        for i in range(args.runs):
            cache = work / f"cache-{i}"
            cold.append(start_fn(uri, {**env, "MODELFN_CACHE_DIR": str(cache)}))
            warm.append(start_fn(uri, {**env, "MODELFN_CACHE_DIR": str(cache)}))
        assert all(c["cache"] == "miss" for c in cold) and all(w["cache"] == "hit" for w in warm)

        def med(rows, key):
            return statistics.median(r[key] for r in rows)

        client = server.client()
        key = "m/big/versions/1/model.onnx"
        boto, boto_hash = [], []
        for _ in range(args.runs):
            dest = work / "boto.bin"
            t0 = time.perf_counter()
            client.download_file(bucket, key, str(dest))
            boto.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            client.download_file(bucket, key, str(dest))
            h = hashlib.sha256()
            with open(dest, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            boto_hash.append(time.perf_counter() - t0)
        mb = size / 1e6
        fetch_s = med(cold, "model_fetch_ms") / 1000
        rows = {
            "cold_ready": med(cold, "exec_to_ready_ms"), "warm_ready": med(warm, "exec_to_ready_ms"),
            "cold_fetch": med(cold, "model_fetch_ms"), "warm_fetch": med(warm, "model_fetch_ms"),
            "cold_verify": med(cold, "model_verify_ms"), "warm_verify": med(warm, "model_verify_ms"),
            "cold_load": med(cold, "model_load_ms"), "warm_load": med(warm, "model_load_ms"),
        }
        mf = mb / fetch_s
        bt = mb / statistics.median(boto)
        bth = mb / statistics.median(boto_hash)
        for k, v in rows.items():
            print(f"  {k}: {v:.1f} ms")
        print(f"  fetch throughput: modelfn (download + sha256) {mf:.0f} MB/s; boto3 download {bt:.0f} MB/s;"
              f" boto3 download + sha256 {bth:.0f} MB/s")
        md = [
            f"## Model store: cold fetch vs warm cache, fetch throughput vs boto3 ({today()})",
            "",
            "`scripts/bench.sh --store` (bench/store_bench.py).",
            "",
            f"- Machine: {machine()}. SeaweedFS's S3 gateway on loopback,"
            f" in the same run.",
            f"- Model: {mb:.1f} MB ONNX (one initializer), pushed with `modelfn push`, served as `{uri}`;"
            f" {args.runs} runs each, medians.",
            "",
            "| phase (ms) | cold: empty host cache | warm: cached and verified | cold / warm |",
            "| --- | --- | --- | --- |",
            f"| exec to ready (init line) | {rows['cold_ready']:.0f} | {rows['warm_ready']:.0f} |"
            f" {rows['cold_ready'] / rows['warm_ready']:.1f}x |",
            f"| model_fetch_ms (resolve, download, sha256 into the cache) | {rows['cold_fetch']:.0f} |"
            f" {rows['warm_fetch']:.1f} | {rows['cold_fetch'] / max(rows['warm_fetch'], 0.01):.0f}x |",
            f"| model_verify_ms (read once, sha256 before load) | {rows['cold_verify']:.0f} | {rows['warm_verify']:.0f} | |",
            f"| model_load_ms (ONNX Runtime from the verified bytes) | {rows['cold_load']:.0f} | {rows['warm_load']:.0f} | |",
            "",
            f"- Fetch throughput from the same server: modelfn {mf:.0f} MB/s (download and sha256 verify);"
            f" boto3 `download_file` {bt:.0f} MB/s (download only), {bth:.0f} MB/s with hashlib.sha256 after it."
            f" modelfn / boto3: {mf / bt:.2f}x (download only), {mf / bth:.2f}x (same work).",
        ]
        out = write_section("store", "\n".join(md), args.out)
        print(f"wrote {out}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Text and images through the manifest's pipeline, against the Python way of doing the same, in one
invocation (docs/benchmarks.md, section "pipeline"):

  1. End to end: a text model's /v1/infer answering one text per request, modelfn-fn against
     FastAPI + uvicorn + the `tokenizers` package + onnxruntime (bench/fastapi_text_peer.py), under
     wrk at 1 connection (p50) and 16 (req/s), in alternating rounds.
  2. Cold start: exec to the first text answer for both; and what loading the tokenizer adds to
     modelfn-fn's init (`runtime_init_ms` of the init log line, the same version with and without
     its text inputs, alternating runs).
  3. Images: decode + resize + normalise of one image into a 224 x 224 input, modelfn's pipeline
     in-process (bench/image_prep_bench.cc) against Pillow + numpy, JPEG, PNG and WebP.

Run through `scripts/bench.sh --pipeline [--model DIR] [--image FILE]`.
"""
import argparse
import io
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("MODELFN_BUILD_DIR", ROOT / "build"))
PY = sys.executable
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402
from run import free_port, wait_ready, wrk  # noqa: E402

TEXT = "The plot was predictable, but the acting and the music made it a film I would watch again."
IMAGE_SPEC = {"name": "image", "source": "image", "size": [224, 224],
              "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def server_cmd(kind, model_dir, port):
    if kind == "modelfn":
        return [str(BUILD / "modelfn-fn"), "--model", str(model_dir), "--port", str(port),
                "--host", "127.0.0.1"]
    return [PY, str(ROOT / "bench" / "fastapi_text_peer.py"), str(model_dir), str(port)]


def answer(port, body):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/v1/infer", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def labels_of(outputs):
    return {k: v["label"] for k, v in outputs.items() if isinstance(v, dict) and "label" in v}


def end_to_end(model_dir, body_file, seconds, rounds):
    body = body_file.read_bytes()
    runs = {"modelfn": [], "python": []}
    answers = {}
    for _ in range(rounds):
        for kind in runs:
            port = free_port()
            p = subprocess.Popen(server_cmd(kind, model_dir, port), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                wait_ready(port, body)
                status, got = answer(port, body)
                answers[kind] = labels_of(got["outputs"])
                c1 = wrk(port, body_file, 1, seconds)
                c16 = wrk(port, body_file, 16, seconds)
                runs[kind].append({"p50_us": c1["p50_us"], "p99_us": c1["p99_us"],
                                   "rps16": c16["rps"], "errors": c1["non_2xx"] + c16["non_2xx"] +
                                   c1["socket_errors"] + c16["socket_errors"]})
            finally:
                p.terminate()
                p.wait()
    if answers["modelfn"] != answers["python"] or not answers["modelfn"]:
        raise RuntimeError(f"the two servers answer differently: {answers}")
    return runs, answers["modelfn"]


def cold_start(kind, model_dir, body_file):
    port = free_port()
    out = subprocess.run([str(BUILD / "bench" / "coldstart_probe"), str(port), str(body_file), "--",
                          *server_cmd(kind, model_dir, port)], capture_output=True, text=True,
                         timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} cold start failed: {out.stderr}")
    return float(out.stdout)


def init_line(model_dir):
    """modelfn-fn's init log line for a version (the process is stopped once it is read)."""
    p = subprocess.Popen([str(BUILD / "modelfn-fn"), "--model", str(model_dir), "--port", "0",
                          "--host", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    try:
        for line in p.stdout:
            if '"event":"init"' in line:
                return json.loads(line)
        raise RuntimeError(f"{model_dir}: no init line")
    finally:
        p.terminate()
        p.wait()


def without_text_inputs(model_dir, tmp):
    """A copy of the version whose pipeline has no text inputs: the tokenizer is not loaded."""
    d = pathlib.Path(tmp) / "no-tokenizer"
    shutil.copytree(model_dir, d)
    m = json.loads((d / "manifest.json").read_text())
    m["pipeline"]["inputs"] = [i for i in m["pipeline"].get("inputs", []) if i["source"] != "text"]
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def tokenizer_init(model_dir, runs):
    with tempfile.TemporaryDirectory() as tmp:
        bare = without_text_inputs(model_dir, tmp)
        got = {"with": [], "without": []}
        for _ in range(runs):
            got["with"].append(init_line(model_dir))
            got["without"].append(init_line(bare))
    med = lambda kind, key: statistics.median(line.get(key, 0) for line in got[kind])
    keys = ("runtime_init_ms", "model_load_ms", "tokenizer_load_ms", "tokenizer_wait_ms")
    return {k: {key: med(k, key) for key in keys} for k in got}


def pillow_prep(data, spec):
    h, w = spec["size"]
    img = Image.open(io.BytesIO(data)).convert("RGB").resize((w, h), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32) * (1 / 255)
    x = (x - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)
    return x.transpose(2, 0, 1)[None]


def time_pillow(data, spec, seconds):
    n, t0 = 0, time.perf_counter()
    while n < 5 or time.perf_counter() - t0 < seconds:
        pillow_prep(data, spec)
        n += 1
    return (time.perf_counter() - t0) * 1000 / n


def time_modelfn(path, spec, seconds):
    out = subprocess.run([str(BUILD / "bench" / "image_prep_bench"), json.dumps(spec), str(path),
                          str(seconds)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["ms_per_image"]


def images(photo, seconds, rounds):
    src = Image.open(photo).convert("RGB")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, opts in (("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {"quality": 90})):
            path = pathlib.Path(tmp) / f"photo.{fmt.lower()}"
            buf = io.BytesIO()
            src.save(buf, fmt, **opts)
            path.write_bytes(buf.getvalue())
            ours, theirs = [], []
            for _ in range(rounds):
                ours.append(time_modelfn(path, IMAGE_SPEC, seconds))
                theirs.append(time_pillow(buf.getvalue(), IMAGE_SPEC, seconds))
            rows.append((fmt, len(buf.getvalue()), statistics.median(ours), statistics.median(theirs)))
    return src.size, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=pathlib.Path, default=ROOT / "examples" / "sentiment")
    ap.add_argument("--image", type=pathlib.Path, default=None,
                    help="a photo (default: a 640 x 480 noisy gradient made with numpy)")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=9)
    ap.add_argument("--out", default=None, help="write the section here instead of docs/benchmarks.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photo = args.image
        if photo is None:  # smooth gradients and noise: neither a flat nor a random picture
            y, x = np.mgrid[0:480, 0:640]
            rng = np.random.default_rng(7)
            a = np.stack([x * 255 / 640, y * 255 / 480, (x + y) * 255 / 1120], -1)
            a = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
            photo = pathlib.Path(tmp) / "gradient.png"
            Image.fromarray(a).save(photo)
        size, image_rows = images(photo, min(args.seconds, 3), args.rounds)
        photo_name = args.image.name if args.image else "a 640 x 480 noisy gradient"
    with tempfile.TemporaryDirectory() as tmp:
        body_file = pathlib.Path(tmp) / "body.json"
        body_file.write_text(json.dumps({"inputs": TEXT}))
        runs, labels = end_to_end(args.model, body_file, args.seconds, args.rounds)
        cold = {k: statistics.median(cold_start(k, args.model, body_file) for _ in range(args.cold_runs))
                for k in ("modelfn", "python")}
    tok = tokenizer_init(args.model, args.cold_runs)

    med = lambda kind, key: statistics.median(r[key] for r in runs[kind])
    m, p = "modelfn", "python"
    lines = [
        f"## Text and images through the pipeline: modelfn-fn vs Python ({today()})",
        "",
        f"- Machine: {machine()}; wrk (1 thread) shares the cores with the server.",
        f"- Command: `scripts/bench.sh --pipeline --model {os.path.relpath(args.model, ROOT)}"
        f"{' --image ' + args.image.name if args.image else ''}` "
        f"(bench/pipeline_bench.py); {args.rounds} alternating rounds of {args.seconds:g} s per "
        "measure, medians.",
        f"- Text model: `{os.path.relpath(args.model, ROOT)}`; one text per request "
        f"({len(TEXT)} characters), both answering {labels}. Python: FastAPI + uvicorn (one "
        "worker) + `tokenizers` + onnxruntime (bench/fastapi_text_peer.py), intra-op threads 1 "
        "as modelfn-fn's default.",
        "",
        "| measure | modelfn-fn | Python | ratio |",
        "| --- | --- | --- | --- |",
        f"| p50 at 1 connection | {med(m, 'p50_us'):.0f} µs | {med(p, 'p50_us'):.0f} µs | "
        f"{med(p, 'p50_us') / med(m, 'p50_us'):.2f}x faster |",
        f"| p99 at 1 connection | {med(m, 'p99_us'):.0f} µs | {med(p, 'p99_us'):.0f} µs | "
        f"{med(p, 'p99_us') / med(m, 'p99_us'):.2f}x faster |",
        f"| req/s at 16 connections | {med(m, 'rps16'):.0f} | {med(p, 'rps16'):.0f} | "
        f"{med(m, 'rps16') / med(p, 'rps16'):.2f}x |",
        f"| errors | {sum(r['errors'] for r in runs[m])} | {sum(r['errors'] for r in runs[p])} | |",
        f"| cold start, exec to first text answer (median of {args.cold_runs}) | {cold[m]:.1f} ms | "
        f"{cold[p]:.0f} ms | {cold[p] / cold[m]:.1f}x faster |",
        "",
        f"Loading the tokenizer at init (modelfn-fn's `runtime_init_ms`, median of {args.cold_runs} "
        "alternating runs; the tokenizer loads on a second thread while ONNX Runtime creates its "
        f"session): **{tok['with']['runtime_init_ms']:.1f} ms** with the text inputs against "
        f"{tok['without']['runtime_init_ms']:.1f} ms for the same version without them, i.e. "
        f"**{tok['with']['runtime_init_ms'] - tok['without']['runtime_init_ms']:+.1f} ms** "
        f"(`model_load_ms` {tok['with']['model_load_ms']:.1f} vs {tok['without']['model_load_ms']:.1f}). "
        f"The init line's own account: the tokenizer loaded in {tok['with']['tokenizer_load_ms']:.1f} ms "
        f"on its thread, and init waited **{tok['with']['tokenizer_wait_ms']:.1f} ms** for it after the "
        "session was made (medians); the rest of the difference is the two threads sharing the cores.",
        "",
        f"Images: one {size[0]} x {size[1]} picture ({photo_name}) re-encoded by "
        "Pillow, decoded, resized (bilinear, antialiased) to 224 x 224 and normalised into an FP32 "
        "NCHW input; modelfn's pipeline in-process (bench/image_prep_bench.cc) against Pillow 13 + "
        "numpy (`Image.open().convert('RGB').resize()`, then scale, mean, std, transpose).",
        "",
        "| format | bytes | modelfn | Pillow + numpy | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for fmt, nbytes, ours, theirs in image_rows:
        lines.append(f"| {fmt} | {nbytes:,} | {ours:.2f} ms | {theirs:.2f} ms | {theirs / ours:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    write_section("pipeline", text, args.out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The compute-bound goal measured like for like on a machine whose client has no cores of its own:
the server and ONNX Runtime's raw Run loop each get the same CPU (taskset), and wrk gets another.

On a two-CPU machine, "served rows per second against the raw Run loop on the same cores" cannot
separate the server's cost from the client's when wrk shares the server's CPUs (bench/peers_bench.py
measures that case). Here CPU 0 is the server's and CPU 1 is wrk's:

  raw        bench/ort_run_loop MODEL --threads 1 --rows R, pinned to CPU 0, for each R: rows/s
  served     modelfn-fn --batching on, pinned to CPU 0 (its CPU count, runners and ONNX Runtime
             threads follow the affinity: one of each), wrk -c64 pinned to CPU 1, with /v1/infer JSON
             bodies and with the Open Inference Protocol's binary tensors

Models (--model, default both):
  mlp          bench/make_mlp.py's medium MLP: 1,024 floats in per row, a Run of about 125-200 us per
               row at 32 rows, so the request's own cost (HTTP, 10 KB of JSON) is as large as its Run
  transformer  bench/make_transformer.py's 23 MB text encoder, 16 tokens per row: a Run of about
               1.5 ms per row at any batch, a 200-byte request; the compute-bound case
With --rows-per-request N every request carries N rows (the example's rows repeated), so the
request's own cost is shared by N rows of the Run; rows/s is then requests/s x N.
Needs two CPUs.

  scripts/bench.sh --pinned [--model mlp|transformer] [--rows-per-request N] [--seconds 5]
                            [--rounds 3] [--out FILE]
"""
import argparse
import json
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402
from run import BUILD, free_port, wait_ready  # noqa: E402

SERVER_CPU, CLIENT_CPU = "0", "1"
ROWS = (1, 8, 32)
MODELS = {
    # name: (generator, its description in the report)
    "mlp": ("make_mlp.py", "bench/make_mlp.py's medium MLP (4 layers of 1024, 17 MB)"),
    "transformer": ("make_transformer.py",
                    "bench/make_transformer.py's text encoder (23 MB, 4 layers, 16 tokens)"),
}


def raw_rows_per_s(model, rows, seconds, dims):
    out = subprocess.run(["taskset", "-c", SERVER_CPU, str(BUILD / "bench" / "ort_run_loop"),
                          str(model), "--seconds", str(seconds), "--threads", "1", "--rows",
                          str(rows), *dims], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["throughput_rps"] * rows


def wrk(port, path, body_file, content_type, extra_header, seconds, connections=64):
    lua = pathlib.Path(body_file).with_suffix(".lua")
    header = ""
    if extra_header:
        header = f'wrk.headers["{extra_header[0]}"] = "{extra_header[1]}"\n'
    lua.write_text(f'local f = assert(io.open("{body_file}", "rb"))\nwrk.method = "POST"\n'
                   f'wrk.body = f:read("*a")\nf:close()\n'
                   f'wrk.headers["Content-Type"] = "{content_type}"\n{header}')
    out = subprocess.run(["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}",
                          f"-d{max(1, round(seconds))}s", "--latency", "-s", str(lua),
                          f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx and int(non2xx.group(1)):
        raise RuntimeError(f"{non2xx.group(1)} answers were not 2xx:\n{out}")
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p99_us = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), p99_us


BINARY = {"FP32": "f", "FP64": "d", "INT64": "q", "INT32": "i"}


def request_tensors(model_dir, json_body):
    """The model's example request as [(manifest input, shape, flat values)]."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    given = json.loads(json_body)["inputs"]
    if isinstance(given, list):  # one input, given as rows
        given = {manifest["inputs"][0]["name"]: given}
    out = []
    for spec in manifest["inputs"]:
        rows = given[spec["name"]]
        flat = [v for row in rows for v in (row if isinstance(row, list) else [row])]
        out.append((spec, [len(rows), len(flat) // len(rows)], flat))
    return manifest, out


def raw_dims(tensors):
    """--dim flags giving the raw loop the request's size for each symbolic dimension past the
    first (e.g. a transformer's sequence length)."""
    dims = {}
    for spec, shape, _ in tensors:
        for name, size in zip(spec["shape"][1:], shape[1:]):
            if isinstance(name, str):
                dims[name] = size
    return [flag for name, size in dims.items() for flag in ("--dim", f"{name}={size}")]


def binary_body(tmp, model_dir, manifest, tensors):
    """The request as an Open Inference Protocol request with binary tensors (every input in its
    datatype), every output asked back as binary."""
    import struct
    header, data = {"inputs": [], "outputs": []}, b""
    for spec, shape, flat in tensors:
        raw = struct.pack(f"<{len(flat)}{BINARY[spec['datatype']]}", *flat)
        header["inputs"].append({"name": spec["name"], "datatype": spec["datatype"],
                                 "shape": shape, "parameters": {"binary_data_size": len(raw)}})
        data += raw
    for spec in manifest["outputs"]:
        header["outputs"].append({"name": spec["name"], "parameters": {"binary_data": True}})
    head = json.dumps(header).encode()
    path = pathlib.Path(tmp) / f"{model_dir.name}.bin"
    path.write_bytes(head + data)
    return path, len(head)


def repeat_rows(tmp, json_body, n):
    """The example request with each input's rows repeated until it holds n rows."""
    doc = json.loads(json_body.read_text())
    given = doc["inputs"]
    grow = lambda rows: [rows[i % len(rows)] for i in range(n)]  # noqa: E731
    doc["inputs"] = ({k: grow(v) for k, v in given.items()} if isinstance(given, dict)
                     else grow(given))
    path = pathlib.Path(tmp) / f"{json_body.parent.parent.name}-{n}rows.json"
    path.write_text(json.dumps(doc))
    return path


def measure(tmp, name, args):
    """Alternating rounds of the raw loop and the served loads for one model; returns
    ({rows: [rows/s]}, {load: [(req/s, p99 us)]})."""
    generator, _ = MODELS[name]
    model = pathlib.Path(tmp) / name
    subprocess.run([sys.executable, str(ROOT / "bench" / generator), str(model)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([str(BUILD / "modelfn"), "manifest", str(model / "model.onnx"), "--name",
                    name, "--version", "1"], check=True, stdout=subprocess.DEVNULL)
    json_body = model / "requests" / "infer.json"
    if args.rows_per_request > 1:
        json_body = repeat_rows(tmp, json_body, args.rows_per_request)
    manifest, tensors = request_tensors(model, json_body.read_text())
    dims = raw_dims(tensors)
    bin_body, header_len = binary_body(tmp, model, manifest, tensors)
    loads = {
        "JSON (`/v1/infer`)": ("/v1/infer", json_body, "application/json", None),
        f"binary tensors (`/v2/models/{name}/infer`)": (
            f"/v2/models/{name}/infer", bin_body, "application/octet-stream",
            ("Inference-Header-Content-Length", str(header_len))),
    }
    raw = {r: [] for r in ROWS}
    served = {load: [] for load in loads}
    for _ in range(args.rounds):  # alternating, so that a noisy minute touches every row
        for r in ROWS:
            raw[r].append(raw_rows_per_s(model / "model.onnx", r, args.seconds, dims))
        port = free_port()
        p = subprocess.Popen(["taskset", "-c", SERVER_CPU, str(BUILD / "modelfn-fn"), "--model",
                              str(model), "--port", str(port), "--host", "127.0.0.1",
                              "--batching", "on"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(port, json_body.read_bytes(), timeout=120)
            for load, (path, body, ctype, extra) in loads.items():
                wrk(port, path, body, ctype, extra, 2)  # warm-up: the batcher learns
                rps, p99 = wrk(port, path, body, ctype, extra, args.seconds)
                served[load].append((rps * args.rows_per_request, p99))
        finally:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(30)
    return raw, served


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(MODELS), action="append",
                    help="a model to measure (repeatable; default: every one)")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows-per-request", type=int, default=1,
                    help="rows in each served request (default 1)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("pinned_bench needs two CPUs")
    names = args.model or list(MODELS)
    lines = [f"## The compute-bound goal with the client on its own CPU ({today()})", "",
             f"- Machine: {machine()}. CPU {SERVER_CPU}: the server, or ONNX Runtime's Run loop; "
             f"CPU {CLIENT_CPU}: wrk (1 thread, 64 connections). Nothing else shares CPU "
             f"{SERVER_CPU} but the host's own tasks.",
             "- Models: " + "; ".join(MODELS[n][1] for n in names) + "; "
             + ("one row" if args.rows_per_request == 1 else f"{args.rows_per_request} rows")
             + " per request;"
             " modelfn-fn with `--batching on` (one runner and one ONNX Runtime thread: its CPU "
             "count follows the affinity).",
             f"- Command: `scripts/bench.sh --pinned` (bench/pinned_bench.py); {args.rounds} rounds, "
             f"alternating, {args.seconds:g} s per row after 2 s of warm-up; medians (min-max).", "",
             "| model | load | rows/s | share of the raw Run loop at its best batch | p99 |",
             "| --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory(prefix="pinned-bench-") as tmp:
        for name in names:
            raw, served = measure(tmp, name, args)
            best_rows = max(ROWS, key=lambda r: statistics.median(raw[r]))
            ceiling = statistics.median(raw[best_rows])
            for r in ROWS:
                v = raw[r]
                lines.append(f"| {name} | ONNX Runtime's Run loop, {r} rows per Run, 1 thread | "
                             f"{statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f}) | "
                             f"{statistics.median(v) / ceiling:.0%} | |")
            for load, runs in served.items():
                rps = [x[0] for x in runs]
                p99 = statistics.median(x[1] for x in runs)
                lines.append(f"| {name} | modelfn-fn, {load} | {statistics.median(rps):,.0f} "
                             f"({min(rps):,.0f}-{max(rps):,.0f}) | "
                             f"{statistics.median(rps) / ceiling:.0%} | {p99 / 1000:.2f} ms |")
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"wrote {write_section('pinned', text, args.out)}")


if __name__ == "__main__":
    main()

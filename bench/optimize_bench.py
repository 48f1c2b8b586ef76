#!/usr/bin/env python3
"""`modelfn optimize` on the medium MLP (bench/make_mlp.py) and the 23 MB transformer
(bench/make_transformer.py): for the graph optimisations saved alone (level extended) and with
dynamic int8 quantisation, the model's size (and deflated, as a Lambda zip carries it), ONNX
Runtime session creation and Run time as `modelfn optimize` measures them, the accuracy against the
original on the samples, and modelfn-fn's cold start (exec -> first answer, coldstart_probe) of the
original and the optimised version in alternating rounds. Then the accuracy gate refusing a
threshold the int8 version cannot meet.

  pip install onnx numpy onnxruntime   (scripts/requirements-bench.txt; the quantiser needs them)
  bench/optimize_bench.py [--rounds 10] [--samples 64]

Samples: the model's requests/infer.json plus random rows of the same shape (MLP) or random token
sequences (transformer), written to a .jsonl.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from coldstart_bench import free_port, probe  # noqa: E402
from report import machine, today, write_section  # noqa: E402
from run import BUILD  # noqa: E402

CLI = BUILD / "modelfn"
FN = BUILD / "modelfn-fn"


def make(kind, out):
    subprocess.run([sys.executable, str(ROOT / "bench" / f"make_{kind}.py"), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([str(CLI), "manifest", str(out / "model.onnx"), "--name", kind, "--version",
                    "1.0.0"], check=True, stdout=subprocess.DEVNULL)


def samples(kind, model, n, path):
    rng = np.random.default_rng(3)
    first = json.loads((model / "requests" / "infer.json").read_text())
    lines = [json.dumps(first)]
    for _ in range(n - 1):
        if kind == "mlp":
            lines.append(json.dumps({"inputs": rng.standard_normal((1, 1024)).astype(np.float32).tolist()}))
        else:
            ids = [101] + rng.integers(1000, 9000, 14).tolist() + [102]
            lines.append(json.dumps({"inputs": {"input_ids": [ids], "attention_mask": [[1] * 16]}}))
    path.write_text("\n".join(lines) + "\n")


def optimize(src, out, sample_file, extra):
    r = subprocess.run([str(CLI), "optimize", str(src), "--out", str(out), "--samples",
                        str(sample_file), "--json", *extra], capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"modelfn optimize {extra}: {r.stderr}")
    return json.loads(r.stdout)


def coldstarts(folders, request, rounds):
    """modelfn-fn exec -> first answer for each folder, alternating, `rounds` each; medians."""
    times = {k: [] for k in folders}
    for _ in range(rounds):
        for k, d in folders.items():
            port = free_port()
            times[k].append(probe([str(port), str(request), "--", str(FN), "--model", str(d),
                                   "--port", str(port), "--host", "127.0.0.1"]))
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10, help="cold starts of each version")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    os.environ.setdefault("MODELFN_PYTHON", sys.executable)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-optbench-"))
    rows, gate = [], None
    for kind in ("mlp", "transformer"):
        src = tmp / kind
        make(kind, src)
        sample_file = tmp / f"{kind}.jsonl"
        samples(kind, src, args.samples, sample_file)
        outs = {}
        for label, extra in (("graph extended", []), ("dynamic int8", ["--quantize", "dynamic"])):
            out = tmp / f"{kind}-{label.split()[0]}"
            rep = optimize(src, out, sample_file, extra)
            outs[label] = (out, rep)
        cold = coldstarts({"original": src, **{k: v[0] for k, v in outs.items()}},
                          src / "requests" / "infer.json", args.rounds)
        for label, (out, rep) in outs.items():
            acc = rep["optimization"]["accuracy"]
            rows.append((kind, label, rep, acc, cold["original"], cold[label]))
        if kind == "mlp":
            bound = outs["dynamic int8"][1]["optimization"]["accuracy"]["max_abs_error"] / 10
            r = subprocess.run([str(CLI), "optimize", str(src), "--out", str(tmp / "refused"),
                                "--samples", str(sample_file), "--quantize", "dynamic",
                                "--max-abs-error", f"{bound:.6g}"], capture_output=True, text=True)
            gate = (bound, r.returncode, r.stderr.strip())
    lines = [f"## `modelfn optimize`: graph optimisation saved, int8 quantisation — {today()}", "",
             f"- Machine: {machine()}.",
             "- Models: bench/make_mlp.py's MLP (17 MB, x FP32 [N, 1024]) and bench/make_transformer.py's "
             "transformer (23 MB, 4 layers, 16 tokens); random weights.",
             f"- Command: `bench/optimize_bench.py --rounds {args.rounds} --samples {args.samples}`; "
             "`modelfn optimize --json` reports size, session creation (median of 5) and one Run per "
             "sample for 16 samples (median of 5) for both models in one process; cold start is "
             f"modelfn-fn exec → first answer, median of {args.rounds} alternating rounds.",
             f"- Samples: the model's requests/infer.json and {args.samples - 1} random inputs of the "
             "same shape; the quantiser: onnxruntime.quantization from PyPI.", "",
             "| model | version | size | in a Lambda zip | session creation | Run (16 samples) | cold start | max abs error (largest value) | argmax agreement |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for kind, label, rep, acc, cold_src, cold_out in rows:
        b, a, q = rep["before"], rep["after"], rep["ratios"]
        out_acc = acc["outputs"][0]
        agree = "" if acc["agreement"] is None else f"{acc['agreement']:.3f}"
        lines.append(
            f"| {kind} | {label} | {b['bytes'] / 1e6:.1f} → {a['bytes'] / 1e6:.1f} MB ({q['bytes']:.2f}x) "
            f"| {b['zipped_bytes'] / 1e6:.1f} → {a['zipped_bytes'] / 1e6:.1f} MB ({q['zipped_bytes']:.2f}x) "
            f"| {b['session_ms']:.1f} → {a['session_ms']:.1f} ms ({q['session_ms']:.2f}x) "
            f"| {b['run_ms']:.2f} → {a['run_ms']:.2f} ms ({q['run_ms']:.2f}x) "
            f"| {cold_src:.1f} → {cold_out:.1f} ms ({cold_out / cold_src:.2f}x) "
            f"| {acc['max_abs_error']:.3g} ({out_acc.get('max_abs_value', 0):.3g}) | {agree} |")
    if gate:
        lines += ["", f"The gate: the MLP's int8 version with `--max-abs-error {gate[0]:.3g}` (a tenth of "
                  f"the error measured) exits {gate[1]} and writes nothing: `{gate[2]}`"]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section("optimize", text)


if __name__ == "__main__":
    main()

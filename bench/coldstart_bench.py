#!/usr/bin/env python3
"""Cold start of a real-sized model: modelfn-fn exec -> first answer against ONNX Runtime's own floor.

The model is bench/make_transformer.py's 23 MB text encoder (written to a temporary folder, with
its manifest from `modelfn manifest`), or any model folder given with --model (its
requests/infer.json is the first request). In alternating rounds, so that the machine's noise
weighs on all alike:
  floor     bench/ort_run_loop --seconds 0: exec, ONNX Runtime environment, session from the file,
            one Run on zeros, exit (bench/coldstart_probe --exit)
  modelfn   modelfn-fn --model DIR: exec to the first 200 answer of POST /v1/infer
  baseline  (--baseline BUILD) the same with an older build's modelfn-fn
Then one more start of modelfn-fn for its init line (the phases of its own account).

    scripts/bench.sh --coldstart [--runs 15] [--baseline BUILD] [--model DIR] [--out FILE]
"""
import argparse
import json
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402
from run import BUILD  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(args):
    out = subprocess.run([str(BUILD / "bench" / "coldstart_probe"), *args], capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"cold start failed: {out.stderr}")
    return float(out.stdout)


def floor_ms(model):
    return probe(["--exit", "--", str(BUILD / "bench" / "ort_run_loop"), str(model / "model.onnx"),
                  "--seconds", "0"])


def modelfn_ms(fn, model):
    port = free_port()
    return probe([str(port), str(model / "requests" / "infer.json"), "--", str(fn), "--model",
                  str(model), "--port", str(port), "--host", "127.0.0.1"])


def init_line(fn, model):
    port = free_port()
    p = subprocess.Popen([str(fn), "--model", str(model), "--port", str(port), "--host", "127.0.0.1"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in p.stdout:
            event = json.loads(line)
            if event.get("event") == "init":
                return event
    finally:
        p.terminate()
        p.wait()
    raise RuntimeError("no init line")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--model", default=None, help="a model folder (default: the 23 MB transformer)")
    ap.add_argument("--baseline", metavar="BUILD", default=None,
                    help="also measure the modelfn-fn of BUILD in the same rounds")
    ap.add_argument("--out", default=None, help="markdown file to update (default docs/benchmarks.md)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="coldstart-bench-") as tmp:
        if args.model:
            model = pathlib.Path(args.model).resolve()
            label = model.name
        else:
            model = pathlib.Path(tmp) / "transformer"
            subprocess.run([sys.executable, str(ROOT / "bench" / "make_transformer.py"), str(model)],
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run([str(BUILD / "modelfn"), "manifest", str(model / "model.onnx"), "--name",
                            "transformer", "--version", "1"], check=True, stdout=subprocess.DEVNULL)
            label = "bench/make_transformer.py's text encoder"
        size_mb = (model / "model.onnx").stat().st_size / 1e6
        contenders = {"floor": lambda: floor_ms(model),
                      "modelfn": lambda: modelfn_ms(BUILD / "modelfn-fn", model)}
        if args.baseline:
            base = pathlib.Path(args.baseline).resolve() / "modelfn-fn"
            contenders["baseline"] = lambda: modelfn_ms(base, model)
        samples = {k: [] for k in contenders}
        for _ in range(args.runs):
            for k, f in contenders.items():
                samples[k].append(f())
        init = init_line(BUILD / "modelfn-fn", model)
    med = {k: statistics.median(v) for k, v in samples.items()}
    names = {"floor": "ONNX Runtime floor (exec, environment, session, one Run, exit)",
             "modelfn": "modelfn-fn, exec → first answer",
             "baseline": f"modelfn-fn of `{args.baseline}`, exec → first answer"}
    lines = [f"## Cold start of a {size_mb:.0f} MB model ({today()})", "",
             f"- Machine: {machine()}.",
             f"- Model: {label}, {size_mb:.1f} MB; first request its requests/infer.json.",
             f"- Command: `scripts/bench.sh --coldstart`{' --baseline ' + args.baseline if args.baseline else ''}"
             f" ({args.runs} alternating rounds; bench/coldstart_bench.py).", "",
             "| contender | median | min | max | vs floor |", "| --- | --- | --- | --- | --- |"]
    for k in samples:
        v = samples[k]
        lines.append(f"| {names[k]} | {med[k]:.1f} ms | {min(v):.1f} ms | {max(v):.1f} ms | "
                     f"{med[k] / med['floor']:.2f}x |")
    phases = ", ".join(f"{k} {init[k]:.1f}" for k in
                       ("runtime_init_ms", "model_verify_ms", "model_digest_ms", "model_load_ms",
                        "ort_env_ms", "warmup_ms") if k in init)
    lines += ["", f"modelfn-fn's own account of one more start (ms): {phases}."]
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"wrote {write_section('coldstart-23mb', text, args.out)}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Cold start per face: the same modelfn-fn binary and model, started as each cloud starts it (the
environment picks the face, src/faces/face_choice.h), exec to the first 200 answer on /v1/infer,
measured by bench/coldstart_probe (C++, fresh connection every 200 us). Runs alternate between the
faces so they share the machine's noise; the http face is the baseline of the ratios.

  http          PORT                              (Cloud Run's plain HTTP, `modelfn-fn` by hand)
  cloudevents   K_SERVICE + PORT                  (Cloud Run / Cloud Functions 2nd gen, Knative)
  azure         FUNCTIONS_CUSTOMHANDLER_PORT      (Azure Functions custom handler)

The Lambda face answers through the Runtime API, not a port: its cold invoke under the Runtime
Interface Emulator is bench/lambda_bench.py's ("scripts/bench.sh --lambda").

  scripts/bench.sh --faces [--runs N] [--no-write]
"""
import argparse
import os
import pathlib
import socket
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("MODELFN_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402

FACES = ["http", "cloudevents", "azure"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def face_env(face, port):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PORT", "K_SERVICE", "FUNCTIONS_CUSTOMHANDLER_PORT", "AWS_LAMBDA_RUNTIME_API")}
    if face == "http":
        env["PORT"] = str(port)
    elif face == "cloudevents":
        env.update(PORT=str(port), K_SERVICE="bench", K_REVISION="bench-00001")
    elif face == "azure":
        env["FUNCTIONS_CUSTOMHANDLER_PORT"] = str(port)
    return env


def cold_start_ms(face, model_dir, body_file):
    port = free_port()
    cmd = [str(BUILD / "bench" / "coldstart_probe"), str(port), str(body_file), "--",
           str(BUILD / "modelfn-fn"), "--model", str(model_dir), "--host", "127.0.0.1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=face_env(face, port))
    if out.returncode != 0:
        raise RuntimeError(f"{face}: no first answer: {out.stderr.strip()}")
    return float(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "examples" / "digits"))
    ap.add_argument("--body", default=None, help="default: MODEL/requests/infer.json")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = ap.parse_args()
    model = pathlib.Path(args.model)
    body = pathlib.Path(args.body) if args.body else model / "requests" / "infer.json"

    samples = {f: [] for f in FACES}
    for _ in range(args.runs):
        for face in FACES:
            samples[face].append(cold_start_ms(face, model, body))
    base = statistics.median(samples["http"])
    rows = []
    for face in FACES:
        s = samples[face]
        med = statistics.median(s)
        rows.append(f"| {face}{' (baseline)' if face == 'http' else ''} | {med:.1f} ms | "
                    f"{min(s):.1f} ms | {max(s):.1f} ms | {med / base:.2f}x |")
    md = "\n".join([
        f"## Cold start per face — {today()}",
        "",
        f"- Machine: {machine()}.",
        f"- Model: {model.relative_to(ROOT) if model.is_relative_to(ROOT) else model}, "
        f"body {body.name}; {args.runs} runs per face, alternated.",
        "- Command: `scripts/bench.sh --faces` (bench/face_coldstart.py): the same modelfn-fn started"
        " with each cloud's environment, exec to the first 200 answer on /v1/infer"
        " (bench/coldstart_probe).",
        "",
        "| face (environment) | median | min | max | vs http |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        "The Lambda face's cold invoke (under the Runtime Interface Emulator) is in the Lambda"
        " section.",
    ])
    print(md)
    if not args.no_write:
        write_section("faces", md)


if __name__ == "__main__":
    main()

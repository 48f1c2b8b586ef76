#!/usr/bin/env python3
"""Lambda benchmark: under the same AWS Lambda Runtime Interface Emulator, in one run,
  - modelfn's zip (`modelfn package`, unpacked; bootstrap = the packaged launcher), and
  - the seed's Python handler (bench/lambda_app.py: onnxruntime under awslambdaric),
the cold start (spawn of the emulator to the end of the first invoke: process start, init,
first answer) and the warm invoke time, plus both packages' sizes.

Run through scripts/bench.sh --lambda.
"""
import argparse
import json
import os
import pathlib
import shutil
import site
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("MODELFN_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from report import machine, today, write_section  # noqa: E402
from servers import TOOLS, free_ports, wait_port  # noqa: E402


def run_rie(command, cwd, env, body, warm):
    port, api = free_ports(2)
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(TOOLS / "bin" / "aws-lambda-rie"), "--runtime-interface-emulator-address",
                             f"127.0.0.1:{port}", "--runtime-api-address", f"127.0.0.1:{api}", *command],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_port(port, 30, proc)
        ready = time.perf_counter()
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        s = requests.Session()
        t1 = time.perf_counter()
        r = s.post(url, data=body, timeout=120)
        cold = (time.perf_counter() - t1) * 1000
        assert r.status_code == 200 and "outputs" in r.json(), r.text
        times = []
        for _ in range(warm):
            t = time.perf_counter()
            s.post(url, data=body, timeout=60).raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
        return cold, times, (ready - t0) * 1000
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def zip_dir(src, out):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(pathlib.Path(src).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                z.write(p, p.relative_to(src))
    return out.stat().st_size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold-runs", type=int, default=7)
    ap.add_argument("--warm", type=int, default=200)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    model = ROOT / "examples" / "digits"
    body = json.dumps({"inputs": [json.loads((model / "requests" / "infer.json").read_text())["inputs"][0]]})
    work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-lambda-bench-"))
    try:
        zip_path = work / "function.zip"
        subprocess.run([str(BUILD / "modelfn"), "package", "--target", "aws-lambda-zip", "--model", str(model),
                        "--out", str(zip_path)], check=True, capture_output=True)
        task = work / "task"
        with zipfile.ZipFile(zip_path) as z:
            for info in z.infolist():
                z.extract(info, task)
                os.chmod(task / info.filename, (info.external_attr >> 16) & 0o777)
        # The Python function's package: app.py, the model, and its dependencies as a layer would.
        py = work / "py"
        (py / "model").mkdir(parents=True)
        shutil.copy(ROOT / "bench" / "lambda_app.py", py / "app.py")
        shutil.copy(model / "model.onnx", py / "model" / "model.onnx")
        sp = pathlib.Path(site.getsitepackages()[0])
        deps = work / "pydeps"
        for name in ("onnxruntime", "numpy", "numpy.libs", "awslambdaric", "flatbuffers", "packaging", "protobuf",
                     "google", "sympy", "mpmath", "coloredlogs", "humanfriendly", "simplejson", "snapshot_restore_py.py"):
            if (sp / name).is_dir():
                shutil.copytree(sp / name, deps / name)
            elif (sp / name).is_file():
                deps.mkdir(exist_ok=True)
                shutil.copy(sp / name, deps / name)
        py_zip = zip_dir(py, work / "py.zip") + zip_dir(deps, work / "pydeps.zip")

        env = {"PATH": "/usr/bin:/bin", "LAMBDA_TASK_ROOT": str(task), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}
        py_env = {"PATH": f"{pathlib.Path(sys.executable).parent}:/usr/bin:/bin", "LAMBDA_TASK_ROOT": str(py),
                  "PYTHONPATH": f"{py}:{sp}", "MODEL_DIR": str(py / "model"), "ORT_DISABLE_TELEMETRY": "1"}
        results = {}
        for kind, cmd, cwd, e in (("modelfn", [str(task / "bootstrap")], task, env),
                                  ("python", [sys.executable, "-m", "awslambdaric", "app.handler"], py, py_env)):
            colds, warms, listen = [], [], []
            for i in range(args.cold_runs):
                cold, warm, rie_ms = run_rie(cmd, cwd, e, body, args.warm if i == 0 else 0)
                colds.append(cold)
                listen.append(rie_ms)
                warms += warm
            results[kind] = {"cold_ms": statistics.median(colds), "cold_min": min(colds),
                             "warm_p50": statistics.median(warms),
                             "warm_p99": sorted(warms)[int(0.99 * (len(warms) - 1))]}
            print(kind, results[kind], flush=True)
        m, p = results["modelfn"], results["python"]
        md = [
            f"## Lambda: modelfn's zip vs the seed's Python handler under aws-lambda-rie ({today()})",
            "",
            "`scripts/bench.sh --lambda` (bench/lambda_bench.py).",
            "",
            f"- Machine: {machine()}. Both functions run under the same AWS Lambda Runtime Interface Emulator"
            " (built from its Go module), on the digits model, one row per invoke, direct invoke.",
            "- Cold: from the emulator accepting connections to the end of the first invoke (the emulator starts"
            f" the runtime on that invoke: exec, init, answer); median of {args.cold_runs} fresh emulators."
            f" Warm: {args.warm} invokes after it, client round trip through the emulator.",
            "- modelfn: the unpacked `modelfn package` zip (bootstrap launcher, bundled loader and libraries)."
            " Python: bench/lambda_app.py with onnxruntime under awslambdaric, from this machine's Python.",
            "",
            "| measure | modelfn zip | Python + onnxruntime + awslambdaric | ratio |",
            "| --- | --- | --- | --- |",
            f"| cold invoke, median ms | {m['cold_ms']:.1f} (min {m['cold_min']:.1f}) | {p['cold_ms']:.0f} (min"
            f" {p['cold_min']:.0f}) | {p['cold_ms'] / m['cold_ms']:.1f}x faster |",
            f"| warm invoke p50 / p99 ms | {m['warm_p50']:.2f} / {m['warm_p99']:.2f} | {p['warm_p50']:.2f} /"
            f" {p['warm_p99']:.2f} | {p['warm_p50'] / m['warm_p50']:.1f}x |",
            f"| package, zipped | {zip_path.stat().st_size / 1e6:.1f} MB (one zip) | {py_zip / 1e6:.1f} MB (app +"
            " dependencies) | |",
        ]
        out = write_section("lambda", "\n".join(md), args.out)
        print(f"wrote {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

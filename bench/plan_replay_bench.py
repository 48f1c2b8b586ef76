"""How close `modelfn plan` comes to what `modelfn up` measures: the replay of
tests/plan_replay.py (a recorded traffic through the platform, then the `local` plan from its
access log), run --runs times with min instances 0 and 1. Prints each run and writes a table to
docs/plan.md (section bench:plan-replay): predicted against measured cold starts, p50 and p99, and
the error of each, with the median and the worst over the runs.

    scripts/bench.sh --plan-replay [--runs 5] [--cycles 10]
"""
import argparse
import json
import pathlib
import statistics
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from report import machine, today, write_section  # noqa: E402
from plan_replay import replay  # noqa: E402


def err(p, m):
    return (p - m) / m * 100 if m else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rows = []
    for run in range(1, args.runs + 1):
        for mi in (0, 1):
            with tempfile.TemporaryDirectory() as t:
                r = replay(pathlib.Path(t), mi, cycles=args.cycles)
            r["run"], r["min"] = run, mi
            rows.append(r)
            keys = ("run", "min", "run_ms", "predicted", "measured", "client_cpu_ms")
            print(json.dumps({k: r[k] for k in keys}), flush=True)
    lines = [f"{today()}, {machine()}, {args.runs} runs of {args.cycles} cycles each "
             f"(`scripts/bench.sh --plan-replay`). Predicted / measured, and the error of the "
             f"prediction:", "",
             "| run | min | run ms | cold starts | p50 ms | p99 ms |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        p, m = r["predicted"], r["measured"]
        cells = [f"{p[k]:.0f} / {m[k]:.0f} ({err(p[k], m[k]):+.0f} %)" if k == "cold" else
                 f"{p[k]:.1f} / {m[k]:.1f} ({err(p[k], m[k]):+.0f} %)" for k in ("cold", "p50", "p99")]
        lines.append(f"| {r['run']} | {r['min']} | {r['run_ms']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "| min | error | cold starts | p50 | p99 |", "| --- | --- | --- | --- | --- |"]
    for mi in (0, 1):
        sel = [r for r in rows if r["min"] == mi]
        for name, f in (("median", statistics.median), ("worst", lambda v: max(v, key=abs))):
            cells = [f"{f([err(r['predicted'][k], r['measured'][k]) for r in sel]):+.0f} %"
                     for k in ("cold", "p50", "p99")]
            lines.append(f"| {mi} | {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        print("wrote", write_section("plan-replay", text, ROOT / "docs" / "plan.md"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Burst from zero through `modelfn up`: N requests released together while no instance runs,
against one function with a given max_instances. Prints the burst's total time (first send to
last answer), latency p50/p99/max, requests not answered 200, and the instances started (inits).

Cold starts compete for the same cores, so how many instances start at once matters: run it
with --max-instances 2 and 8 (or without, for the host-sized default) and compare.

  bench/burst_bench.py examples/digits --requests 32 --max-instances 8
  bench/burst_bench.py path/to/model --body request.json --runs 3 --json

With --baseline each run first sends the same burst to a platform whose instances are all
running and ready (min_instances = max_instances, pre-warmed; the always-warm baseline), then to
one from zero, and prints the from-zero p50/p99 as ratios of the warm ones. A request counts as
lost when it got no 200 answer.

  bench/burst_bench.py examples/digits --requests 256 --max-instances 8 --baseline

A model folder without manifest.json gets one written (`modelfn manifest`), e.g. the transformer
of bench/make_transformer.py.

With --coldstart N it measures instead one request from zero, N times on each of two platforms
run side by side, one starting instances by exec and one forking them from a template
(`start: exec|fork`), samples alternating: p50/p90 of each and their ratio.

  bench/burst_bench.py examples/digits --coldstart 25 --mode http

With --holder B (lambda mode) each run sends the burst from zero twice, alternating: with the
function's batching off (every request reaches an instance alone) and with `batching:
{max_batch: B}` (the scale-from-zero holder merges the requests waiting for an instance into
/v1/batch invocations of up to B), and prints both totals and off/on.

  bench/burst_bench.py /tmp/mlp --requests 256 --max-instances 2 --holder 32 --runs 3

With --sequence N it measures instead what a fresh instance's first invocation costs: one lambda
instance forked from the template (min_instances 1), then N requests in a row, each after the
last answer. It prints the first request and the median of the others, as the gateway timed them
(access log "ms") and as the instance's handler did ("handler_ms"). --items K sends the body as a
/v1/batch of K copies (what the holder sends an instance).

  bench/burst_bench.py /tmp/mlp --sequence 60 --items 32

The model folder is pushed to a temporary file store; its requests/infer.json is the body unless
--body names another file.
"""
import argparse
import http.client
import json
import pathlib
import selectors
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from up_runner import ROOT, Up, push  # noqa: E402


def post(port, path, body, timeout):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        status = r.status
    except OSError:
        status = 0
    finally:
        c.close()
    return (time.perf_counter() - t0) * 1e3, status


class _Conn:
    """One client connection of a burst: its request bytes out, one HTTP/1.1 answer in."""

    def __init__(self, port, request):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.out = memoryview(request)
        self.inp = bytearray()
        self.status = 0
        self.done_at = None

    def answered(self):
        """True once a whole answer is in (Content-Length framing, as the gateway sends)."""
        head_end = self.inp.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        head = bytes(self.inp[:head_end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        if len(self.inp) < head_end + 4 + length:
            return False
        self.status = int(head[0].split()[1])
        return True


def burst(up, name, body, n, timeout):
    """N requests released at once: every connection is opened first, then all N requests are
    written from one thread without waiting, and the answers read as they come, so the client
    adds little beyond the platform's own time (a thread per request took tens of ms to send
    256 here)."""
    request = (f"POST /v1/models/{name}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body
    conns = [_Conn(up.port, request) for _ in range(n)]
    sel = selectors.DefaultSelector()
    try:
        t0 = time.perf_counter()
        for c in conns:
            sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        left = n
        deadline = t0 + timeout
        while left > 0 and time.perf_counter() < deadline:
            for key, events in sel.select(timeout=0.5):
                c = key.data
                if events & selectors.EVENT_WRITE and c.out:
                    try:
                        c.out = c.out[c.sock.send(c.out):]
                    except BlockingIOError:
                        pass
                    if not c.out:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if events & selectors.EVENT_READ:
                    try:
                        chunk = c.sock.recv(1 << 16)
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    c.inp += chunk
                    if not chunk or c.answered():
                        c.done_at = time.perf_counter()
                        sel.unregister(c.sock)
                        left -= 1
        total_ms = (time.perf_counter() - t0) * 1e3
    finally:
        sel.close()
        for c in conns:
            c.sock.close()
    lat = sorted(((c.done_at or time.perf_counter()) - t0) * 1e3 for c in conns)
    counters = up.status()["versions"][0]["counters"]
    return {"total_ms": round(total_ms, 1), "p50_ms": round(statistics.median(lat), 1),
            "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 1), "max_ms": round(lat[-1], 1),
            "not_200": sum(1 for c in conns if c.status != 200), "inits": counters["cold_starts"],
            "init_failures": counters["init_failures"]}


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def coldstart(work, store, name, body, args):
    """One request from zero through the gateway, exec vs fork, alternating samples."""
    settings = {"mode": args.mode, "idle_ttl_s": 0.2, "max_instances": 1}
    ups = {start: Up(work / f"up-{start}", store, name, dict(settings, start=start))
           for start in ("exec", "fork")}
    samples = {"exec": [], "fork": []}
    try:
        for _ in range(args.coldstart):
            for start, up in ups.items():
                deadline = time.monotonic() + 60
                # From zero, and (fork) with the template ready: what a steady platform has.
                while (up.live_instances() != 0 or
                       (start == "fork" and up.status()["versions"][0].get("template") != "ready")):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{start}: never back to zero with a ready template")
                    time.sleep(0.05)
                ms, status = post(up.port, f"/v1/models/{name}/infer", body, args.timeout)
                if status != 200:
                    raise RuntimeError(f"{start}: HTTP {status}")
                instances = [i for v in up.status()["versions"] for i in v["instance_list"]
                             if i["state"] != "stopping"]
                if [i["start"] for i in instances] != [start]:
                    raise RuntimeError(f"{start}: instances started as {instances}")
                samples[start].append(ms)
    finally:
        for up in ups.values():
            up.stop()
    out = {"mode": args.mode, "samples": args.coldstart}
    for start, xs in samples.items():
        out[f"{start}_p50_ms"] = round(statistics.median(xs), 2)
        out[f"{start}_p90_ms"] = round(percentile(xs, 0.9), 2)
    out["fork_over_exec_p50"] = round(out["fork_p50_ms"] / out["exec_p50_ms"], 3)
    out["fork_over_exec_p90"] = round(out["fork_p90_ms"] / out["exec_p90_ms"], 3)
    return out


def emit(args, r, text):
    """One result: its JSON line with --json, else `text`."""
    print(json.dumps(r) if args.json else text, flush=True)


def sequence(work, store, name, body, args):
    """N requests in a row to one fresh forked lambda instance: its first against the rest."""
    path = f"/v1/models/{name}/infer"
    if args.items > 0:
        body = b'{"items":[' + b",".join([body] * args.items) + b"]}"
        path = f"/v1/models/{name}/batch"
    workdir = work / "up-sequence"
    up = Up(workdir, store, name, {"mode": "lambda", "idle_ttl_s": 600, "min_instances": 1,
                                   "max_instances": 1, "timeout_s": min(900, args.timeout)})
    try:
        deadline = time.monotonic() + 60
        while up.ready_instances() < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("the instance never became ready")
            time.sleep(0.05)
        for _ in range(args.sequence):
            _, status = post(up.port, path, body, args.timeout)
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
    finally:
        up.stop()
        up.proc.wait(timeout=30)
    def lines(f, event):
        return [json.loads(l) for l in f.read_text().splitlines()
                if l.startswith("{") and f'"event":"{event}"' in l]
    gateway = [r["ms"] for r in lines(workdir / "up.log", "access")]
    handler = [r["handler_ms"] for r in lines(workdir / ".modelfn" / "logs" / f"{name}.log",
                                              "request")]
    if len(gateway) != args.sequence or len(handler) != args.sequence:
        raise RuntimeError(f"logs hold {len(gateway)} access and {len(handler)} request lines")
    return {"requests": args.sequence, "body_bytes": len(body), "path": path,
            "gateway_first_ms": round(gateway[0], 2),
            "gateway_rest_p50_ms": round(statistics.median(gateway[1:]), 2),
            "handler_first_ms": round(handler[0], 2),
            "handler_rest_p50_ms": round(statistics.median(handler[1:]), 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default=str(ROOT / "examples" / "digits"),
                    help="model folder (model.onnx, requests/infer.json), or mlp: "
                         "bench/make_mlp.py's medium model, built in a temporary folder")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-instances", type=int, default=None,
                    help="default: not set, so the platform's host-sized default applies")
    ap.add_argument("--mode", choices=("lambda", "http"), default="lambda")
    ap.add_argument("--body", default=None, help="request body file")
    ap.add_argument("--concurrency", type=int, default=1,
                    help="http mode: requests an instance takes at once")
    ap.add_argument("--batching", default=None,
                    help="http mode: the function's batching setting (e.g. on); needs --concurrency > 1")
    ap.add_argument("--runs", type=int, default=1, help="bursts, each from zero")
    ap.add_argument("--timeout", type=float, default=120, help="per request, seconds")
    ap.add_argument("--json", action="store_true", help="one JSON line per run")
    ap.add_argument("--start", choices=("fork", "exec"), default=None,
                    help="how instances start (default: the platform's, fork)")
    ap.add_argument("--baseline", action="store_true",
                    help="also burst an always-warm platform first, and print ratios")
    ap.add_argument("--holder", type=int, default=0, metavar="B",
                    help="lambda mode: compare the burst with batching off and max_batch B")
    ap.add_argument("--coldstart", type=int, default=0, metavar="N",
                    help="measure N cold starts from zero, exec vs fork, instead of a burst")
    ap.add_argument("--sequence", type=int, default=0, metavar="N",
                    help="N requests in a row to one fresh forked lambda instance, instead of a "
                         "burst: its first invocation against the others")
    ap.add_argument("--items", type=int, default=0, metavar="K",
                    help="--sequence: send a /v1/batch of K copies of the body")
    args = ap.parse_args()

    if args.model == "mlp":  # the medium model of bench/make_mlp.py, built here
        import batching_bench
        model = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-mlp-")) / "mlp"
        batching_bench.make_model(model)
    else:
        model = pathlib.Path(args.model).resolve()
    body = pathlib.Path(args.body or model / "requests" / "infer.json").read_bytes()
    name = "burst"
    work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-burst-"))
    store = work / "models"
    push(model, name, store)
    if args.sequence > 1:
        r = sequence(work, store, name, body, args)
        r["model"] = model.name
        emit(args, r, f"{model.name}: {r['requests']} requests of {r['body_bytes']} bytes in a "
                      f"row to one fresh forked lambda instance ({r['path']}): first: gateway "
                      f"{r['gateway_first_ms']:.2f} ms, handler {r['handler_first_ms']:.2f} ms; "
                      f"the others (p50): gateway {r['gateway_rest_p50_ms']:.2f} ms, handler "
                      f"{r['handler_rest_p50_ms']:.2f} ms")
        return 0
    if args.coldstart > 0:
        r = coldstart(work, store, name, body, args)
        r["model"] = model.name
        emit(args, r, f"{model.name} {args.mode} cold start from zero through the gateway, "
                      f"{args.coldstart} samples each: exec p50 {r['exec_p50_ms']:.1f} ms p90 "
                      f"{r['exec_p90_ms']:.1f} ms; fork p50 {r['fork_p50_ms']:.1f} ms p90 "
                      f"{r['fork_p90_ms']:.1f} ms; fork/exec p50 {r['fork_over_exec_p50']:.2f} "
                      f"p90 {r['fork_over_exec_p90']:.2f}")
        return 0
    settings = {"mode": args.mode, "idle_ttl_s": 600, "max_queue": max(64, args.requests),
                "queue_timeout_s": min(900, args.timeout), "timeout_s": min(900, args.timeout)}
    if args.mode == "http":
        settings["concurrency"] = args.concurrency
        if args.batching:
            settings["batching"] = args.batching
    if args.max_instances is not None:
        settings["max_instances"] = args.max_instances
    if args.start is not None:
        settings["start"] = args.start
    def from_zero(tag, fn_settings):
        up = Up(work / tag, store, name, fn_settings)
        try:
            # At zero with the template ready (start: fork), as a platform that has run a while.
            deadline = time.monotonic() + 60
            while up.status()["versions"][0].get("template") not in (None, "ready"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the template never became ready")
                time.sleep(0.05)
            if up.live_instances() != 0:
                raise RuntimeError("instances were running before the burst")
            out = burst(up, name, body, args.requests, args.timeout)
            out["max_instances"] = up.status()["max_instances"]
            counters = up.status()["versions"][0]["counters"]
            out["held_batches"] = counters.get("held_batches", 0)
        finally:
            up.stop()
        return out

    if args.holder > 0:
        if args.mode != "lambda":
            ap.error("--holder compares lambda-mode functions")
        for run in range(args.runs):
            off = from_zero(f"up-{run}-off", settings)
            on = from_zero(f"up-{run}-on", dict(settings, batching={"max_batch": args.holder}))
            r = {"requests": args.requests, "model": model.name, "max_batch": args.holder,
                 "off": off, "on": on,
                 "off_over_on_total": round(off["total_ms"] / on["total_ms"], 2)}
            emit(args, r, f"{model.name} lambda burst of {args.requests} from zero, max_instances "
                          f"{on['max_instances']}: holder off total {off['total_ms']:.0f} ms (p50 "
                          f"{off['p50_ms']:.0f}, not 200 {off['not_200']}); holder on (max_batch "
                          f"{args.holder}) total {on['total_ms']:.0f} ms (p50 {on['p50_ms']:.0f}, "
                          f"not 200 {on['not_200']}, {on['held_batches']} merged invocations); "
                          f"off/on {r['off_over_on_total']:.2f}x")
        return 0
    for run in range(args.runs):
        warm = None
        if args.baseline:
            n = args.max_instances
            if n is None:  # the host-sized default: ask a platform
                probe = Up(work / f"up-{run}-probe", store, name, settings)
                n = probe.status()["max_instances"]
                probe.stop()
            up = Up(work / f"up-{run}-warm", store, name,
                    dict(settings, max_instances=n, min_instances=n))
            try:
                deadline = time.monotonic() + 600
                while up.ready_instances() < n:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"warm baseline: {n} instances never all ready")
                    time.sleep(0.1)
                warm = burst(up, name, body, args.requests, args.timeout)
                warm["max_instances"] = n
            finally:
                up.stop()
        up = Up(work / f"up-{run}", store, name, settings)
        try:
            if up.live_instances() != 0:
                raise RuntimeError("instances were running before the burst")
            r = burst(up, name, body, args.requests, args.timeout)
            r["max_instances"] = up.status()["max_instances"]
        finally:
            up.stop()
        r.update({"requests": args.requests, "mode": args.mode, "model": model.name,
                  "start": args.start or "default"})
        if warm is not None:
            r["warm"] = warm
            r["p50_vs_warm"] = round(r["p50_ms"] / warm["p50_ms"], 2)
            r["p99_vs_warm"] = round(r["p99_ms"] / warm["p99_ms"], 2)
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            if warm is not None:
                print(f"{model.name} {args.mode} burst of {args.requests}, always warm "
                      f"({warm['max_instances']} pre-warmed, baseline): total "
                      f"{warm['total_ms']:.0f} ms, p50 {warm['p50_ms']:.0f} ms, p99 "
                      f"{warm['p99_ms']:.0f} ms, max {warm['max_ms']:.0f} ms, not 200: "
                      f"{warm['not_200']}", flush=True)
            print(f"{model.name} {args.mode} burst of {args.requests} from zero, max_instances "
                  f"{r['max_instances']}: total {r['total_ms']:.0f} ms, p50 {r['p50_ms']:.0f} ms, "
                  f"p99 {r['p99_ms']:.0f} ms, max {r['max_ms']:.0f} ms, not 200: {r['not_200']}, "
                  f"inits {r['inits']}" +
                  (f"; vs warm: p50 {r['p50_vs_warm']:.2f}x, p99 {r['p99_vs_warm']:.2f}x"
                   if warm is not None else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

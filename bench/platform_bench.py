#!/usr/bin/env python3
"""Platform benchmark (`modelfn up`), in one run, on the digits example:

  (a) overhead: wrk at c=1, 16 and 64 against a direct modelfn-fn (HTTP) and against the gateway
      in front of lambda-mode and http-mode instances of the same binary (p50/p99, req/s), in
      --rounds alternating rounds (medians; the ratio to direct is taken within each round). With
      --proxies, also through nginx and HAProxy in front of the same direct modelfn-fn (keep-alive
      to it, two workers or threads): what a proxy's extra hop costs on the same cores, the floor
      for the gateway's ratio;
  (b) cold start from zero through the gateway (request sent with no instance running, to its
      answer) against the standalone exec-to-first-answer cold start of modelfn-fn;
  (c) a burst of 64 requests released together from zero instances, against the same burst on
      a single always-on modelfn-fn: latency p50/p99/max and dropped requests.

With --tls BASELINE_BUILD it measures TLS on the gateway instead: wrk over HTTPS at 16 keep-alive
connections against the gateway of BASELINE_BUILD (the build of an older commit) and of this build,
in alternating rounds, the plain-HTTP gateway of this build as a reference; then the gateway's
thread count with 500 idle TLS connections open, for both builds.

Run through scripts/bench.sh --platform [--proxies] [--tls BASELINE_BUILD]. --proxies needs nginx and
haproxy on PATH (Debian: apt-get install nginx-light haproxy; neither is started as a service here).
"""
import argparse
import concurrent.futures
import http.client
import json
import pathlib
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from report import machine, today, write_section  # noqa: E402
from run import BUILD, cold_start_ms, free_port, wait_ready, wrk  # noqa: E402

MODEL = ROOT / "examples" / "digits"
CLI = BUILD / "modelfn"
CONNS = (1, 16, 64)


def push_store(store):
    subprocess.run([str(CLI), "push", str(MODEL), "--name", "digits", "--version", "1.0.0", "--store",
                    str(store)], check=True, capture_output=True)
    subprocess.run([str(CLI), "promote", "digits", "1.0.0", "--store", str(store)], check=True,
                   capture_output=True)


class Platform:
    def __init__(self, workdir, store, cli=CLI, gateway=(), **fn):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True)
        self.port = free_port()
        lines = ["store: " + str(store), "functions:", "  digits:", "    model: digits"]
        lines += [f"    {k}: {v}" for k, v in fn.items()]
        lines += ["gateway:", f"  listen: 127.0.0.1:{self.port}", *gateway]
        (self.dir / "modelfn.yaml").write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([str(cli), "up", "-f", str(self.dir / "modelfn.yaml")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.ready()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("modelfn up did not start")

    def ready(self):
        self.status()

    def status(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/v1/status")
        body = json.loads(c.getresponse().read())
        c.close()
        return body["functions"][0]

    def instances(self):
        return sum(len([i for i in v["instance_list"] if i["state"] != "stopping"])
                   for v in self.status()["versions"])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def timed_post(port, body, timeout=60):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/v1/infer", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        status = r.status
    except OSError:
        status = 0
    finally:
        c.close()
    return (time.perf_counter() - t0) * 1e3, status


def summarize(rs, direct_rs):
    """Medians of one target's wrk runs; its ratio to direct taken round by round, then the median."""
    ratios = sorted(r["rps"] / d["rps"] for r, d in zip(rs, direct_rs))
    return {"rps": statistics.median(r["rps"] for r in rs),
            "p50_us": statistics.median(r["p50_us"] for r in rs),
            "p99_us": statistics.median(r["p99_us"] for r in rs),
            "errors": sum(r["non_2xx"] + r["socket_errors"] for r in rs),
            "ratio": statistics.median(ratios), "ratio_min": ratios[0], "ratio_max": ratios[-1]}


def burst(port, body, n):
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait()
        return timed_post(port, body)

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        results = list(ex.map(one, range(n)))
    lat = sorted(ms for ms, _ in results)
    return {"p50": statistics.median(lat), "p99": lat[int(0.99 * (len(lat) - 1))], "max": lat[-1],
            "dropped": sum(1 for _, s in results if s != 200)}


NGINX_CONF = """worker_processes 2;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  upstream fn {{ server 127.0.0.1:{upstream}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://fn;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""

HAPROXY_CONF = """global
  nbthread 2
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:{port}
  default_backend b
backend b
  server fn 127.0.0.1:{upstream}
"""


class Proxy:
    """nginx or HAProxy in front of a modelfn-fn on `upstream`: keep-alive to it, 2 workers/threads."""

    def __init__(self, kind, workdir, upstream, body):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True)
        self.port = free_port()
        conf = self.dir / ("nginx.conf" if kind == "nginx" else "haproxy.cfg")
        text = NGINX_CONF if kind == "nginx" else HAPROXY_CONF
        conf.write_text(text.format(dir=self.dir, port=self.port, upstream=upstream))
        cmd = ["nginx", "-c", str(conf)] if kind == "nginx" else ["haproxy", "-f", str(conf)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_ready(self.port, body)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


class TlsPlatform(Platform):
    """The gateway with gateway.tls on, a self-signed certificate the clients do not check."""

    def __init__(self, workdir, store, cert, key, cli=CLI, **fn):
        super().__init__(workdir, store, cli=cli, gateway=[f"  tls: {{cert: {cert}, key: {key}}}"], **fn)

    def ready(self):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=5,
                                        context=ssl._create_unverified_context())
        c.request("GET", "/v1/status")
        c.getresponse().read()
        c.close()

    def threads(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))


def self_signed(work):
    key, cert = work / "tls.key", work / "tls.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def idle_tls_threads(p, n):
    """Threads of the gateway before and with n idle TLS connections open (handshakes done)."""
    before = p.threads()
    ctx = ssl._create_unverified_context()
    conns = []
    try:
        for _ in range(n):
            conns.append(ctx.wrap_socket(socket.create_connection(("127.0.0.1", p.port), timeout=30)))
        with_open = p.threads()
    finally:
        for c in conns:
            c.close()
    return before, with_open


def tls_main(args, baseline_build):
    body_file = MODEL / "requests" / "infer.json"
    body = body_file.read_bytes()
    baseline_cli = pathlib.Path(baseline_build) / "modelfn"
    marker = pathlib.Path(baseline_build) / "COMMIT"  # a copied build names its commit here
    commit = marker.read_text().strip() if marker.exists() else subprocess.run(
        ["git", "-C", str(pathlib.Path(baseline_build).parent), "log", "-1", "--format=%h"],
        capture_output=True, text=True).stdout.strip() or "?"
    work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-tls-bench-"))
    store = work / "models"
    push_store(store)
    cert, key = self_signed(work)
    fn = {"mode": "http", "concurrency": 16, "min_instances": 1, "max_instances": 1, "idle_ttl_s": 600}
    runs = {"before": [], "after": [], "plain": []}
    threads = {}
    try:
        for r in range(args.rounds):
            for kind in ("before", "after", "plain"):
                d = work / f"{kind}-{r}"
                if kind == "plain":
                    p = Platform(d, store, **fn)
                    wait_ready(p.port, body)
                    runs[kind].append(wrk(p.port, body_file, 16, args.seconds))
                else:
                    p = TlsPlatform(d, store, cert, key, cli=baseline_cli if kind == "before" else CLI, **fn)
                    runs[kind].append(wrk(p.port, body_file, 16, args.seconds, scheme="https"))
                    if r == 0:
                        threads[kind] = idle_tls_threads(p, args.idle)
                p.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(kind, field):
        return statistics.median(x[field] for x in runs[kind])

    def us(x):
        return f"{x:.0f} µs" if x < 1000 else f"{x / 1000:.2f} ms"

    b_rps, a_rps = med("before", "rps"), med("after", "rps")
    label = {"before": f"TLS, terminator with a relay thread per connection (baseline, {commit})",
             "after": "TLS on the gateway's event loops (this build)",
             "plain": "plain HTTP, this build (reference)"}
    rows = [f"| {label[k]} | {us(med(k, 'p50_us'))} | {us(med(k, 'p99_us'))} | {med(k, 'rps'):.0f} | "
            f"{med(k, 'rps') / b_rps:.2f}x | {sum(x['non_2xx'] + x['socket_errors'] for x in runs[k])} |"
            for k in ("before", "after", "plain")]
    trows = [f"| {label[k]} | {threads[k][0]} | {threads[k][1]} | {threads[k][1] - threads[k][0]:+d} |"
             for k in ("before", "after")]
    md = "\n".join([
        f"## Gateway TLS (`gateway.tls`) — {today()}",
        "",
        f"- Machine: {machine()}. wrk (1 thread) shares the cores with the gateway and the instance.",
        "- Model: examples/digits, one http-mode instance (concurrency 16); wrk over HTTPS (TLS 1.3, "
        "P-256 self-signed certificate), 16 keep-alive connections, "
        f"{args.seconds:.0f} s per run, {args.rounds} alternating rounds, medians shown.",
        f"- Command: `scripts/bench.sh --platform --tls BASELINE_BUILD` (bench/platform_bench.py); "
        f"baseline: the build of {commit}.",
        "",
        "| gateway | p50 | p99 | req/s | vs baseline | errors |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"TLS throughput on the loops: **{a_rps / b_rps:.2f}x** the terminator's; p50 "
        f"{us(med('after', 'p50_us'))} against {us(med('before', 'p50_us'))}.",
        "",
        f"### Threads with {args.idle} idle TLS connections open",
        "",
        "| gateway | threads before | threads with the connections open | added |",
        "| --- | --- | --- | --- |",
        *trows,
    ])
    print(md)
    out = write_section("platform-tls", md, args.out)
    print(f"\nwrote {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--cold-runs", type=int, default=15)
    ap.add_argument("--burst", type=int, default=64)
    ap.add_argument("--out", default=None, help="markdown file to update (default docs/benchmarks.md)")
    ap.add_argument("--tls", metavar="BASELINE_BUILD", default=None,
                    help="measure gateway TLS against the gateway of BASELINE_BUILD instead")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the wrk runs")
    ap.add_argument("--proxies", action="store_true",
                    help="also measure nginx and HAProxy in front of the direct modelfn-fn")
    ap.add_argument("--idle", type=int, default=500, help="--tls: idle TLS connections for the thread count")
    ap.add_argument("--baseline", metavar="BUILD", default=None,
                    help="also measure the gateway of BUILD (its modelfn and modelfn-fn) in the same run")
    args = ap.parse_args()
    if args.tls:
        return tls_main(args, args.tls)
    body_file = MODEL / "requests" / "infer.json"
    body = body_file.read_bytes()
    work = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-platform-bench-"))
    running = []  # the proxies and platforms of (a), stopped even when a measurement fails
    store = work / "models"
    push_store(store)
    try:
        # (a) overhead under wrk: every target up at once (idle ones cost nothing), rounds alternating.
        port = free_port()
        direct = subprocess.Popen([str(BUILD / "modelfn-fn"), "--model", str(MODEL), "--port", str(port),
                                   "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(port, body)
        targets = {"direct": port}
        if args.proxies:
            missing = [t for t in ("nginx", "haproxy") if shutil.which(t) is None]
            if missing:
                sys.exit(f"--proxies needs {' and '.join(missing)} on PATH "
                         "(Debian: apt-get install nginx-light haproxy)")
            for kind in ("nginx", "haproxy"):
                running.append(Proxy(kind, work / kind, port, body))
                targets[kind] = running[-1].port
        builds = [("", CLI)]
        if args.baseline:
            builds.insert(0, ("base-", pathlib.Path(args.baseline).resolve() / "modelfn"))
        for prefix, cli in builds:
            for mode in ("lambda", "http"):
                extra = {"mode": mode, "min_instances": 2, "max_instances": 2, "idle_ttl_s": 600}
                if mode == "http":
                    extra["concurrency"] = 64
                    extra["min_instances"] = extra["max_instances"] = 1
                running.append(Platform(work / f"up-{prefix}{mode}", store, cli=cli, **extra))
                wait_ready(running[-1].port, body)
                targets[prefix + mode] = running[-1].port
        runs = {kind: {c: [] for c in CONNS} for kind in targets}
        for _ in range(args.rounds):
            for c in CONNS:
                for kind, p in targets.items():
                    runs[kind][c].append(wrk(p, body_file, c, args.seconds))
        while running:
            running.pop().stop()
        load = {kind: {c: summarize(rs, runs["direct"][c]) for c, rs in by_c.items()}
                for kind, by_c in runs.items()}

        # (b) cold start from zero through the gateway vs standalone exec to first answer.
        standalone = [cold_start_ms("modelfn", MODEL, body_file) for _ in range(args.cold_runs)]
        p = Platform(work / "up-cold", store, mode="lambda", max_instances=4, idle_ttl_s=0.2)
        colds = []
        for _ in range(args.cold_runs):
            deadline = time.time() + 10
            while p.instances() != 0 and time.time() < deadline:
                time.sleep(0.05)
            ms, status = timed_post(p.port, body)
            assert status == 200
            colds.append(ms)
        cold_count = p.status()["cold_starts"]

        # (c) burst from zero vs one always-on modelfn-fn.
        deadline = time.time() + 10
        while p.instances() != 0 and time.time() < deadline:
            time.sleep(0.05)
        from_zero = burst(p.port, body, args.burst)
        peak = p.instances()
        p.stop()
        always_on = burst(port, body, args.burst)
        direct.terminate()
        direct.wait(30)
    finally:
        for r in running:
            r.stop()
        shutil.rmtree(work, ignore_errors=True)

    def us(x):
        return f"{x:.0f} µs" if x < 1000 else f"{x / 1000:.2f} ms"

    rows = []
    labels = {"direct": "modelfn-fn direct (baseline)", "lambda": "gateway → lambda-mode instances (2)",
              "http": "gateway → http-mode instance (1, concurrency 64)",
              "nginx": "nginx → modelfn-fn (2 workers, keep-alive upstream)",
              "haproxy": "HAProxy → modelfn-fn (2 threads, keep-alive upstream)",
              "base-lambda": f"`{args.baseline}` gateway → lambda-mode instances (2)",
              "base-http": f"`{args.baseline}` gateway → http-mode instance (1, concurrency 64)"}
    for c in CONNS:
        for kind in load:  # in the order the targets were started
            r = load[kind][c]
            spread = "" if kind == "direct" or args.rounds < 2 else f" ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})"
            rows.append(f"| {c} | {labels[kind]} | {us(r['p50_us'])} | {us(r['p99_us'])} | {r['rps']:.0f} | "
                        f"{r['ratio']:.2f}x{spread} | {r['errors']} |")
    cold_med, sa_med = statistics.median(colds), statistics.median(standalone)
    md = "\n".join([
        f"## Local platform (`modelfn up`) — {today()}",
        "",
        f"- Machine: {machine()}. wrk (1 thread) and the Python burst client share the cores with the gateway "
        "and the instances.",
        "- Model: examples/digits (MLP, 64 inputs), body examples/digits/requests/infer.json (8 rows).",
        "- Command: `scripts/bench.sh --platform` (bench/platform_bench.py).",
        "",
        "### Overhead of the gateway (wrk, keep-alive)",
        "",
        f"{args.rounds} rounds of {args.seconds:g} s per target and connection count, the targets "
        "alternating within each round; medians, the ratio to direct taken within each round (median, "
        "min-max).",
        "",
        "| connections | path | p50 | p99 | req/s | vs direct | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Added latency at c=1, p50: **{us(load['lambda'][1]['p50_us'] - load['direct'][1]['p50_us'])}** "
        f"(lambda mode: gateway + Runtime API long-poll hand-off) and "
        f"**{us(load['http'][1]['p50_us'] - load['direct'][1]['p50_us'])}** (http mode: gateway + proxy)."
        + (f" The baseline build's: {us(load['base-lambda'][1]['p50_us'] - load['direct'][1]['p50_us'])} and "
           f"{us(load['base-http'][1]['p50_us'] - load['direct'][1]['p50_us'])}." if args.baseline else ""),
        "",
        "### Cold start from zero",
        "",
        "| measure | median | min | max |",
        "| --- | --- | --- | --- |",
        f"| standalone modelfn-fn, exec → first answer (baseline) | {sa_med:.1f} ms | {min(standalone):.1f} ms "
        f"| {max(standalone):.1f} ms |",
        f"| through the gateway, no instance running → answer | {cold_med:.1f} ms | {min(colds):.1f} ms | "
        f"{max(colds):.1f} ms |",
        "",
        f"{args.cold_runs} runs each; the gateway path is {cold_med / sa_med:.2f}x the standalone cold start "
        f"(instances started: {cold_count}). The gateway holds the request while the instance starts (forked "
        "from the function version's template, `start: fork`, the default; the template's own init is paid "
        "once, when the platform starts), then hands it over the Runtime API.",
        "",
        f"### Burst of {args.burst} requests released together",
        "",
        "| target | p50 | p99 | max | dropped |",
        "| --- | --- | --- | --- | --- |",
        f"| one always-on modelfn-fn (baseline) | {always_on['p50']:.1f} ms | {always_on['p99']:.1f} ms | "
        f"{always_on['max']:.1f} ms | {always_on['dropped']} |",
        f"| `modelfn up` from zero instances (lambda mode, max 4) | {from_zero['p50']:.1f} ms | "
        f"{from_zero['p99']:.1f} ms | {from_zero['max']:.1f} ms | {from_zero['dropped']} |",
        "",
        f"Instances after the burst: {peak}. The burst's p99 from zero is "
        f"{from_zero['p99'] / always_on['p99']:.1f}x the always-on p99: the cost of scaling from zero, paid "
        "once; no request was refused or lost.",
    ])
    print(md)
    out = write_section("platform", md, args.out)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

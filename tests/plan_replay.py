"""The planner checked against the platform: one replay of a recorded traffic through `modelfn up`,
then `modelfn plan --target local` from the platform's own access log. Used by tests/test_plan.py
(which bounds the error) and bench/plan_replay_bench.py (which measures it over repeated runs)."""
import collections
import http.client
import json
import threading
import time
import urllib.parse

from up_harness import WORK_MODEL, Up, cli, config, fn_config, push, work_body

LOOPS = 200  # the work model's loops per request before sizing (profile() below)
TARGET_RUN_MS = 35  # the traffic was calibrated with requests of about this at one CPU


def percentile(values, p):
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p / 100 * len(v) // 1)) - 1))
    return v[k]


def replay(tmp_path, min_instances, cycles=10):
    """Profiles the work model at one CPU, replays `cycles` cycles of 5 s through `modelfn up`
    (`cpus: 1`, `start: exec`, max 2 instances, idle TTL 1.5 s): a burst at once (6 from zero;
    16 on the warm instance with min 1), 15 rps for 2 s, 3 s idle (> TTL). Returns
    {"predicted": {...}, "measured": {...}, "requests": n, "planned_requests": n, "run_ms": ms,
    "slowest": [...], "client_cpu_ms": the client's CPU per request}, with cold, p50 and p99 in
    each."""
    store = tmp_path / "models"
    push(store, WORK_MODEL, "work", "1.0.0")
    d = tmp_path / "p"
    d.mkdir()
    text = config(store, [fn_config("work", start="exec", max_instances=2, idle_ttl_s=1.5,
                                    max_queue=256, cpus=1, min_instances=min_instances)])
    (d / "modelfn.yaml").write_text(text)
    samples = tmp_path / "bodies.jsonl"

    def profile(loops):
        samples.write_text(json.dumps(work_body(loops)) + "\n")
        cli("plan", "profile", "work", "-f", d / "modelfn.yaml", "--samples", samples,
            "--cpus", "1", "--rounds", "10", cwd=d)
        p = json.loads(next(store.rglob("profiles/*.json")).read_text())
        return next(b["p50_ms"] for b in p["points"][0]["run"] if b["batch"] == 1)

    # A host where LOOPS takes much longer than TARGET_RUN_MS gets fewer loops, so that the
    # instances, the gateway and the client do not saturate its two cores.
    loops = LOOPS
    run_ms = profile(loops)
    if run_ms > TARGET_RUN_MS + 5:
        loops = max(20, round(LOOPS * TARGET_RUN_MS / run_ms))
        run_ms = profile(loops)
    u = Up(d, text)
    try:
        # With a warm instance, which requests meet a cold start turns on the race between its
        # runs and the second instance's init: a burst of 16 makes the count large enough that
        # one request more or less each cycle is a small share.
        burst = 6 if min_instances == 0 else 16
        schedule = []
        for k in range(cycles):
            t0 = k * 5.0
            schedule += [t0] * burst
            schedule += [t0 + 0.2 + i / 15 for i in range(30)]
        results = []
        lock = threading.Lock()
        # The client shares the host's two cores with the platform: it keeps its connections
        # alive and sends bytes encoded once, so that its own CPU during a burst stays small
        # (a new connection and `requests` per call cost it several times more).
        addr = urllib.parse.urlsplit(u.url)
        body = json.dumps(work_body(loops)).encode()
        headers = {"Content-Type": "application/json"}
        idle = collections.deque()

        def send():
            with lock:
                conn = idle.pop() if idle else None
            if conn is None:
                conn = http.client.HTTPConnection(addr.hostname, addr.port, timeout=60)
            try:
                conn.request("POST", "/v1/models/work/infer", body, headers)
                r = conn.getresponse()
                r.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                return -1
            with lock:
                idle.append(conn)
            return r.status

        for _ in range(burst + 4):  # connected before the clock starts
            conn = http.client.HTTPConnection(addr.hostname, addr.port, timeout=60)
            conn.connect()
            idle.append(conn)
        start = time.monotonic() + 0.5
        cpu0 = time.process_time()

        def fire(at):
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # an open-loop client keeps the trace's arrival times
            status = send()
            with lock:
                results.append(status)

        threads = [threading.Thread(target=fire, args=(a,)) for a in schedule]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        client_cpu_ms = (time.process_time() - cpu0) * 1e3 / len(schedule)
        for conn in idle:
            conn.close()
        assert results.count(200) == len(schedule), results
        u.wait_until(lambda: sum(1 for l in u.lines if l.get("event") == "access")
                     >= len(schedule))
        access = [l for l in u.lines if l.get("event") == "access"]
    finally:
        u.stop()
    trace = tmp_path / "up-access.jsonl"
    trace.write_text("".join(json.dumps(l) + "\n" for l in access))
    measured_ms = [l["ms"] for l in access]
    measured = {"cold": sum(1 for l in access if l["cold_start"]),
                "p50": percentile(measured_ms, 50), "p99": percentile(measured_ms, 99)}
    r = cli("plan", "work", "-f", d / "modelfn.yaml", "--target", "local", "--traffic", trace,
            "--max-min-instances", str(min_instances), "--json", cwd=d)
    local = json.loads(r.stdout)["targets"][0]
    assert local["target"] == "local"
    assert local["by_size"][0]["vcpu"] == 1
    c = [x for x in local["min_instances_sweep"] if x["min_instances"] == min_instances][0]
    return {"predicted": {"cold": c["cold_starts"], "p50": c["p50_ms"], "p99": c["p99_ms"]},
            "measured": measured, "requests": len(schedule), "planned_requests": c["requests"],
            "run_ms": run_ms, "slowest": sorted(measured_ms)[-8:],
            "client_cpu_ms": client_cpu_ms}

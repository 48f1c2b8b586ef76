"""`modelfn up` black-box: real modelfn-fn instances behind the gateway, on loopback."""
import concurrent.futures
import json
import os
import signal
import socket
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import BUILD, EXAMPLES, MODELS, ROOT
from up_harness import Up, cli, config, fn_config, push, work_body, WORK_MODEL

SLOW = 6000  # loops of the work model: several hundred ms on one core


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("up-store")
    s = root / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    push(s, WORK_MODEL, "work", "2.0.0", promote=False)
    push(s, EXAMPLES / "digits", "digits", "1.0.0")
    push(s, MODELS / "add2", "add2", "1.0.0")
    return s

def burst(u, n, body, path="/v1/models/work/infer", headers=None):
    """n requests released together; returns the responses in order."""
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait()
        return u.post(path, body, headers=headers or {})

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        return list(ex.map(one, range(n)))


def test_zero_to_n_to_zero_with_real_instances(up, store):
    # The exact counts (six held requests, max 3: exactly three instances) depend on when each
    # request arrives, so they are pinned on the fake clock (src/pool/pool_test.cc,
    # PoolScalingTest.ZeroToNToZeroWithExactInstanceCounts). Here: real processes start from
    # zero, serve a held burst within max_instances, and scale back to zero.
    u = up(config(store, [fn_config(max_instances=3, idle_ttl_s=1)]))
    assert u.instances("work") == []
    peak = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak.append(len(u.instances("work")))
            stop.wait(0.02)

    w = threading.Thread(target=watch)
    w.start()
    rs = burst(u, 6, work_body(loops=SLOW))
    stop.set()
    w.join()
    assert [r.status_code for r in rs] == [200] * 6, [r.text for r in rs]
    assert all(r.json()["outputs"]["y"] == [[1, 2, 3, 4]] for r in rs)
    served_by = {r.headers["X-Modelfn-Instance"] for r in rs}
    assert 1 <= len(served_by) <= 3, served_by
    assert max(peak) <= 3, peak
    c = u.function("work")["versions"][0]["counters"]
    assert c["requests"] == 6 and c["throttled"] == 0 and c["queue_timeouts"] == 0, c
    assert len(served_by) <= c["cold_starts"] <= 3, c
    cold = [r.headers["X-Modelfn-Cold-Start"] for r in rs]
    assert cold.count("true") == c["cold_start_requests"] >= 1, (cold, c)
    # Idle for idle_ttl_s: back to zero (waited for, generously), then cold again.
    u.wait_until(lambda: u.instances("work") == [], timeout=60)
    r = u.post("/v1/models/work/infer", work_body())
    assert r.status_code == 200 and r.headers["X-Modelfn-Cold-Start"] == "true"
    assert r.headers["X-Modelfn-Instance"] not in served_by
    after = u.function("work")["versions"][0]["counters"]
    assert after["cold_starts"] == c["cold_starts"] + 1


def test_min_instances_are_ready_before_traffic_and_not_cold(up, store):
    u = up(config(store, [fn_config(min_instances=2, max_instances=4, idle_ttl_s=0.2)]))
    u.wait_until(lambda: [i for i in u.instances("work") if i["state"] == "idle"][1:], timeout=20)
    v = u.function("work")["versions"][0]
    assert v["counters"]["prewarmed_starts"] == 2
    assert all(i["prewarmed"] for i in v["instance_list"])
    r = u.post("/v1/models/work/infer", work_body())
    assert r.status_code == 200 and r.headers["X-Modelfn-Cold-Start"] == "false"
    # Far past idle_ttl_s, min_instances stay.
    time.sleep(1.0)
    assert len(u.instances("work")) == 2
    assert u.function("work")["versions"][0]["counters"]["cold_start_requests"] == 0


def test_burst_from_zero_drops_nothing(up, store):
    u = up(config(store, [fn_config(max_instances=4, max_queue=64, idle_ttl_s=30)]))
    rs = burst(u, 32, work_body(loops=200))
    assert [r.status_code for r in rs] == [200] * 32
    assert all(r.json()["outputs"]["y"] == [[1, 2, 3, 4]] for r in rs)
    assert 1 <= u.function("work")["instances"] <= 4


def frozen_busy_instance(u, ex, name):
    """Makes `name`'s only instance busy for as long as the test wants: the instance is up, is
    stopped (SIGSTOP), then gets a request. Returns (pid, future of that request's answer); the
    caller resumes it with SIGCONT."""
    assert u.post(f"/v1/models/{name}/infer", work_body()).status_code == 200
    pid = u.wait_until(lambda: [i["pid"] for i in u.instances(name) if i["state"] == "idle"])[0]
    os.kill(pid, signal.SIGSTOP)
    busy = ex.submit(u.post, f"/v1/models/{name}/infer", work_body())
    u.wait_until(lambda: u.instances(name)[0]["state"] == "busy", timeout=60)
    return pid, busy


def test_queue_full_is_429_and_a_long_wait_is_503(up, store):
    # The queue's rules on the fake clock: src/pool/pool_test.cc
    # (AFullQueueIs429AndALongWaitIs503WhileTheBusyRequestIsServed). Here the real gateway's
    # answers, with instances held busy by stopping their process, so nothing depends on how fast
    # the machine is: "full" waits in a queue whose deadline is far off, "wait" in one whose
    # deadline passes while its instance cannot answer.
    u = up(config(store, [
        fn_config("full", model="work", max_instances=1, max_queue=1, queue_timeout_s=120,
                  idle_ttl_s=300, timeout_s=300),
        fn_config("wait", model="work", max_instances=1, max_queue=1, queue_timeout_s=0.3,
                  idle_ttl_s=300, timeout_s=300)]))
    pids = []
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            pid, busy_full = frozen_busy_instance(u, ex, "full")
            pids.append(pid)
            queued = ex.submit(u.post, "/v1/models/full/infer", work_body())
            u.wait_until(lambda: u.function("full")["versions"][0]["queued"] == 1, timeout=60)
            full = u.post("/v1/models/full/infer", work_body())
            assert full.status_code == 429, full.text
            assert full.headers["Content-Type"] == "application/problem+json"
            assert full.json()["code"] == "throttled" and int(full.headers["Retry-After"]) >= 1

            pid, busy_wait = frozen_busy_instance(u, ex, "wait")
            pids.append(pid)
            waited = u.post("/v1/models/wait/infer", work_body())
            assert waited.status_code == 503 and waited.json()["code"] == "overloaded", waited.text
            assert waited.headers["Content-Type"] == "application/problem+json"
            assert int(waited.headers["Retry-After"]) >= 1

            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            pids = []
            assert busy_full.result().status_code == 200
            assert queued.result().status_code == 200
            assert busy_wait.result().status_code == 200
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    full_c = u.function("full")["versions"][0]["counters"]
    assert full_c["throttled"] == 1 and full_c["queue_timeouts"] == 0, full_c
    wait_c = u.function("wait")["versions"][0]["counters"]
    assert wait_c["throttled"] == 0 and wait_c["queue_timeouts"] == 1, wait_c


@pytest.mark.parametrize("mode", ["http", "lambda"])
def test_timeout_answers_504_and_the_next_request_is_served(up, store, mode):
    u = up(config(store, [fn_config(mode=mode, timeout_s=0.5, idle_ttl_s=30)]))
    first = u.post("/v1/models/work/infer", work_body())
    assert first.status_code == 200
    r = u.post("/v1/models/work/infer", work_body(loops=SLOW * 10))
    assert r.status_code == 504, r.text
    assert r.json()["code"] == "timeout"
    nxt = u.post("/v1/models/work/infer", work_body())
    assert nxt.status_code == 200
    counters = u.function("work")["versions"][0]["counters"]
    if mode == "http":
        # The platform's timer answered, killed the instance that overran and started another.
        assert nxt.headers["X-Modelfn-Instance"] != first.headers["X-Modelfn-Instance"]
        assert counters["timeouts"] == 1 and counters["cold_starts"] == 2
    else:
        # The function stopped the run at the invocation's deadline and answered itself, before
        # the platform's timer: its instance lives on and serves the next request.
        assert "deadline" in r.json()["detail"], r.text
        assert nxt.headers["X-Modelfn-Instance"] == first.headers["X-Modelfn-Instance"]
        assert counters["timeouts"] == 0 and counters["cold_starts"] == 1


@pytest.mark.parametrize("mode", ["http", "lambda"])
def test_kill_9_mid_request_is_502_and_a_fresh_instance_serves_next(up, store, mode):
    u = up(config(store, [fn_config(mode=mode, timeout_s=60, idle_ttl_s=30)]))
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(u.post, "/v1/models/work/infer", work_body(loops=SLOW * 20))
        inst = u.wait_until(lambda: [i for i in u.instances("work") if i["state"] == "busy"])[0]
        os.kill(inst["pid"], signal.SIGKILL)
        r = fut.result(timeout=30)
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "instance_crashed"
    nxt = u.post("/v1/models/work/infer", work_body())
    assert nxt.status_code == 200
    assert nxt.headers["X-Modelfn-Instance"] != inst["name"]
    assert u.function("work")["versions"][0]["counters"]["crashes"] == 1


def test_memory_breach_is_a_typed_error_and_the_platform_keeps_serving(up, store):
    u = up(config(store, [fn_config(mode="http", memory_mb=200, idle_ttl_s=30)]))
    limit = u.status()["memory_limit"]
    r = u.post("/v1/models/work/infer", work_body(alloc=(16000, 16000)))  # 1 GB of FP32
    if limit in ("cgroup1", "cgroup2"):
        assert r.status_code == 502, r.text
        assert r.json()["code"] == "out_of_memory"
        assert u.function("work")["versions"][0]["counters"]["out_of_memory"] == 1
    else:  # RLIMIT_AS: the allocation fails inside ONNX Runtime
        assert r.status_code == 500 and r.json()["code"] == "model_error", r.text
    assert u.post("/v1/models/work/infer", work_body()).status_code == 200


def test_memory_limit_falls_back_to_rlimit(up, store):
    env = {"MODELFN_MEMORY_LIMIT": "rlimit"}
    # An address-space limit cannot hold an AddressSanitizer binary (its shadow memory alone is
    # terabytes of address space), so under the sanitizer build the platform runs the release
    # build's function binary here; the platform itself is still the sanitizer build.
    release_fn = ROOT / "build" / "modelfn-fn"
    if BUILD != ROOT / "build" and release_fn.exists():
        env["MODELFN_FN_BINARY"] = str(release_fn)
    u = up(config(store, [fn_config(mode="http", memory_mb=300, idle_ttl_s=30)]), env=env)
    assert u.status()["memory_limit"] == "rlimit_as"
    r = u.post("/v1/models/work/infer", work_body(alloc=(16000, 16000)))
    assert r.status_code in (500, 502), r.text
    assert r.json()["code"] in ("model_error", "instance_crashed")
    assert u.post("/v1/models/work/infer", work_body()).status_code == 200


def test_http_mode_packs_concurrency_per_instance(up, store):
    u = up(config(store, [fn_config(mode="http", concurrency=3, max_instances=2,
                                    idle_ttl_s=30)]))
    rs = burst(u, 6, work_body(loops=SLOW))
    assert [r.status_code for r in rs] == [200] * 6
    assert u.function("work")["instances"] == 2  # 6 at once, 3 per instance
    assert len({r.headers["X-Modelfn-Instance"] for r in rs}) == 2


def test_init_failure_is_502_init_failed(up, store, tmp_path):
    # A store whose model file no longer matches its manifest: every init fails verification.
    bad = tmp_path / "bad-store"
    push(bad, WORK_MODEL, "work", "1.0.0")
    model = bad / "work" / "versions" / "1.0.0" / "model.onnx"
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    u = up(config(bad, [fn_config(idle_ttl_s=30)]),
           env={"MODELFN_CACHE_DIR": str(tmp_path / "cache")})
    r = u.post("/v1/models/work/infer", work_body())
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["code"] == "init_failed"
    assert "sha256" in body["detail"] or "checksum" in body["detail"], body
    assert u.function("work")["versions"][0]["counters"]["init_failures"] >= 1


def test_two_models_routed_by_path_parameter_and_body(up, store):
    u = up(config(store, [fn_config("digits"), fn_config("add2")]))
    add = {"inputs": {"a": [[1, 2, 3]], "b": [[0, 5, 1]]}}
    digits = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())
    r = u.post("/v1/models/add2/infer", add)
    assert r.status_code == 200 and r.json()["outputs"]["sum"] == [[1, 7, 4]]
    r = u.post("/v1/infer?model=add2", add)
    assert r.status_code == 200 and r.json()["model"] == "add2"
    r = u.post("/v1/infer", dict(digits, model="digits"))
    assert r.status_code == 200 and r.json()["model"] == "digits"
    r = u.post("/v2/models/add2/infer", {"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]},
        {"name": "b", "datatype": "FP32", "shape": [1, 3], "data": [1, 1, 1]}]})
    assert r.status_code == 200, r.text
    r = u.post("/v1/infer", add)
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    r = u.post("/v1/infer?model=nope", add)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = u.post("/v2/models/nope/infer", {"inputs": []})
    assert r.status_code == 404 and set(r.json()) == {"error", "code"}
    assert u.get("/v1/models/add2/infer").status_code == 405


def test_a_queued_request_whose_client_left_never_reaches_an_instance(up, store):
    # One instance, busy with a long request; a second waits at the gateway and its client closes
    # its connection. When the instance frees, the second is dropped (499 in the access log, no
    # instance time) and the next request is served.
    u = up(config(store, [fn_config(min_instances=1, max_instances=1)]))
    u.wait_until(lambda: [i["state"] for i in u.instances("work")] == ["idle"])
    first = {}
    t = threading.Thread(target=lambda: first.update(
        r=u.post("/v1/models/work/infer", work_body(loops=SLOW * 3))))
    t.start()
    u.wait_until(lambda: [i["state"] for i in u.instances("work")] == ["busy"])
    address = urllib.parse.urlsplit(u.url)
    leaver = socket.create_connection((address.hostname, address.port))
    payload = json.dumps(work_body()).encode()
    leaver.sendall(b"POST /v1/models/work/infer HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nX-Request-Id: leaver\r\n"
                   b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
    u.wait_until(lambda: u.function("work")["versions"][0]["queued"] == 1)
    leaver.close()
    t.join()
    after = u.post("/v1/models/work/infer", work_body())
    assert first["r"].status_code == 200, first["r"].text
    assert after.status_code == 200, after.text
    assert u.function("work")["versions"][0]["counters"]["abandoned"] == 1
    line = u.wait_for(lambda l: l.get("event") == "access" and l.get("request_id") == "leaver")
    assert line["status"] == 499, line
    assert "modelfn_abandoned_requests_total{" in u.get("/metrics").text


def test_request_ids_are_echoed_or_generated(up, store):
    u = up(config(store, [fn_config()]))
    r = u.post("/v1/models/work/infer", work_body(), headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"
    r = u.post("/v1/models/work/infer", work_body())
    assert len(r.headers["X-Request-Id"]) == 32
    line = u.wait_for(lambda l: l.get("event") == "access" and l["request_id"] == "abc-123")
    assert line["function"] == "work" and line["status"] == 200


def test_canary_split_within_statistical_bounds_and_sticky(up, store):
    u = up(config(store, [fn_config(traffic={"work@1.0.0": 80, "work@2.0.0": 20},
                                    max_instances=2)]))
    n = 400
    s = requests.Session()
    versions = [u.post("/v1/models/work/infer", work_body(), session=s).headers["X-Modelfn-Version"]
                for _ in range(n)]
    share = versions.count("2.0.0") / n
    # Binomial(400, 0.2): sd = 0.02; five sd either side.
    assert 0.10 <= share <= 0.30, share
    assert set(versions) == {"1.0.0", "2.0.0"}
    u2 = up(config(store, [fn_config(traffic={"work@1.0.0": 50, "work@2.0.0": 50},
                                     sticky_traffic=True)]))
    for rid in ("user-1", "user-2", "user-3"):
        seen = {u2.post("/v1/models/work/infer", work_body(),
                        headers={"X-Request-Id": rid}).headers["X-Modelfn-Version"]
                for _ in range(10)}
        assert len(seen) == 1, (rid, seen)
    r = u2.post("/v2/models/work/versions/2.0.0/infer", {"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
        {"name": "loops", "datatype": "INT64", "shape": [1], "data": [0]},
        {"name": "alloc", "datatype": "INT64", "shape": [2], "data": [1, 1]}]})
    assert r.status_code == 200 and r.json()["model_version"] == "2.0.0", r.text


def test_promotion_under_load_fails_no_request(up, store, tmp_path):
    s = tmp_path / "promo-store"
    push(s, WORK_MODEL, "work", "1.0.0")
    push(s, WORK_MODEL, "work", "2.0.0", promote=False)
    u = up(config(s, [fn_config(max_instances=4, idle_ttl_s=30)]))
    results = []
    stop = threading.Event()

    def client():
        sess = requests.Session()
        while not stop.is_set():
            r = u.post("/v1/models/work/infer", work_body(loops=50), session=sess)
            results.append((r.status_code, r.headers.get("X-Modelfn-Version")))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    u.wait_until(lambda: len(results) > 50)
    cli("promote", "work", "2.0.0", "--store", s)
    u.wait_until(lambda: any(v == "2.0.0" for _, v in results[-20:]), timeout=30)
    u.wait_until(lambda: len(results) > 0 and all(v == "2.0.0" for _, v in results[-20:]),
                 timeout=30)
    stop.set()
    for t in threads:
        t.join()
    assert all(code == 200 for code, _ in results), [r for r in results if r[0] != 200][:5]
    assert {v for _, v in results} == {"1.0.0", "2.0.0"}
    # The old instances retired.
    u.wait_until(lambda: all(i["version"] == "2.0.0" for i in u.instances("work")), timeout=15)


def test_cors_preflight_allowed_and_refused(up, store):
    u = up(config(store, [fn_config()],
                  gateway="  cors: {origins: [https://app.example.com]}\n"))
    pre = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type"}
    r = requests.options(u.url + "/v1/models/work/infer", headers=pre, timeout=10)
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    r = requests.options(u.url + "/v1/models/work/infer",
                         headers=dict(pre, Origin="https://evil.example"), timeout=10)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert "Access-Control-Allow-Origin" not in r.headers
    r = u.post("/v1/models/work/infer", work_body(), headers={"Origin": "https://app.example.com"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    r = u.post("/v1/models/work/infer", work_body(), headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_body_limit_is_413(up, store):
    u = up(config(store, [fn_config()], gateway="  limits: {max_body_bytes: 1000}\n"))
    r = u.post("/v1/models/work/infer", work_body(rows=100), headers={"X-Request-Id": "big-1"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    # Refused by the HTTP server before the pipeline saw it, and still carrying the request id.
    assert r.headers["X-Request-Id"] == "big-1"
    r = u.post("/v1/models/work/infer", work_body(rows=100))
    assert r.status_code == 413 and len(r.headers["X-Request-Id"]) > 8


def test_refuses_an_open_non_loopback_listener(up, store):
    u = up(config(store, [fn_config()]).replace("127.0.0.1:0", "0.0.0.0:0"),
           expect_failure=True)
    assert u.proc.returncode == 1
    assert b"refusing to listen on 0.0.0.0 with no auth" in u.stderr


def test_missing_model_fails_the_start_clearly(up, store):
    u = up(config(store, [fn_config("ghost")]), expect_failure=True)
    assert u.proc.returncode == 1
    assert b"function ghost: model ghost has no current version" in u.stderr


def test_status_cli_and_metrics(up, store):
    u = up(config(store, [fn_config(min_instances=1)]))
    u.wait_until(lambda: u.instances("work") and u.instances("work")[0]["state"] == "idle")
    u.post("/v1/models/work/infer", work_body())
    r = cli("status", "-f", u.config, "--json")
    st = json.loads(r.stdout)
    assert st["functions"][0]["name"] == "work" and st["functions"][0]["requests"] == 1
    text = cli("status", "-f", u.config).stdout
    assert "work" in text and "P99_MS" in text
    m = u.get("/metrics").text
    assert 'modelfn_gateway_requests_total{function="work",version="1.0.0",route="/v1/infer",' \
           'status="200"} 1' in m
    assert 'modelfn_cold_starts_total{function="work",version="1.0.0"} 1' in m
    assert 'modelfn_instances{function="work",version="1.0.0",state="idle"} 1' in m
    assert 'modelfn_queue_depth{function="work",version="1.0.0"} 0' in m


def test_response_cache_answers_identical_requests_from_memory(up, store):
    u = up(config(store, [fn_config(response_cache=True)]))
    first = u.post("/v1/models/work/infer", work_body(rows=2))
    again = u.post("/v1/models/work/infer", work_body(rows=2))
    other = u.post("/v1/models/work/infer", work_body(rows=3))
    assert first.status_code == again.status_code == other.status_code == 200
    assert "X-Modelfn-Cache" not in first.headers and "X-Modelfn-Cache" not in other.headers
    assert again.headers["X-Modelfn-Cache"] == "hit"
    assert again.json() == first.json()
    # The instance saw two requests, not three.
    assert u.function("work")["versions"][0]["counters"]["requests"] == 2
    assert 'modelfn_gateway_cache_hits_total{function="work"} 1' in u.get("/metrics").text



def test_lambda_instances_add_no_gateway_threads(up, store):
    """The Runtime API of lambda-mode instances is served on the gateway's event loops: the
    gateway runs as many threads with six ready instances as after they scaled to zero (the
    threads started on demand for the burst stay, so they are in both counts)."""
    u = up(config(store, [fn_config(max_instances=6, idle_ttl_s=4, timeout_s=60)]))

    def threads():
        return len(os.listdir(f"/proc/{u.proc.pid}/task"))

    rs = burst(u, 6, work_body(loops=SLOW))
    assert [r.status_code for r in rs] == [200] * 6
    u.wait_until(lambda: len([i for i in u.instances("work") if i["state"] == "idle"]) == 6,
                 timeout=10, interval=0.01)
    six = threads()
    u.wait_until(lambda: u.instances("work") == [], timeout=30)
    assert threads() == six


def _proc_stat(pid):
    """The fields of /proc/PID/stat after the command name (state first)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _cpu_seconds(pid):
    """CPU time of the process, every thread's (utime + stime)."""
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_cgroup(pid):
    """The cgroup folder of the process's CPU controller (v1 cpu hierarchy, or v2), and its quota
    in CPUs (0 for none)."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [l.strip().split(":", 2) for l in f if l.strip()]
    for _, ctrls, path in lines:
        if "cpu" in ctrls.split(","):
            d = os.path.normpath("/sys/fs/cgroup/cpu/" + path)
            with open(d + "/cpu.cfs_quota_us") as q, open(d + "/cpu.cfs_period_us") as p:
                quota, period = int(q.read()), int(p.read())
            return d, (quota / period if quota > 0 else 0)
    for _, ctrls, path in lines:
        if ctrls == "":
            d = os.path.normpath("/sys/fs/cgroup/" + path)
            with open(d + "/cpu.max") as m:
                quota, period = m.read().split()
            return d, (0 if quota == "max" else int(quota) / int(period))
    return None, 0


def _busy_share(u, pid, seconds=2.0):
    """Keeps the function's one instance busy with CPU-bound requests, one after the other; returns
    the CPU it used per wall second over `seconds`, the states it was seen in meanwhile, and the
    statuses of the requests."""
    stop = threading.Event()
    codes = []

    def load():
        while not stop.is_set():
            codes.append(u.post("/v1/models/work/infer", work_body(loops=SLOW)).status_code)

    t = threading.Thread(target=load)
    t.start()
    try:
        u.wait_until(lambda: u.instances("work")[0]["state"] == "busy", timeout=10, interval=0.01)
        states = set()
        c0, t0 = _cpu_seconds(pid), time.monotonic()
        while time.monotonic() - t0 < seconds:
            states.add(_proc_stat(pid)[0])
            time.sleep(0.003)
        share = (_cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    finally:
        stop.set()
        t.join()
    return share, states, codes


def _limited_instance(u, start):
    """The function's one instance, after a first request; checks how it was started."""
    assert u.function("work")["cpus"] == 0.25
    assert u.post("/v1/models/work/infer", work_body()).status_code == 200
    inst = u.wait_until(lambda: u.instances("work"))[0]
    assert inst["start"] == start, inst
    return inst["pid"]


@pytest.mark.parametrize("start", ["fork", "exec"])
def test_cpus_holds_each_instance_to_its_share_in_a_cgroup(up, store, start):
    u = up(config(store, [fn_config(cpus=0.25, start=start, max_instances=1, idle_ttl_s=60,
                                    timeout_s=60)]))
    kind = u.status()["cpu_limit"]
    if not kind.startswith("cgroup"):
        pytest.skip(f"no writable CPU cgroup here (cpu_limit: {kind})")
    up_line = u.wait_for(lambda l: l.get("event") == "up")
    assert up_line["cpu_limit"] == kind and up_line["functions"][0]["cpus"] == 0.25
    pid = _limited_instance(u, start)
    folder, quota = _cpu_cgroup(pid)
    # In a group of its own under the platform's, with a quarter of a CPU.
    assert os.path.dirname(folder).endswith(f"/modelfn-up-{u.proc.pid}"), folder
    assert quota == 0.25
    share, _, codes = _busy_share(u, pid)
    assert set(codes) == {200}, codes
    assert 0.05 < share < 0.4, share
    # The platform's groups go with it.
    u.stop()
    assert not os.path.exists(os.path.dirname(folder))


def test_the_groups_a_killed_platform_left_are_removed_by_the_next_one(up, store):
    cfg = config(store, [fn_config(cpus=0.25, max_instances=1, idle_ttl_s=60, timeout_s=60)])
    u = up(cfg)
    kind = u.status()["cpu_limit"]
    if not kind.startswith("cgroup"):
        pytest.skip(f"no writable CPU cgroup here (cpu_limit: {kind})")
    pid = _limited_instance(u, "fork")
    folder, _ = _cpu_cgroup(pid)
    platform_group = os.path.dirname(folder)
    memory_groups = [os.path.normpath("/sys/fs/cgroup/memory/" + line.split(":", 2)[2].strip())
                     for line in open(f"/proc/{pid}/cgroup")
                     if "memory" in line.split(":", 2)[1].split(",")]
    u.proc.kill()  # SIGKILL: no clean-up; the instance dies with it (its death signal)
    u.proc.wait()
    u.wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10)
    left = [platform_group] + [os.path.dirname(g) for g in memory_groups
                               if os.path.basename(os.path.dirname(g)) == f"modelfn-up-{u.proc.pid}"]
    assert all(os.path.isdir(g) for g in left), left  # what a SIGKILL leaves
    up(cfg)
    assert [g for g in left if os.path.exists(g)] == []


@pytest.mark.parametrize("start", ["fork", "exec"])
def test_cpus_without_a_cgroup_is_a_duty_cycle_that_never_leaves_an_instance_stopped(
        up, store, start):
    u = up(config(store, [fn_config(cpus=0.25, start=start, max_instances=1, idle_ttl_s=60,
                                    timeout_s=60)]), env={"MODELFN_CPU_LIMIT": "emulate"})
    assert u.status()["cpu_limit"].startswith("emulated"), u.status()["cpu_limit"]
    pid = _limited_instance(u, start)
    if start == "exec":
        # Told its share, which it cannot read from a cgroup (a forked instance's environment is
        # set inside it, after its exec: /proc shows the template's).
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert b"MODELFN_CPUS=0.25" in f.read().split(b"\0")
    share, states, codes = _busy_share(u, pid)
    assert set(codes) == {200}, codes
    assert 0.05 < share < 0.4, share
    assert "T" in states, states  # stopped for the rest of each period
    # Idle, it runs again at once.
    u.wait_until(lambda: u.instances("work")[0]["state"] == "idle", timeout=10)
    u.wait_until(lambda: _proc_stat(pid)[0] != "T", timeout=2, interval=0.005)
    r = u.post("/v1/models/work/infer", work_body())
    assert r.status_code == 200 and r.headers["X-Modelfn-Instance"] == \
        u.instances("work")[0]["name"]


def test_cpus_settings_that_cannot_be_honoured_refuse_to_start(up, store):
    u = up(config(store, [fn_config(cpus=0.01)]), expect_failure=True)
    assert u.proc.returncode == 1
    assert b"functions.work.cpus: expected a number in [0.05, 64]" in u.stderr
    u = up(config(store, [fn_config(cpus=0.5)]), env={"MODELFN_CPU_LIMIT": "sometimes"},
           expect_failure=True)
    assert u.proc.returncode == 1
    assert b"MODELFN_CPU_LIMIT is cgroup, emulate or none" in u.stderr

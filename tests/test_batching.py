"""Dynamic batching in modelfn-fn (--batching): concurrent requests merged into one Run answer
exactly what they answer one at a time, each with its own errors; the metrics show the merging."""
import json
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import CLI, EXAMPLES, FN, MODELS


def concurrently(url, bodies):
    """POSTs every body at once (one thread and connection each; bytes as they are, anything else
    as JSON); the responses, in order."""
    barrier = threading.Barrier(len(bodies))
    out = [None] * len(bodies)

    def one(i):
        with requests.Session() as s:
            barrier.wait()
            body = bodies[i]
            out[i] = s.post(url, data=body if isinstance(body, bytes) else json.dumps(body),
                            headers={"Content-Type": "application/json"}, timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def metric(f, name):
    text = f.get("/metrics").text
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, text
    return float(m.group(1))


def digit_rows():
    rows = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())["inputs"]
    # 24 distinct rows: the example's 8, and each scaled twice
    return rows + [[v * 0.5 for v in r] for r in rows] + [[min(v * 1.5, 16.0) for v in r] for r in rows]


def test_batched_answers_equal_unbatched_ones(start_function):
    plain = start_function(EXAMPLES / "digits")
    # A window long enough that requests released together meet in it.
    batched = start_function(EXAMPLES / "digits", args=["--batching", "max_batch=64,max_delay_ms=200"])
    assert batched.init["batching"].startswith("max_batch=64,max_delay_ms=200,runners=")
    assert batched.init["batch_run_ms"].startswith("1:")  # measured at load
    bodies = [{"inputs": [row]} for row in digit_rows()]
    expected = [plain.post("/v1/infer", b).json()["outputs"] for b in bodies]
    got = concurrently(batched.url + "/v1/infer", bodies)
    for want, r in zip(expected, got):
        assert r.status_code == 200, r.text
        outputs = r.json()["outputs"]
        assert outputs["label"] == want["label"]
        assert len(outputs["probabilities"]) == 1
        assert outputs["probabilities"][0] == pytest.approx(want["probabilities"][0], rel=1e-5,
                                                            abs=1e-7)
        assert r.headers["X-Request-Id"]
    lines = batched.requests_logged(len(bodies))
    infer = [l for l in lines if l.get("path") == "/v1/infer"]
    assert len(infer) == len(bodies)
    assert all(l["status"] == 200 and l["batch_rows"] >= 1 for l in infer)
    assert max(l["batch_requests"] for l in infer) > 1, infer
    assert metric(batched, "modelfn_batch_merged_requests_total") > 1
    assert metric(batched, "modelfn_batch_rows_count") < len(bodies)  # fewer Runs than requests


def test_v2_requests_are_batched_too(start_function):
    f = start_function(MODELS / "add2", args=["--batching", "max_batch=8,max_delay_ms=200"])
    bodies = [{"id": f"r{i}", "inputs": [
        {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [i, i + 1, i + 2]},
        {"name": "b", "shape": [1, 3], "datatype": "FP32", "data": [1, 1, 1]}]} for i in range(8)]
    got = concurrently(f.url + "/v2/models/add2/infer", bodies)
    for i, r in enumerate(got):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == f"r{i}"
        out = {o["name"]: o for o in body["outputs"]}
        assert out["sum"]["data"] == [i + 1, i + 2, i + 3]
        assert out["sum"]["shape"] == [1, 3]
    assert metric(f, "modelfn_batch_merged_requests_total") > 1


def test_a_merged_run_that_cannot_be_split_answers_each_request_alone(start_function):
    # fails/: y = Reshape(x, [-1, 4]). One row of 2 cannot be reshaped (a 500 model_error of its
    # own), one row of 4 can; two rows of 2 merged could, but the answer's rows would not be theirs.
    f = start_function(MODELS / "fails", args=["--batching", "max_batch=8,max_delay_ms=200"])
    bodies = [{"inputs": [[1, 2]]}, {"inputs": [[3, 4]]}, {"inputs": [[1, 2, 3, 4]]}]
    got = concurrently(f.url + "/v1/infer", bodies)
    for r in got[:2]:
        assert r.status_code == 500, r.text
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert r.json()["code"] == "model_error"
    assert got[2].status_code == 200, got[2].text
    assert got[2].json()["outputs"]["y"] == [[1, 2, 3, 4]]
    # And the function goes on serving.
    assert f.post("/v1/infer", {"inputs": [[5, 6, 7, 8]]}).json()["outputs"]["y"] == [[5, 6, 7, 8]]


def test_bad_input_in_a_batched_function_is_a_typed_400(start_function):
    f = start_function(EXAMPLES / "digits", args=["--batching", "on"])
    good = {"inputs": [digit_rows()[0]]}
    bodies = [good, {"inputs": [[1, 2, 3]]}, good, {"inputs": "nope"}, good]
    got = concurrently(f.url + "/v1/infer", bodies)
    assert [r.status_code for r in got] == [200, 400, 200, 400, 200]
    assert got[1].json()["code"] == "shape_mismatch"
    assert got[3].headers["Content-Type"].startswith("application/problem+json")


def wait_metric(f, name, value, timeout=30):
    """Waits until /metrics reports `name` at `value` (a readiness wait on the batcher's gauges)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric(f, name) == value:
            return
        time.sleep(0.01)
    raise AssertionError(f"{name} never reached {value}: {metric(f, name)}")


def test_a_queued_request_whose_client_left_is_dropped_before_its_run(start_function, tmp_path):
    # The work fixture runs as many 256x256 MatMuls as a request asks: one runner busy with a long
    # request, a second request queued behind it whose client closes its connection, a third after.
    d = tmp_path / "work"
    d.mkdir()
    shutil.copy(MODELS / "work" / "model.onnx", d / "model.onnx")
    subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "work", "--version", "1"],
                   check=True, capture_output=True, timeout=120)
    f = start_function(d, args=["--batching", "runners=1"])

    def body(loops):
        return {"inputs": {"x": [[1, 2, 3, 4]], "loops": [loops], "alloc": [1, 1]}}

    # Long enough that the server sees the client leave while the first request still runs: about
    # two seconds on this machine, measured rather than assumed.
    t0 = time.monotonic()
    assert f.post("/v1/infer", body(200)).status_code == 200
    per_loop = max((time.monotonic() - t0) / 200, 1e-6)
    long = body(int(min(max(2.0 / per_loop, 1000), 5_000_000)))
    first = {}
    runner = threading.Thread(target=lambda: first.update(r=requests.post(
        f.url + "/v1/infer", json=long, timeout=120)))
    runner.start()
    wait_metric(f, "modelfn_batch_running_requests", 1)
    leaver = socket.create_connection(("127.0.0.1", f.port))
    payload = json.dumps(body(1)).encode()
    leaver.sendall(b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"X-Request-Id: leaver\r\nContent-Length: " + str(len(payload)).encode() +
                   b"\r\n\r\n" + payload)
    wait_metric(f, "modelfn_batch_queued_requests", 1)
    leaver.close()
    after = requests.post(f.url + "/v1/infer", json=body(1), timeout=120)
    runner.join()
    assert first["r"].status_code == 200, first["r"].text
    assert after.status_code == 200, after.text
    assert metric(f, "modelfn_batch_dropped_requests_total") == 1
    logged = {l["request_id"]: l for l in f.requests_logged(4)}
    assert logged["leaver"]["status"] == 499, logged["leaver"]
    assert logged["leaver"]["code"] == "client_closed", logged["leaver"]
    # Two Runs counted after the first request's: the long one and the one after; none for it.
    assert metric(f, "modelfn_batch_rows_count") == 3


@pytest.mark.parametrize("spec", ["max_batch=0", "max_delay_ms=soon", "speed=fast", "max_batch=8,"])
def test_a_bad_batching_setting_is_a_usage_error(spec):
    p = subprocess.run([str(FN), "--model", str(EXAMPLES / "digits"), "--batching", spec],
                       capture_output=True, timeout=30)
    assert p.returncode == 2
    assert b"batching" in p.stderr


def test_modelfn_up_batches_inside_http_instances(up, tmp_path):
    from up_harness import config, fn_config, push
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits", mode="http", concurrency=32, max_instances=1,
                                    min_instances=1,
                                    batching={"max_batch": 32, "max_delay_ms": 200})]))
    bodies = [{"inputs": [row]} for row in digit_rows()]
    got = concurrently(u.url + "/v1/models/digits/infer", bodies)
    labels = [r.json()["outputs"]["label"] for r in got]
    assert all(r.status_code == 200 for r in got), [r.text for r in got if r.status_code != 200]
    single = [u.post("/v1/models/digits/infer", b).json()["outputs"]["label"] for b in bodies]
    assert labels == single
    # The instance's own log (<state_dir>/logs/<function>.log): its init line names its batching,
    # and its request lines show Runs shared by several requests.
    log = u.dir / ".modelfn" / "logs" / "digits.log"
    lines = [json.loads(l) for l in log.read_text().splitlines() if l.startswith("{")]
    init = [l for l in lines if l.get("event") == "init" and l.get("mode") == "http"]
    assert init and init[0]["batching"].startswith("max_batch=32,max_delay_ms=200"), init
    assert max(l.get("batch_requests", 0) for l in lines if l.get("event") == "request") > 1


def test_held_bodies_that_do_not_parse_alone_go_alone_and_get_their_own_answers(up, tmp_path):
    """The gateway checks each body it may merge with the function's own parser and limits: a
    body that is not one JSON object, or that the batch's two extra levels would push past the
    function's depth, travels alone and gets exactly the answer it gets alone, while the bodies
    around it are still merged."""
    from up_harness import config, fn_config, push
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits", max_instances=1, batching={"max_batch": 16})]))
    good = [json.dumps({"inputs": [row]}).encode() for row in digit_rows()]
    odd = [
        b'{"inputs": [[1, 2]',                       # cut short
        b'{"inputs": [[1]], "inputs": [[2]]}',       # a key twice
        b'[[0, 1, 2]]',                              # not an object
        b'{"inputs": [[1, 2]]} {"inputs": [[3]]}',   # two documents
        b'{"inputs": "\xff"}',                       # not UTF-8
        b'{"inputs":' + b"[" * 62 + b"1" + b"]" * 62 + b"}",  # 63 deep: alone it parses
        b'{"inputs": [[1e400]]}',                    # beyond a double
    ]
    bodies = list(good)
    for k, body in enumerate(odd):
        bodies.insert(1 + 3 * k, body)
    got = concurrently(u.url + "/v1/models/digits/infer", bodies)
    single = [requests.post(u.url + "/v1/models/digits/infer", data=b, timeout=30,
                            headers={"Content-Type": "application/json"}) for b in bodies]
    for i, (r, alone) in enumerate(zip(got, single)):
        assert r.status_code == alone.status_code, (bodies[i][:80], r.text, alone.text)
        assert r.json() == alone.json(), bodies[i][:80]
        if bodies[i] in odd:
            assert r.status_code == 400, (bodies[i][:80], r.text)
            assert "X-Modelfn-Held-Batch" not in r.headers, bodies[i][:80]
        else:
            assert r.status_code == 200, r.text
    held = [int(r.headers.get("X-Modelfn-Held-Batch", "1")) for r in got]
    assert max(held) > 1, held
    # No merged invocation was spoiled by one of them and had to be sent again item by item.
    counters = u.function("digits")["versions"][0]["counters"]
    assert counters["held_batches"] >= 1
    assert counters["held_resends"] == 0, counters


def test_modelfn_up_holds_requests_for_a_lambda_function_at_zero_and_merges_them(up, tmp_path):
    """The scale-from-zero holder: a burst reaching a lambda-mode function at zero waits for its
    first instance and reaches it in merged /v1/batch invocations; each request still gets the
    answer it gets alone, its own error, its own id and its cold-start flag."""
    from up_harness import config, fn_config, push
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits", max_instances=1, batching={"max_batch": 16})]))
    rows = digit_rows()
    bodies = [{"inputs": [row]} for row in rows]
    bad = {"inputs": [[1.0, 2.0]]}  # two columns of 64: its own 400
    bodies.insert(5, bad)
    bodies.insert(17, bad)
    ids = [f"held-{i}" for i in range(len(bodies))]
    barrier = threading.Barrier(len(bodies))
    got = [None] * len(bodies)

    def one(i):
        with requests.Session() as s:
            barrier.wait()
            got[i] = s.post(u.url + "/v1/models/digits/infer", data=json.dumps(bodies[i]),
                            headers={"Content-Type": "application/json", "X-Request-Id": ids[i]},
                            timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(got):
        assert r.headers["X-Request-Id"] == ids[i]
        if bodies[i] is bad:
            assert r.status_code == 400, r.text
            assert r.headers["Content-Type"].startswith("application/problem+json")
            assert r.json()["code"] == "shape_mismatch"
        else:
            assert r.status_code == 200, r.text
    # Answers equal those given one at a time, once the instance is warm and nothing waits.
    single = [u.post("/v1/models/digits/infer", b) for b in bodies]
    assert all("X-Modelfn-Held-Batch" not in s.headers for s in single)
    assert [r.json() for r in got] == [s.json() for s in single]
    held = [int(r.headers.get("X-Modelfn-Held-Batch", "1")) for r in got]
    assert max(held) > 1, held
    assert max(held) <= 16, held
    # Requests that waited for the instance's init say so, merged or not (which ones waited
    # depends on how the burst met the init: src/pool/pool_hold_test.cc checks merged cold ones).
    cold = sum(1 for r in got if r.headers["X-Modelfn-Cold-Start"] == "true")
    assert cold >= 1
    counters = u.function("digits")["versions"][0]["counters"]
    assert counters["cold_start_requests"] == cold
    assert counters["held_batches"] >= 1
    assert counters["held_requests"] == sum(1 for h in held if h > 1)
    assert counters["cold_starts"] == 1
    # The instance served merged invocations on /v1/batch.
    log = u.dir / ".modelfn" / "logs" / "digits.log"
    lines = [json.loads(l) for l in log.read_text().splitlines() if l.startswith("{")]
    assert any(l.get("event") == "request" and l.get("route") == "/v1/batch" for l in lines)
    metrics = u.get("/metrics").text
    assert re.search(r'^modelfn_held_requests_total\{function="digits",version="1.0.0"\} [1-9]',
                     metrics, re.M), metrics
    # The histogram of merged sizes counts each merged invocation, and sums their requests.
    count = re.search(r'^modelfn_held_batch_requests_count\{function="digits",version="1.0.0"\} (\d+)',
                      metrics, re.M)
    total = re.search(r'^modelfn_held_batch_requests_sum\{function="digits",version="1.0.0"\} (\d+)',
                      metrics, re.M)
    assert int(count.group(1)) == counters["held_batches"]
    assert int(total.group(1)) >= counters["held_requests"]

"""Asynchronous invocation in `modelfn up` (docs/events.md): POST /v1/async/{function} is recorded
durably and answered 202 at once; GET /v1/async/{id} tells how it went; failures are retried
with backoff up to max_retries and end in the failure destination; an Idempotency-Key makes a
repeated submission the same invocation; SIGKILL of the platform loses no accepted invocation."""
import json
import os
import signal
import subprocess
import time

import requests

from conftest import CLI, EXAMPLES, MODELS
from up_harness import Up, config, fn_config, push, work_body

DIGITS_BODY = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())


def submit(u, function, body, headers=None, path=""):
    h = {"Content-Type": "application/json", **(headers or {})}
    return requests.post(f"{u.url}/v1/async/{function}{path}", data=json.dumps(body), headers=h,
                         timeout=30)


def wait_done(u, ids, timeout=60, headers=None):
    """Polls each invocation until it has succeeded or failed; their records by id."""
    done = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(ids):
        assert time.monotonic() < deadline, f"not done: {set(ids) - set(done)}"
        for i in ids:
            if i in done:
                continue
            r = requests.get(f"{u.url}/v1/async/{i}", headers=headers or {}, timeout=30)
            assert r.status_code == 200, r.text
            if r.json()["status"] in ("succeeded", "failed"):
                done[i] = r.json()
        time.sleep(0.05)
    return done


def test_an_invocation_is_accepted_at_once_and_answers_as_the_function_does(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    ok_dir = tmp_path / "succeeded"
    u = up(config(store, [fn_config("digits", **{"async": {"on_success": str(ok_dir)}})]))
    r = submit(u, "digits", DIGITS_BODY, {"X-Request-Id": "async-1"})
    assert r.status_code == 202, r.text
    inv = r.json()
    assert r.headers["Location"] == f"/v1/async/{inv['id']}" == inv["location"]
    assert len(inv["id"]) == 32 and inv["status"] == "queued"
    rec = wait_done(u, [inv["id"]])[inv["id"]]
    assert rec["status"] == "succeeded" and rec["attempts"] == 1
    assert rec["request_id"] == "async-1"
    sync = u.post("/v1/models/digits/infer", DIGITS_BODY).json()
    assert rec["response"]["status"] == 200
    assert rec["response"]["body"] == sync
    written = json.loads((ok_dir / f"{inv['id']}.json").read_text())
    assert written["status"] == "succeeded" and written["response"]["body"] == sync
    assert written["request"]["body"] == DIGITS_BODY
    status = u.function("digits")["async"]
    assert status["succeeded"] == 1 and status["queued"] == 0
    assert 'modelfn_async_invocations{function="digits",state="succeeded"} 1' in u.get("/metrics").text
    # /v1/async/{function}/batch reaches /v1/batch.
    b = submit(u, "digits", {"items": [{"inputs": [DIGITS_BODY["inputs"][0]]}]}, path="/batch")
    rec = wait_done(u, [b.json()["id"]])[b.json()["id"]]
    assert rec["status"] == "succeeded" and len(rec["response"]["body"]["results"]) == 1


def test_failures_are_retried_then_written_to_the_failure_destination(up, tmp_path):
    store = tmp_path / "models"
    push(store, MODELS / "work", "work", "1.0.0")
    failed_dir = tmp_path / "failed"
    u = up(config(store, [fn_config("work", timeout_s=0.3, **{"async": {
        "max_retries": 2, "retry_base_s": 0.05, "on_failure": str(failed_dir)}})]))
    slow = submit(u, "work", work_body(loops=100000))  # times out: 504, retried
    bad = submit(u, "work", {"inputs": {"x": [[1, 2, 3]]}})  # 400: not retried
    assert slow.status_code == bad.status_code == 202
    recs = wait_done(u, [slow.json()["id"], bad.json()["id"]], timeout=90)
    s, b = recs[slow.json()["id"]], recs[bad.json()["id"]]
    assert s["status"] == "failed" and s["attempts"] == 3, s
    assert s["error"]["status"] == 504 and s["error"]["code"] == "timeout"
    assert b["status"] == "failed" and b["attempts"] == 1, b
    assert b["error"]["status"] == 400 and b["error"]["code"] == "shape_mismatch"
    for rec in (s, b):
        written = json.loads((failed_dir / f"{rec['id']}.json").read_text())
        assert written["status"] == "failed" and written["error"]["code"] == rec["error"]["code"]
    assert u.function("work")["async"]["retried"] == 2


def test_an_idempotency_key_makes_a_repeat_the_same_invocation(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits")]))
    a = submit(u, "digits", DIGITS_BODY, {"Idempotency-Key": "order-1"})
    b = submit(u, "digits", DIGITS_BODY, {"Idempotency-Key": "order-1"})
    c = submit(u, "digits", DIGITS_BODY, {"Idempotency-Key": "order-2"})
    assert a.status_code == 202 and b.status_code == 200 and c.status_code == 202
    assert b.headers["Idempotent-Replayed"] == "true"
    assert a.json()["id"] == b.json()["id"] != c.json()["id"]
    wait_done(u, [a.json()["id"], c.json()["id"]])
    assert u.function("digits")["async"]["succeeded"] == 2


def test_bad_submissions_get_typed_errors(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits")]))
    assert submit(u, "nope", DIGITS_BODY).status_code == 404
    r = submit(u, "digits", DIGITS_BODY, {"Idempotency-Key": "x" * 256})
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    assert requests.put(f"{u.url}/v1/async/digits", timeout=10).status_code == 405
    r = requests.get(f"{u.url}/v1/async/0123456789abcdef0123456789abcdef", timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert requests.get(f"{u.url}/v1/async/../../etc", timeout=10).status_code == 404


def test_async_routes_need_credentials_when_auth_is_on(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits")], gateway="  auth: {api_keys: true}\n"))
    assert submit(u, "digits", DIGITS_BODY).status_code == 401
    assert requests.get(f"{u.url}/v1/async/0123456789abcdef0123456789abcdef",
                        timeout=10).status_code == 401


def test_a_platform_killed_with_sigkill_loses_no_accepted_invocation(tmp_path):
    store = tmp_path / "models"
    push(store, MODELS / "work", "work", "1.0.0")
    text = config(store, [fn_config("work", max_instances=1, **{"async": {"max_in_flight": 1}})])
    d = tmp_path / "platform"
    d.mkdir()
    u = Up(d, text)
    ids = []
    try:
        for _ in range(60):
            r = submit(u, "work", work_body(loops=20))
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        assert u.function("work")["async"]["queued"] > 0  # some still waiting
    finally:
        os.kill(u.proc.pid, signal.SIGKILL)
        u.proc.wait(30)
    # Its instances are children in their own process groups: the next start kills leftovers.
    u2 = Up(d, text)
    try:
        recs = wait_done(u2, ids, timeout=120)
        assert all(r["status"] == "succeeded" for r in recs.values()), \
            [r for r in recs.values() if r["status"] != "succeeded"]
        assert u2.function("work")["async"]["succeeded"] == len(ids)
    finally:
        u2.stop()


def test_a_thousand_invocations_with_a_tenth_failing_each_end_once(up, tmp_path):
    """The reliability figure at CI size (bench/async_soak.py runs 10,000 with kills): every
    accepted invocation ends exactly once, in its destination; failing ones are sent exactly
    1 + max_retries times, the others once."""
    import concurrent.futures
    store = tmp_path / "models"
    push(store, MODELS / "fails", "fails", "1")
    ok_dir, failed_dir = tmp_path / "ok", tmp_path / "failed"
    u = up(config(store, [fn_config("fails", max_instances=2, **{"async": {
        "max_retries": 2, "retry_base_s": 0.01, "retry_cap_s": 0.05,
        "on_success": str(ok_dir), "on_failure": str(failed_dir)}})]))
    good, bad = {"inputs": [[1, 2, 3, 4]]}, {"inputs": [[1, 2, 3]]}  # bad: 500 model_error
    bodies = [bad if i % 10 == 0 else good for i in range(1000)]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(lambda b: submit(u, "fails", b), bodies))
    assert all(r.status_code == 202 for r in rs)
    ids = [r.json()["id"] for r in rs]
    assert len(set(ids)) == 1000
    deadline = time.monotonic() + 240
    while True:
        a = u.function("fails")["async"]
        if a["succeeded"] + a["failed"] == 1000:
            break
        assert time.monotonic() < deadline, a
        time.sleep(0.2)
    assert a["succeeded"] == 900 and a["failed"] == 100
    assert a["sent"] == 900 + 100 * 3 and a["retried"] == 200
    oks = {p.stem for p in ok_dir.iterdir()}
    fails = {p.stem for p in failed_dir.iterdir()}
    want_bad = {i for i, b in zip(ids, bodies) if b is bad}
    assert fails == want_bad and oks == set(ids) - want_bad
    for i in list(want_bad)[:10]:
        rec = requests.get(f"{u.url}/v1/async/{i}", timeout=10).json()
        assert rec["status"] == "failed" and rec["attempts"] == 3
        assert rec["error"]["code"] == "model_error"
    # The function saw exactly those sends: one request line per send in its log.
    log = u.dir / ".modelfn" / "logs" / "fails.log"
    lines = [json.loads(l) for l in log.read_text().splitlines() if l.startswith("{")]
    assert sum(1 for l in lines if l.get("event") == "request") == 1200


def test_a_second_platform_on_the_same_state_folder_is_refused(tmp_path):
    """Two platforms on one state folder would share the queue and run invocations twice."""
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    text = config(store, [fn_config("digits")])
    d = tmp_path / "platform"
    d.mkdir()
    first = Up(d, text)
    try:
        second = Up(d, text, expect_failure=True)
        assert second.proc.returncode != 0
        assert b"another modelfn up serves the state folder" in second.stderr
        assert submit(first, "digits", DIGITS_BODY).status_code == 202
    finally:
        first.stop()
    third = Up(d, text)  # free again once the first has stopped
    third.stop()


def test_polling_is_not_counted_against_quotas_and_a_reused_key_is_a_conflict(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits")], gateway="  auth: {api_keys: true}\n",
                  extra="plans:\n  tiny: {daily_quota: 3}\n"))
    key = json.loads(subprocess.run([str(CLI), "keys", "create", "--name", "a", "--plan", "tiny",
                                     "--json", "-f", str(u.config)], capture_output=True, text=True,
                                    check=True).stdout)["key"]
    h = {"X-Api-Key": key}
    r = submit(u, "digits", DIGITS_BODY, {**h, "Idempotency-Key": "k1"})
    assert r.status_code == 202, r.text
    for _ in range(5):  # polls are not requests to the function
        assert requests.get(f"{u.url}/v1/async/{r.json()['id']}", headers=h,
                            timeout=10).status_code == 200
    other = dict(DIGITS_BODY, inputs=DIGITS_BODY["inputs"][:1])
    c = submit(u, "digits", other, {**h, "Idempotency-Key": "k1"})
    assert c.status_code == 422 and c.json()["code"] == "idempotency_conflict"

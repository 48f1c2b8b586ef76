"""The platform's Runtime API as AWS's own Python runtime client (awslambdaric) sees it: a Lambda
function written for AWS runs under `modelfn up` unchanged, with the event, context, deadline,
function errors and init errors of the AWS protocol."""
import json
import sys
import textwrap
import time

import pytest

from up_harness import WORK_MODEL, Up, config, fn_config, push

HANDLER = textwrap.dedent('''
    import json, os, time
    if os.environ.get("FAIL_INIT") == "1":
        raise RuntimeError("init refused on purpose")

    def handler(event, context):
        body = json.loads(event.get("body") or "{}")
        if body.get("boom"):
            raise ValueError("handler failed on purpose")
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-From": "awslambdaric"},
            "body": json.dumps({
                "rawPath": event["rawPath"],
                "method": event["requestContext"]["http"]["method"],
                "request_id": context.aws_request_id,
                "function_name": context.function_name,
                "memory": context.memory_limit_in_mb,
                "arn": context.invoked_function_arn,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "echo": body,
            }),
        }
''')


@pytest.fixture
def platform(tmp_path):
    s = tmp_path / "models"
    push(s, WORK_MODEL, "work", "1.0.0")  # the platform needs a model; the handler ignores it
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    started = []

    def start(**env):
        d = tmp_path / f"p{len(started)}"
        d.mkdir()
        fn = fn_config("work", command=f"[{sys.executable}, -m, awslambdaric, app.handler]",
                       timeout_s=7, memory_mb=256, idle_ttl_s=30,
                       env=json.dumps(dict({"PYTHONPATH": str(code)}, **env)))
        u = Up(d, config(s, [fn]))
        started.append(u)
        return u

    yield start
    for u in started:
        u.stop()


def test_awslambdaric_runs_unchanged(platform):
    u = platform()
    r = u.post("/v1/models/work/infer", {"hello": "world"})
    assert r.status_code == 201, r.text
    assert r.headers["X-From"] == "awslambdaric"
    body = r.json()
    assert body["rawPath"] == "/v1/infer" and body["method"] == "POST"
    assert body["echo"] == {"hello": "world"}
    assert body["function_name"] == "work" and body["memory"] == "256"
    assert body["arn"].endswith(":function:work")
    assert 0 < body["remaining_ms"] <= 7000
    assert len(body["request_id"]) == 36
    assert r.headers["X-Modelfn-Cold-Start"] == "true"
    r2 = u.post("/v1/models/work/infer", {"n": 2})
    assert r2.status_code == 201 and r2.json()["request_id"] != body["request_id"]
    assert r2.headers["X-Modelfn-Cold-Start"] == "false"


def test_function_error_is_502_function_error(platform):
    u = platform()
    r = u.post("/v1/models/work/infer", {"boom": True})
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "function_error"
    assert "handler failed on purpose" in r.json()["detail"]
    # The same instance keeps serving.
    assert u.post("/v1/models/work/infer", {"ok": 1}).status_code == 201
    assert u.function("work")["versions"][0]["counters"]["cold_starts"] == 1


def test_init_error_is_502_init_failed_with_the_runtime_error(platform):
    u = platform(FAIL_INIT="1")
    r = u.post("/v1/models/work/infer", {})
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "init_failed"
    assert "init refused on purpose" in r.json()["detail"], r.json()

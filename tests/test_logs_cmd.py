"""`modelfn logs`: the instances' logs of a `modelfn up`, filtered, merged and followed."""
import json
import subprocess
import threading
import time

from conftest import CLI, EXAMPLES
from up_harness import config, fn_config, push

INFER = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())


def logs(u, *args):
    r = subprocess.run([str(CLI), "logs", "--config", str(u.config), *args], capture_output=True,
                       text=True, timeout=30)
    return r


def test_logs_filter_merge_and_follow(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits", mode="http"), fn_config("other", model="digits",
                                                                       mode="http")]))
    ok = u.post("/v1/models/digits/infer", INFER)
    bad = u.post("/v1/models/other/infer", {"inputs": [[1.0]]})
    ok_id, bad_id = ok.headers["X-Request-Id"], bad.headers["X-Request-Id"]
    u.wait_until(lambda: bad_id in logs(u, "--json").stdout)
    lines = [json.loads(x) for x in logs(u, "--json").stdout.splitlines()]
    requests_ = [x for x in lines if x.get("event") == "request"]
    assert {x["function"] for x in requests_} == {"digits", "other"}  # both functions' files
    ts = [x["ts"] for x in lines if "ts" in x]
    assert ts == sorted(ts)  # merged by time
    # Filters.
    only = [json.loads(x) for x in logs(u, "--json", "--request-id", bad_id).stdout.splitlines()]
    assert [x["request_id"] for x in only] == [bad_id] and only[0]["code"] == "shape_mismatch"
    warn = [json.loads(x) for x in logs(u, "--json", "--level", "warn").stdout.splitlines()]
    assert all(x.get("level") in ("warn", "error") for x in warn)
    assert len(warn) == len([x for x in lines if x.get("level") in ("warn", "error")])
    assert ok_id not in {x.get("request_id") for x in warn}  # a request answered 200 is info
    assert [json.loads(x)["function"] for x in logs(u, "--json", "--function", "digits").stdout
            .splitlines()] and "other" not in logs(u, "--json", "--function", "digits").stdout
    assert logs(u, "--json", "--since", "2099-01-01T00:00:00Z").stdout == ""
    assert logs(u, "--since", "yesterday").returncode == 2
    # The readable form: one line per record, time, function, level, event.
    text = logs(u, "--request-id", ok_id).stdout.splitlines()
    assert len(text) == 1 and " digits " in text[0] and " request " in text[0] and " 200 " in text[0]
    # -f follows what comes later, as it comes.
    f = subprocess.Popen([str(CLI), "logs", "-f", "--json", "--config", str(u.config)],
                         stdout=subprocess.PIPE, text=True)
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(iter(f.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        later = u.post("/v1/models/digits/infer", INFER).headers["X-Request-Id"]
        deadline = time.monotonic() + 20
        while not any(later in x for x in seen):
            assert time.monotonic() < deadline, seen[-3:]
            time.sleep(0.1)
    finally:
        f.terminate()
        f.wait(10)
    assert f.returncode == 0  # SIGTERM ends following cleanly


def test_logs_without_a_platform_say_so(tmp_path):
    (tmp_path / "modelfn.yaml").write_text(f"store: {tmp_path}/models\nfunctions:\n  a: {{model: a}}\n")
    r = subprocess.run([str(CLI), "logs", "--config", str(tmp_path / "modelfn.yaml"), "--json"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no logs" in json.loads(r.stdout)["error"]["detail"]


def test_onnx_runtime_messages_carry_the_request_they_belong_to(up, tmp_path):
    """ONNX Runtime's own messages (a kernel failing inside a Run) are JSON lines of the instance's
    log like every other, with the request id of the Run."""
    from up_harness import MODELS
    store = tmp_path / "models"
    push(store, MODELS / "fails", "fails", "1")
    u = up(config(store, [fn_config("fails", mode="http")]))
    r = u.post("/v1/models/fails/infer", {"inputs": [[1.0, 2.0, 3.0]]},
               headers={"X-Request-Id": "probe-ort-1",
                        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"})
    assert r.status_code >= 400
    u.wait_until(lambda: "probe-ort-1" in logs(u, "--json").stdout and
                 '"onnxruntime"' in logs(u, "--json", "--request-id", "probe-ort-1").stdout)
    lines = [json.loads(x) for x in logs(u, "--json", "--request-id", "probe-ort-1").stdout.splitlines()]
    ort = [x for x in lines if x.get("event") == "onnxruntime"]
    assert ort and ort[0]["level"] == "error" and ort[0]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert all(x["function"] == "fails" for x in lines)

"""Outputs of modelfn-fn equal ONNX Runtime's own (Python) results, through every route."""
import json
import socket
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

from conftest import EXAMPLES, MODELS


def reference(model_dir, feeds):
    sess = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def load_request(model, name):
    return json.loads((EXAMPLES / model / "requests" / name).read_text())


@pytest.mark.parametrize("fixture,model,input_name", [("digits", "digits", "pixels"),
                                                      ("cancer", "breast_cancer", "features")])
def test_seed_infer_matches_onnxruntime(request, fixture, model, input_name):
    fn = request.getfixturevalue(fixture)
    body = load_request(model, "infer.json")
    r = fn.post("/v1/infer", body)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    out = r.json()
    assert out["model"] == fn.init["model"]
    ref = reference(EXAMPLES / model, {input_name: np.array(body["inputs"], dtype=np.float32)})
    np.testing.assert_array_equal(np.array(out["outputs"]["label"]), ref["label"])
    np.testing.assert_allclose(np.array(out["outputs"]["probabilities"], dtype=np.float32),
                               ref["probabilities"], rtol=1e-6, atol=1e-7)
    expected = json.loads((EXAMPLES / model / "expected.json").read_text())
    assert out["outputs"]["label"] == expected["label"]


def test_named_inputs_and_v2_json_match(digits):
    named = load_request("digits", "infer_named.json")
    r = digits.post("/v1/infer", named)
    assert r.status_code == 200, r.text
    ref = reference(EXAMPLES / "digits", {"pixels": np.array(named["inputs"]["pixels"], np.float32)})
    np.testing.assert_allclose(r.json()["outputs"]["probabilities"], ref["probabilities"], rtol=1e-6)

    v2 = load_request("digits", "v2_infer.json")
    r = digits.post("/v2/models/digits/infer", v2)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "digits" and out["model_version"] == "1.0.0" and out["id"] == "sample-1"
    by_name = {o["name"]: o for o in out["outputs"]}
    data = np.array(v2["inputs"][0]["data"], np.float32).reshape(v2["inputs"][0]["shape"])
    ref = reference(EXAMPLES / "digits", {"pixels": data})
    assert by_name["probabilities"]["shape"] == list(ref["probabilities"].shape)
    assert by_name["probabilities"]["datatype"] == "FP32"
    np.testing.assert_allclose(np.array(by_name["probabilities"]["data"]).reshape(ref["probabilities"].shape),
                               ref["probabilities"], rtol=1e-6, atol=1e-7)
    assert by_name["label"]["datatype"] == "INT64"
    assert by_name["label"]["data"] == ref["label"].tolist()


def test_batch_items_succeed_or_fail_alone(digits):
    body = load_request("digits", "batch.json")
    r = digits.post("/v1/batch", body)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(body["items"])
    rows = np.array([item["inputs"][0] for item in body["items"][:3]], np.float32)
    ref = reference(EXAMPLES / "digits", {"pixels": rows})
    for i in range(3):
        assert results[i]["outputs"]["label"] == [int(ref["label"][i])]
        np.testing.assert_allclose(results[i]["outputs"]["probabilities"][0], ref["probabilities"][i],
                                   rtol=1e-6, atol=1e-7)
    assert results[3]["error"]["code"] == "shape_mismatch"
    assert results[3]["error"]["status"] == 400
    assert r.headers["X-Batch-Engine-Calls"] == "1"  # the three valid rows ran as one call


def test_curl_is_a_client_too(digits):
    out = subprocess.run(["curl", "-sS", "-X", "POST", digits.url + "/v1/infer", "-H",
                          "Content-Type: application/json", "-d",
                          "@" + str(EXAMPLES / "digits" / "requests" / "infer_named.json")],
                         capture_output=True, check=True, timeout=30)
    assert json.loads(out.stdout)["outputs"]["label"] == [2]
    big = {"inputs": [[0.5] * 64] * 3000}  # > 1 MiB: curl sends Expect: 100-continue
    path = EXAMPLES.parent / "build" / "big_request.json"
    path.write_text(json.dumps(big))
    out = subprocess.run(["curl", "-sS", "-X", "POST", digits.url + "/v1/infer", "-H",
                          "Content-Type: application/json", "--data-binary", "@" + str(path)],
                         capture_output=True, check=True, timeout=30)
    assert len(json.loads(out.stdout)["outputs"]["label"]) == 3000


def test_raw_http_keepalive_pipelining_and_chunked(digits):
    body = json.dumps(load_request("digits", "infer_named.json")).encode()
    req = (b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    chunked = (b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
               hex(10)[2:].encode() + b"\r\n" + body[:10] + b"\r\n" +
               hex(len(body) - 10)[2:].encode() + b"\r\n" + body[10:] + b"\r\n0\r\n\r\n")
    with socket.create_connection(("127.0.0.1", digits.port), timeout=10) as s:
        s.sendall(req + chunked + b"GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.count(b'"label":[2]') == 2
    assert b"Connection: close" in data


def test_models_and_health_describe_the_model(digits):
    m = digits.get("/v1/models").json()["models"][0]
    assert m["name"] == "digits" and m["ready"] is True
    assert m["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": ["N", 64]}]
    h = digits.get("/v1/health").json()
    assert h["ready"] is True and h["version"] == "1.0.0"
    assert h["cold_start"]["model_load_ms"] > 0
    head = digits.session.head(digits.url + "/v1/health")
    assert head.status_code == 200 and head.content == b""


def test_metrics_report_percentiles_and_counts(start_function):
    fn = start_function(EXAMPLES / "digits")
    body = load_request("digits", "infer_named.json")
    for _ in range(20):
        assert fn.post("/v1/infer", body).status_code == 200
    fn.post("/v1/infer", {"inputs": [[1]]})
    text = fn.get("/metrics").text
    assert 'modelfn_requests_total{route="/v1/infer",code="200"} 20' in text
    assert 'modelfn_requests_total{route="/v1/infer",code="400"} 1' in text
    for q in ("0.5", "0.95", "0.99"):
        assert f'modelfn_request_duration_seconds{{route="/v1/infer",quantile="{q}"}}' in text
    assert "modelfn_cold_starts_total 1" in text


def test_cold_start_flag_only_on_first_request(start_function):
    fn = start_function(EXAMPLES / "digits")
    assert fn.init["cold_start"] is True
    # A local folder is not fetched; verifying, loading and the warm-up run each took some time,
    # and all of them happened within the init.
    assert fn.init["model_fetch_ms"] == 0
    phases = [fn.init[key] for key in ("model_verify_ms", "model_load_ms", "warmup_ms")]
    assert all(ms > 0 for ms in phases), fn.init
    assert fn.init["runtime_init_ms"] >= sum(phases), fn.init
    body = load_request("digits", "infer_named.json")
    for _ in range(3):
        fn.post("/v1/infer", body)
    logged = fn.requests_logged(3)
    assert [l["cold_start"] for l in logged] == [True, False, False]
    assert all(l["route"] == "/v1/infer" and l["status"] == 200 for l in logged)
    assert len({l["request_id"] for l in logged}) == 3
    r = fn.post("/v1/infer", body, headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"


def test_many_concurrent_connections(digits):
    body = json.dumps(load_request("digits", "infer_named.json")).encode()
    req = (b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    socks = [socket.create_connection(("127.0.0.1", digits.port), timeout=20) for _ in range(400)]
    try:
        for s in socks:  # every connection is open before any request is sent
            s.sendall(req)
        for s in socks:
            data = b""
            while b'"label":[2]' not in data:
                chunk = s.recv(65536)
                assert chunk, "connection closed before the answer"
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 OK")
    finally:
        for s in socks:
            s.close()
    assert digits.healthy()

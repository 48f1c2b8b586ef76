"""Bad input never crashes or hangs modelfn-fn: each case gets a 4xx with a typed error (RFC 9457
problem+json on the seed API, {"error": ...} on the Open Inference Protocol), and the function
keeps serving."""
import json
import socket

import pytest

from conftest import EXAMPLES, MODELS

ROW = [0.0] * 64
GOOD = {"inputs": [ROW]}

SEED_CASES = [
    # (name, raw body, content type, status, code)
    ("empty body", b"", "application/json", 400, "invalid_request"),
    ("malformed json", b"{inputs: [[1]]}", "application/json", 400, "invalid_json"),
    ("truncated json", json.dumps(GOOD).encode()[:-7], "application/json", 400, "invalid_json"),
    ("binary junk", bytes(range(256)), "application/json", 400, "invalid_json"),
    ("deep nesting", b"[" * 100000, "application/json", 400, "invalid_json"),
    ("not an object", b"[1,2,3]", "application/json", 400, "invalid_request"),
    ("no inputs", b'{"instances": [[1]]}', "application/json", 400, "invalid_request"),
    ("inputs wrong type", b'{"inputs": "abc"}', "application/json", 400, "invalid_request"),
    ("string value", json.dumps({"inputs": [["x"] * 64]}).encode(), "application/json", 400, "dtype_mismatch"),
    ("null value", json.dumps({"inputs": [[None] * 64]}).encode(), "application/json", 400, "dtype_mismatch"),
    ("bool value", json.dumps({"inputs": [[True] * 64]}).encode(), "application/json", 400, "dtype_mismatch"),
    ("overflowing value", b'{"inputs": [[1e300' + b",0" * 63 + b"]]}", "application/json", 400, "dtype_mismatch"),
    ("number beyond double", b'{"inputs": [[1e999' + b",0" * 63 + b"]]}", "application/json", 400, "invalid_json"),
    ("duplicate key", b'{"inputs": [[0' + b",0" * 63 + b']], "inputs": []}', "application/json", 400, "invalid_json"),
    ("wrong rank", json.dumps({"inputs": ROW}).encode(), "application/json", 400, "shape_mismatch"),
    ("wrong width", json.dumps({"inputs": [[0.0] * 63]}).encode(), "application/json", 400, "shape_mismatch"),
    ("ragged rows", json.dumps({"inputs": [ROW, [0.0] * 10]}).encode(), "application/json", 400, "shape_mismatch"),
    ("unknown input", json.dumps({"inputs": {"image": [ROW]}}).encode(), "application/json", 400, "unknown_input"),
    ("missing input", json.dumps({"inputs": {}}).encode(), "application/json", 400, "missing_input"),
    ("unknown output", json.dumps({**GOOD, "outputs": ["logits"]}).encode(), "application/json", 400, "unknown_output"),
    ("other model", json.dumps({**GOOD, "model": "resnet"}).encode(), "application/json", 404, "not_found"),
    ("form content type", json.dumps(GOOD).encode(), "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("text content type", json.dumps(GOOD).encode(), "text/plain", 415, "unsupported_media_type"),
]


@pytest.mark.parametrize("name,body,ctype,status,code", SEED_CASES, ids=[c[0] for c in SEED_CASES])
def test_seed_api_bad_input(digits, name, body, ctype, status, code):
    r = digits.session.post(digits.url + "/v1/infer", data=body, headers={"Content-Type": ctype}, timeout=30)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == code, problem
    assert problem["status"] == status
    assert problem["type"] == f"urn:modelfn:problem:{code}"
    assert problem["title"] and problem["detail"]
    assert digits.healthy()


def v2(inputs, **extra):
    return json.dumps({"inputs": inputs, **extra}).encode()


V2_CASES = [
    ("empty", b"", 400, "invalid_request"),
    ("malformed", b"{", 400, "invalid_json"),
    ("no inputs", b"{}", 400, "invalid_request"),
    ("wrong datatype", v2([{"name": "pixels", "shape": [1, 64], "datatype": "FP64", "data": ROW}]), 400, "dtype_mismatch"),
    ("unknown datatype", v2([{"name": "pixels", "shape": [1, 64], "datatype": "FLOAT", "data": ROW}]), 400, "dtype_mismatch"),
    ("data shorter than shape", v2([{"name": "pixels", "shape": [2, 64], "datatype": "FP32", "data": ROW}]), 400, "shape_mismatch"),
    ("data longer than shape", v2([{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": ROW * 2}]), 400, "shape_mismatch"),
    ("wrong rank", v2([{"name": "pixels", "shape": [64], "datatype": "FP32", "data": ROW}]), 400, "shape_mismatch"),
    ("negative dim", v2([{"name": "pixels", "shape": [-1, 64], "datatype": "FP32", "data": ROW}]), 400, "shape_mismatch"),
    ("non-numeric data", v2([{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": ["a"] * 64}]), 400, "dtype_mismatch"),
    ("unknown input", v2([{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": ROW}]), 400, "unknown_input"),
    ("missing input", v2([]), 400, "missing_input"),
    ("no data", v2([{"name": "pixels", "shape": [1, 64], "datatype": "FP32"}]), 400, "invalid_request"),
    ("huge shape", v2([{"name": "pixels", "shape": [10**12, 64], "datatype": "FP32", "data": ROW}]), 413, "too_many_elements"),
]


@pytest.mark.parametrize("name,body,status,code", V2_CASES, ids=[c[0] for c in V2_CASES])
def test_v2_bad_input(digits, name, body, status, code):
    r = digits.session.post(digits.url + "/v2/models/digits/infer", data=body,
                            headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    err = r.json()
    assert isinstance(err["error"], str) and err["error"]
    assert err["code"] == code, err
    assert digits.healthy()


def test_v2_binary_header_length_beyond_body(digits):
    r = digits.session.post(digits.url + "/v2/models/digits/infer", data=b"{}",
                            headers={"Inference-Header-Content-Length": "500"}, timeout=30)
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    r = digits.session.post(digits.url + "/v2/models/digits/infer", data=b"{}" + b"\0" * 8,
                            headers={"Inference-Header-Content-Length": "2",
                                     "Content-Type": "application/octet-stream"}, timeout=30)
    assert r.status_code == 400
    assert digits.healthy()


def test_body_over_limit_is_413(start_function):
    fn = start_function(EXAMPLES / "digits", env={"MODELFN_MAX_BODY_BYTES": "4096"})
    body = json.dumps({"inputs": [ROW] * 100}).encode()
    assert len(body) > 4096
    r = fn.session.post(fn.url + "/v1/infer", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "payload_too_large"
    assert fn.healthy()


def test_element_cap_is_413(start_function):
    fn = start_function(EXAMPLES / "digits", env={"MODELFN_MAX_ELEMENTS": "640"})
    assert fn.post("/v1/infer", {"inputs": [ROW] * 10}).status_code == 200
    r = fn.post("/v1/infer", {"inputs": [ROW] * 11})
    assert r.status_code == 413 and r.json()["code"] == "too_many_elements"
    r = fn.post("/v1/batch", {"items": [{"inputs": [ROW] * 6}, {"inputs": [ROW] * 6}]})
    results = r.json()["results"]
    assert "outputs" in results[0] and results[1]["error"]["code"] == "too_many_elements"
    assert fn.healthy()


def test_truncated_and_malformed_http_do_not_hang(digits):
    # A body shorter than its Content-Length, then the client goes away.
    with socket.create_connection(("127.0.0.1", digits.port), timeout=5) as s:
        s.sendall(b"POST /v1/infer HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{\"inputs\":")
    # A request line that is not HTTP.
    with socket.create_connection(("127.0.0.1", digits.port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n")
        reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 400") or reply.startswith(b"HTTP/1.1 505"), reply
    # Header too large.
    with socket.create_connection(("127.0.0.1", digits.port), timeout=5) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 431")
    assert digits.healthy()


def test_wrong_method_and_unknown_route(digits):
    r = digits.get("/v1/infer")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert r.json()["code"] == "method_not_allowed"
    r = digits.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = digits.get("/v2/models/digits/versions/7")
    assert r.status_code == 404 and "error" in r.json()


def test_model_failure_is_500_and_instance_keeps_serving(start_function):
    fn = start_function(MODELS / "fails")
    r = fn.post("/v1/infer", {"inputs": [[1.0, 2.0, 3.0]]})
    assert r.status_code == 500
    assert r.json()["code"] == "model_error"
    r = fn.post("/v1/infer", {"inputs": [[1.0, 2.0, 3.0, 4.0]]})
    assert r.status_code == 200 and r.json()["outputs"]["y"] == [[1.0, 2.0, 3.0, 4.0]]
    assert fn.healthy()

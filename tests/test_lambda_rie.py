"""modelfn-fn as a Lambda custom runtime under AWS's own Runtime Interface Emulator: direct
invokes, API Gateway HTTP API (2.0) and REST (1.0) events, Function URL events, typed errors,
init errors, the 6 MB response limit, and the trace id."""
import base64
import json
import os
import shutil
import subprocess
import time

import numpy as np
import onnxruntime as ort
import pytest

from conftest import CLI, EXAMPLES, FN, MODELS
from servers import LambdaRie


def http_v2(method, path, body=b"", headers=None, b64=False, query=""):
    return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
            "headers": {"content-type": "application/json", **(headers or {})},
            "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "x.lambda-url.us-east-1.on.aws",
                               "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "203.0.113.1", "userAgent": "test"},
                               "requestId": "req", "routeKey": "$default", "stage": "$default",
                               "time": "28/Nov/2026:17:00:00 +0000", "timeEpoch": 1795885200000},
            "body": base64.b64encode(body).decode() if b64 else body.decode(), "isBase64Encoded": b64}


def rest_v1(method, path, body=b"", b64=False):
    return {"resource": "/{proxy+}", "path": path, "httpMethod": method,
            "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {"Content-Type": ["application/json"]},
            "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
            "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": "/prod" + path,
                               "stage": "prod", "requestId": "r", "identity": {"sourceIp": "203.0.113.1"}},
            "body": base64.b64encode(body).decode() if b64 else body.decode(), "isBase64Encoded": b64}


@pytest.fixture(scope="module")
def digits_rie():
    rie = LambdaRie([str(FN), "--model", str(EXAMPLES / "digits")])
    yield rie
    rie.stop()


def reference(x):
    sess = ort.InferenceSession(str(EXAMPLES / "digits" / "model.onnx"))
    return sess.run(["label", "probabilities"], {"pixels": np.array(x, np.float32)})


def test_direct_invoke_matches_onnxruntime(digits_rie):
    body = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())
    r = digits_rie.invoke(body)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    label, proba = reference(body["inputs"])
    assert out["label"] == label.tolist()
    np.testing.assert_allclose(out["probabilities"], proba, rtol=1e-6, atol=1e-7)
    batch = digits_rie.invoke(json.loads((EXAMPLES / "digits" / "requests" / "batch.json").read_text())).json()
    assert [("outputs" in x) for x in batch["results"]] == [True, True, True, False]


def test_direct_invoke_errors_are_function_errors_with_the_code(digits_rie):
    r = digits_rie.invoke({"inputs": [[1, 2]]})
    err = r.json()
    assert err["errorType"] == "shape_mismatch" and "expects shape [N,64]" in err["errorMessage"]
    assert digits_rie.invoke(b"{not json").json()["errorType"] == "invalid_json"
    assert digits_rie.invoke({"inputs": [[0.0] * 64]}).status_code == 200  # still serving


@pytest.mark.parametrize("kind", ["http-v2", "function-url", "rest-v1"])
def test_api_events(digits_rie, kind):
    body = (EXAMPLES / "digits" / "requests" / "infer_named.json").read_bytes()
    event = rest_v1("POST", "/v1/infer", body, b64=True) if kind == "rest-v1" else http_v2("POST", "/v1/infer", body)
    r = digits_rie.invoke(event)
    resp = r.json()
    assert resp["statusCode"] == 200 and resp["isBase64Encoded"] is False
    assert resp["headers"]["Content-Type"] == "application/json"
    assert json.loads(resp["body"])["outputs"]["label"] == [2]
    if kind == "rest-v1":
        assert "multiValueHeaders" in resp
    bad = digits_rie.invoke(http_v2("POST", "/v1/infer", b'{"inputs": [[1]]}')).json()
    assert bad["statusCode"] == 400 and bad["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(bad["body"])["code"] == "shape_mismatch"
    health = digits_rie.invoke(http_v2("GET", "/v1/health")).json()
    assert health["statusCode"] == 200 and json.loads(health["body"])["ready"] is True
    missing = digits_rie.invoke(http_v2("GET", "/nope")).json()
    assert missing["statusCode"] == 404


def test_v2_binary_through_api_gateway(digits_rie):
    x = np.array(json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())["inputs"], np.float32)
    header = json.dumps({"inputs": [{"name": "pixels", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "label", "parameters": {"binary_data": True}}]}).encode()
    event = http_v2("POST", "/v2/models/digits/infer", header + x.tobytes(), b64=True,
                    headers={"inference-header-content-length": str(len(header)),
                             "content-type": "application/octet-stream"})
    resp = digits_rie.invoke(event).json()
    assert resp["statusCode"] == 200 and resp["isBase64Encoded"] is True
    raw = base64.b64decode(resp["body"])
    n = int(resp["headers"]["Inference-Header-Content-Length"])
    meta = json.loads(raw[:n])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 8 * len(x)
    assert np.frombuffer(raw[n:], np.int64).tolist() == reference(x)[0].tolist()


def test_trace_id_and_cold_start_in_logs(digits_rie):
    digits_rie.invoke({"inputs": [[0.0] * 64]})
    out = digits_rie.output()
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    init = [l for l in lines if l.get("event") == "init"]
    assert len(init) == 1 and init[0]["mode"] == "lambda" and init[0]["cold_start"] is True
    requests_logged = [l for l in lines if l.get("event") == "request"]
    assert requests_logged[0]["cold_start"] is True and all(not l["cold_start"] for l in requests_logged[1:])
    # The Lambda request id becomes the log's request id.
    assert all(len(l["request_id"]) == 36 for l in requests_logged)


def test_init_error_is_reported_to_the_runtime_api(tmp_path):
    d = tmp_path / "digits"
    shutil.copytree(EXAMPLES / "digits", d)
    data = bytearray((d / "model.onnx").read_bytes())
    data[500] ^= 1
    (d / "model.onnx").write_bytes(bytes(data))
    rie = LambdaRie([str(FN), "--model", str(d)])
    try:
        r = rie.invoke({"inputs": [[0.0] * 64]})
        err = r.json()
        assert err["errorType"] == "Runtime.checksum_mismatch", err
        assert "does not match manifest.json" in err["errorMessage"]
        # The function logged why its init failed, as one JSON line with the same code.
        logged = [json.loads(l) for l in rie.output().splitlines() if l.startswith("{")]
        failures = [l for l in logged if l.get("event") == "init_error"]
        assert len(failures) == 1, rie.output()
        assert failures[0]["code"] == "checksum_mismatch"
        assert failures[0]["model"] == str(d)
    finally:
        rie.stop()


def test_response_over_6mb_is_a_clear_error():
    rie = LambdaRie([str(FN), "--model", str(MODELS / "dtypes")])
    try:
        n = 2_000_000  # BOOL in as 1 byte each (binary), out as JSON true/false: > 6 MB
        bools = np.ones(n, np.bool_)
        inputs = [{"name": "bool", "shape": [n], "datatype": "BOOL", "parameters": {"binary_data_size": n}}]
        for name, dt in [("uint8", "UINT8"), ("uint16", "UINT16"), ("uint32", "UINT32"), ("uint64", "UINT64"),
                         ("int8", "INT8"), ("int16", "INT16"), ("int32", "INT32"), ("int64", "INT64"),
                         ("fp16", "FP16"), ("fp32", "FP32"), ("fp64", "FP64")]:
            inputs.append({"name": name, "shape": [1], "datatype": dt, "data": [1]})
        inputs.append({"name": "bytes", "shape": [1], "datatype": "BYTES", "data": ["x"]})
        header = json.dumps({"inputs": inputs}).encode()
        event = http_v2("POST", "/v2/models/dtypes/infer", header + bools.tobytes(), b64=True,
                        headers={"inference-header-content-length": str(len(header))})
        resp = rie.invoke(event, timeout=120).json()
        assert resp["statusCode"] == 500
        problem = json.loads(resp["body"])
        assert problem["code"] == "response_too_large" and "6 MB" in problem["detail"]
        ok = rie.invoke(http_v2("GET", "/v2/health/ready")).json()
        assert ok["statusCode"] == 200
    finally:
        rie.stop()


def s3_record(bucket, key, etag, size):
    from urllib.parse import quote_plus
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-28T17:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "modelfn",
                   "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"},
                              "arn": f"arn:aws:s3:::{bucket}"},
                   "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag,
                              "sequencer": "0A1B2C3D4E5F678901"}}}


def test_s3_trigger_and_sqs_batches_end_to_end(tmp_path):
    import io
    from servers import SeaweedS3
    s3 = SeaweedS3()
    rie = None
    try:
        bucket = s3.bucket("trigger")
        c = s3.client()
        rows = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())["inputs"]
        npy = io.BytesIO()
        np.save(npy, np.array(rows[3:5], np.float32))
        objects = {"incoming/a.jsonl": "\n".join(json.dumps(r) for r in rows[:3]).encode(),
                   "incoming/sub dir/b c.npy": npy.getvalue(),
                   "incoming/bad.json": json.dumps([[1.0, 2.0]]).encode()}
        records = []
        for key, data in objects.items():
            c.put_object(Bucket=bucket, Key=key, Body=data)
            etag = c.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
            records.append(s3_record(bucket, key, etag, len(data)))
        env = {**os.environ, **s3.env(), "MODELFN_SQS_OUTPUT": f"s3://{bucket}/sqs-results"}
        rie = LambdaRie([str(FN), "--model", str(EXAMPLES / "digits")], env=env)
        first = rie.invoke({"Records": records}).json()
        assert first["processed"] == 2 and first["duplicates"] == 0, first
        assert [f["input"] for f in first["failed"]] == ["incoming/bad.json"]
        label, _ = reference(rows[:5])
        out_a = c.get_object(Bucket=bucket, Key=first["written"][0])["Body"].read().decode()
        assert [json.loads(x)["outputs"]["label"] for x in out_a.splitlines()] == label[:3].tolist()
        # A .npy gets a .npz: an array per output, and row_ok.
        out_b = np.load(io.BytesIO(c.get_object(Bucket=bucket, Key=first["written"][1])["Body"].read()))
        assert sorted(out_b.files) == ["label", "probabilities", "row_ok"]
        assert out_b["label"].tolist() == label[3:5].tolist() and out_b["row_ok"].tolist() == [True, True]
        assert out_b["probabilities"].shape == (2, 10) and out_b["probabilities"].dtype == np.float32  # the model's FP32
        assert first["written"][1].startswith("results/sub dir/b c.npy.") and first["written"][1].endswith(".npz")
        failure = json.loads(c.get_object(Bucket=bucket, Key=first["failed"][0]["failure"])["Body"].read())
        assert failure["error"]["code"] == "shape_mismatch" and failure["input"] == "incoming/bad.json"

        listed = lambda p: sorted(o["Key"] for o in c.list_objects_v2(Bucket=bucket, Prefix=p).get("Contents", []))
        before = listed("results/")
        again = rie.invoke({"Records": records}).json()  # the same event delivered twice
        assert again["processed"] == 0 and again["duplicates"] == 2
        assert listed("results/") == before

        good = json.dumps({"inputs": [rows[0]]})
        sqs = {"Records": [
            {"messageId": "m-good", "receiptHandle": "h1", "body": good, "attributes": {}, "messageAttributes": {},
             "md5OfBody": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"},
            {"messageId": "m-bad", "receiptHandle": "h2", "body": "{\"inputs\": [[1]]}", "attributes": {},
             "messageAttributes": {}, "md5OfBody": "y", "eventSource": "aws:sqs",
             "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"}]}
        resp = rie.invoke(sqs).json()
        assert resp == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
        stored = json.loads(c.get_object(Bucket=bucket, Key="sqs-results/m-good.json")["Body"].read())
        assert stored["outputs"]["label"] == label[:1].tolist()
    finally:
        if rie:
            rie.stop()
        s3.stop()


def test_run_is_stopped_before_the_deadline(tmp_path):
    # The work fixture runs as many 256x256 MatMuls as the request asks, inside one ONNX Loop: any
    # amount of work, whatever the machine's speed, and a one-node graph that initialises at once
    # even under the sanitizers (a deep chain of MatMuls was either too quick on a fast machine or
    # too slow to initialise under AddressSanitizer).
    d = tmp_path / "work"
    d.mkdir()
    shutil.copy(MODELS / "work" / "model.onnx", d / "model.onnx")
    m = subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "work", "--version", "1"],
                       capture_output=True, text=True, timeout=120)
    assert m.returncode == 0, m.stderr
    rie = LambdaRie([str(FN), "--model", str(d)], env={**os.environ, "AWS_LAMBDA_FUNCTION_TIMEOUT": "4"})
    try:
        # A first invoke runs the (on-demand) init, so the timed one below holds only the request.
        assert rie.invoke(http_v2("GET", "/v2/health/ready"), timeout=120).json()["statusCode"] == 200
        body = json.dumps({"inputs": {"x": [[1, 2, 3, 4]], "loops": [10_000_000], "alloc": [1, 1]}})
        t0 = time.monotonic()
        resp = rie.invoke(http_v2("POST", "/v1/infer", body.encode()), timeout=60).json()
        elapsed = time.monotonic() - t0
        assert resp.get("statusCode") == 504, resp
        assert json.loads(resp["body"])["code"] == "timeout"
        assert elapsed < 20  # answered by the function at the deadline, not left to run on
        ok = rie.invoke(http_v2("GET", "/v2/health/ready")).json()
        assert ok["statusCode"] == 200  # the same sandbox keeps serving
    finally:
        rie.stop()

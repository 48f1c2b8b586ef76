"""Lambda's Invoke API on `modelfn up` (POST /2015-03-31/functions/{name}/invocations), driven by
boto3's real Lambda client: the payload reaches a lambda-mode function as the event itself, the
answer is the function's payload, a function error says so in X-Amz-Function-Error, and
InvocationType Event queues it as an asynchronous invocation."""
import json
import time

import boto3
import requests
from botocore.config import Config

from conftest import EXAMPLES
from up_harness import config, fn_config, push

DIGITS_BODY = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())


def client(u):
    return boto3.client("lambda", endpoint_url=u.url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local",
                        config=Config(retries={"max_attempts": 0}))


def test_boto3_invokes_a_function_and_reads_its_payload(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits"), fn_config("web", model="digits", mode="http")]))
    lam = client(u)
    r = lam.invoke(FunctionName="digits", Payload=json.dumps(DIGITS_BODY))
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert r["ExecutedVersion"] == "$LATEST"
    payload = json.loads(r["Payload"].read())
    assert payload == u.post("/v1/models/digits/infer", DIGITS_BODY).json()
    # The ARN and $LATEST name the same function.
    arn = "arn:aws:lambda:us-east-1:000000000000:function:digits:$LATEST"
    assert lam.invoke(FunctionName=arn, Payload=json.dumps(DIGITS_BODY))["StatusCode"] == 200
    # A function error is the function's payload, flagged.
    bad = lam.invoke(FunctionName="digits", Payload=json.dumps({"inputs": [[1.0, 2.0]]}))
    assert bad["StatusCode"] == 200 and bad["FunctionError"] == "Unhandled"
    err = json.loads(bad["Payload"].read())
    assert err["errorType"] == "shape_mismatch", err
    # DryRun checks only that it may be invoked.
    assert lam.invoke(FunctionName="digits", InvocationType="DryRun")["StatusCode"] == 204
    # An API Gateway event is answered as API Gateway expects.
    event = {"version": "2.0", "routeKey": "POST /v1/infer", "rawPath": "/v1/infer",
             "headers": {"content-type": "application/json"},
             "requestContext": {"http": {"method": "POST", "path": "/v1/infer"},
                                "requestId": "r1"},
             "body": json.dumps(DIGITS_BODY), "isBase64Encoded": False}
    api = json.loads(lam.invoke(FunctionName="digits", Payload=json.dumps(event))["Payload"].read())
    assert api["statusCode"] == 200 and json.loads(api["body"])["outputs"] == payload["outputs"]
    # Only lambda-mode functions take events; unknown names and qualifiers are 404s.
    url = f"{u.url}/2015-03-31/functions/%s/invocations"
    r = requests.post(url % "web", data=b"{}", timeout=30)
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    assert requests.post(url % "nope", data=b"{}", timeout=30).status_code == 404
    assert requests.post(url % "digits:3", data=b"{}", timeout=30).status_code == 404
    r = requests.post(url % "digits", data=b"{}", headers={"X-Amz-Invocation-Type": "Later"},
                      timeout=30)
    assert r.status_code == 400


def test_an_event_invocation_is_queued_and_retried_like_lambdas(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    failed = tmp_path / "failed"
    u = up(config(store, [fn_config("digits", **{"async": {
        "max_retries": 1, "retry_base_s": 0.05, "on_failure": str(failed)}})]))
    lam = client(u)
    ok = lam.invoke(FunctionName="digits", InvocationType="Event", Payload=json.dumps(DIGITS_BODY))
    bad = lam.invoke(FunctionName="digits", InvocationType="Event",
                     Payload=json.dumps({"inputs": [[1.0, 2.0]]}))
    assert ok["StatusCode"] == bad["StatusCode"] == 202
    ids = [json.loads(x["Payload"].read())["id"] for x in (ok, bad)]
    deadline = time.monotonic() + 60
    recs = {}
    while len(recs) < 2:
        assert time.monotonic() < deadline, recs
        for i in ids:
            r = requests.get(f"{u.url}/v1/async/{i}", timeout=10).json()
            if r["status"] in ("succeeded", "failed"):
                recs[i] = r
        time.sleep(0.05)
    assert recs[ids[0]]["status"] == "succeeded"
    assert recs[ids[0]]["response"]["body"]["outputs"]
    # A function error is retried (max_retries: 1), then written to the failure destination.
    assert recs[ids[1]]["status"] == "failed" and recs[ids[1]]["attempts"] == 2
    assert recs[ids[1]]["error"]["code"] == "function_error"
    written = json.loads((failed / f"{ids[1]}.json").read_text())
    assert written["error"]["body"]["errorType"] == "shape_mismatch"

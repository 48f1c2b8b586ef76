"""An SQS queue feeding a lambda-mode function of `modelfn up`, against a real SQS server
(moto's server mode): messages arrive as SQS events in batches, the handled ones are deleted,
the ones the function reports in batchItemFailures come back, and the queue's redrive policy
moves a poison message to its dead-letter queue without blocking the others."""
import json
import os
import subprocess
import time

import boto3
import requests
import pytest

from conftest import EXAMPLES
from servers import free_ports, wait_port
from up_harness import config, fn_config, push

DIGITS_ROW = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())["inputs"][0]
CREDS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


@pytest.fixture
def sqs():
    port = free_ports(1)[0]
    proc = subprocess.Popen([os.path.join(os.path.dirname(os.sys.executable), "moto_server"),
                             "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, 60, proc)
    client = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    yield client
    proc.kill()
    proc.wait()


def count(client, url):
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_a_queue_feeds_a_function_in_batches_and_a_poison_message_goes_to_the_dlq(up, tmp_path, sqs):
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(QueueName="jobs", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits", sqs={
        "queue_url": q, "batch_size": 5, "batching_window_s": 0.2, "visibility_timeout_s": 1})]),
        env=CREDS)
    good = [json.dumps({"inputs": [DIGITS_ROW]}) for _ in range(18)]
    bad = [json.dumps({"inputs": [[1.0, 2.0]]}) for _ in range(2)]  # shape_mismatch: fails
    for body in good[:9] + bad[:1] + good[9:] + bad[1:]:
        sqs.send_message(QueueUrl=q, MessageBody=body)
    deadline = time.monotonic() + 60
    while count(sqs, q) > 0 or count(sqs, dlq) < 2:
        assert time.monotonic() < deadline, (count(sqs, q), count(sqs, dlq))
        time.sleep(0.2)
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in dead) == sorted(bad)
    stats = u.function("digits")["async"]["sqs"]
    assert stats["deleted"] == 18
    assert stats["returned"] >= 2 and stats["batches"] >= 4
    assert stats["received"] == stats["deleted"] + stats["returned"]
    # The function received SQS events (one request line per message of each batch).
    log = u.dir / ".modelfn" / "logs" / "digits.log"
    lines = [json.loads(l) for l in log.read_text().splitlines() if l.startswith("{")]
    assert sum(1 for l in lines if l.get("event") == "request") >= 20


def test_an_unreachable_queue_is_retried_and_counted_not_fatal(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    port = free_ports(1)[0]  # nothing listens there
    u = up(config(store, [fn_config("digits", sqs={
        "queue_url": f"http://127.0.0.1:{port}/000000000000/gone"})]), env=CREDS)
    deadline = time.monotonic() + 20
    while u.function("digits")["async"]["sqs"]["receive_errors"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    r = u.post("/v1/models/digits/infer", {"inputs": [DIGITS_ROW]})
    assert r.status_code == 200


def test_a_failed_asynchronous_invocation_goes_to_a_dead_letter_queue(up, tmp_path, sqs):
    """on_failure: an SQS queue's ARN, as Lambda's destinations name it: each invocation that
    failed (after its retries) is one message holding its record; a record past SQS's 256 KiB is
    sent without its bodies."""
    dlq = sqs.create_queue(QueueName="async-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    endpoint = dlq[:dlq.index("/", len("http://"))]
    u = up(config(store, [fn_config("digits", **{"async": {"max_retries": 0, "on_failure": arn}})]),
           env={**CREDS, "AWS_ENDPOINT_URL_SQS": endpoint})
    ok = {"inputs": [DIGITS_ROW]}
    bad = {"inputs": [[1.0, 2.0]]}  # shape_mismatch: fails at once (a 4xx is not retried)
    big = {"inputs": [[1.0, 2.0]], "id": "x" * 300000}
    ids = []
    for body in (ok, bad, big):
        r = requests.post(f"{u.url}/v1/async/digits", data=json.dumps(body), timeout=30,
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    deadline = time.monotonic() + 60
    got = {}
    while len(got) < 2:
        assert time.monotonic() < deadline, got
        for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1).get("Messages", []):
            rec = json.loads(m["Body"])
            got[rec["id"]] = rec
    assert set(got) == set(ids[1:])  # the one that succeeded is not there
    small, large = got[ids[1]], got[ids[2]]
    assert small["status"] == "failed" and small["error"]["code"] == "shape_mismatch"
    assert small["request"]["body"] == bad and "truncated" not in small
    assert large["truncated"] is True and "body" not in large["request"]
    assert large["error"]["status"] == 400 and large["function"] == "digits"
    assert u.function("digits")["async"]["destination_errors"] == 0

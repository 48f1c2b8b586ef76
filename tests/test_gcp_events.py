"""The Google Cloud face of modelfn-fn: the face chosen from the environment, CloudEvents sent by
the CloudEvents Python SDK in binary and structured content modes, Pub/Sub push messages, Cloud
Storage `finalized` events end to end on fake-gcs-server, malformed events answered with typed
problems, and the cases Google's functions-framework-conformance checks (its event fixtures'
shapes, concurrent events), written here."""
import base64
import concurrent.futures
import hashlib
import json
import os
import pathlib
import subprocess

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from conftest import EXAMPLES, FN, Function
from servers import FakeGcs, free_ports, wait_port

PUBSUB = "google.cloud.pubsub.topic.v1.messagePublished"
FINALIZED = "google.cloud.storage.object.v1.finalized"
DIGITS_INFER = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())
DIGITS_BATCH = json.loads((EXAMPLES / "digits" / "requests" / "batch.json").read_text())


def pubsub_event(body: bytes, message_id="m-1", attributes=None, **extra):
    message = {"@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage", "messageId": message_id,
               "publishTime": "2026-12-02T10:00:00.123Z", "data": base64.b64encode(body).decode()}
    if attributes:
        message["attributes"] = attributes
    attrs = {"type": PUBSUB, "source": "//pubsub.googleapis.com/projects/p/topics/digits",
             "id": message_id, "datacontenttype": "application/json", **extra}
    return CloudEvent(attrs, {"subscription": "projects/p/subscriptions/digits-push", "message": message})


def send(url, event, mode):
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    return requests.post(url, headers=headers, data=body, timeout=30)


@pytest.fixture(scope="module")
def cloud_run():
    f = Function(EXAMPLES / "digits", env={"K_SERVICE": "digits", "K_REVISION": "digits-00001"})
    yield f
    f.terminate()


def test_the_face_follows_the_environment(start_function):
    plain = start_function(EXAMPLES / "digits", env={"K_SERVICE": ""})
    assert plain.init["face"] == "http"
    cloud = start_function(EXAMPLES / "digits", env={"K_SERVICE": "digits"})
    assert (cloud.init["face"], cloud.init["face_reason"]) == ("cloudevents", "env K_SERVICE")
    flag = start_function(EXAMPLES / "digits", env={"K_SERVICE": "digits"}, args=("--face", "http"))
    assert (flag.init["face"], flag.init["face_reason"]) == ("http", "flag --face http")
    # The http face knows no events: POST / is an unknown route there.
    assert plain.post("/", {"x": 1}).status_code == 404
    assert cloud.post("/", {"x": 1}).json()["code"] == "missing_event_attribute"


def test_azure_custom_handler_port_is_served(tmp_path):
    (port,) = free_ports(1)
    env = {**os.environ, "FUNCTIONS_CUSTOMHANDLER_PORT": str(port), "K_SERVICE": ""}
    env.pop("PORT", None)
    proc = subprocess.Popen([str(FN), "--model", str(EXAMPLES / "digits"), "--host", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    f = None
    try:
        from conftest import LogLines
        f = LogLines(proc)
        init = f.wait_for(lambda l: l.get("event") in ("init", "init_error"), 30)
        assert init["event"] == "init" and init["face"] == "azure"
        assert init["face_reason"] == "env FUNCTIONS_CUSTOMHANDLER_PORT" and init["port"] == port
        r = requests.post(f"http://127.0.0.1:{port}/v1/infer", json=DIGITS_INFER, timeout=30)
        assert r.status_code == 200 and "outputs" in r.json()
    finally:
        if f:
            f.terminate()
        else:
            proc.kill()


def test_a_face_that_cannot_be_served_is_a_usage_error():
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    p = subprocess.run([str(FN), "--model", str(EXAMPLES / "digits"), "--face", "lambda"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 2 and "AWS_LAMBDA_RUNTIME_API" in p.stderr
    p = subprocess.run([str(FN), "--model", str(EXAMPLES / "digits"), "--face", "gcf"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 2 and "unknown face" in p.stderr


@pytest.mark.parametrize("mode", ["binary", "structured"])
@pytest.mark.parametrize("body", [DIGITS_INFER, DIGITS_BATCH], ids=["infer", "batch"])
def test_pubsub_message_is_inferred_like_a_direct_request(cloud_run, mode, body):
    raw = json.dumps(body).encode()
    message_id = f"m-{mode}-{'batch' if 'items' in body else 'infer'}"
    r = send(cloud_run.url + "/", pubsub_event(raw, message_id=message_id), mode)
    assert r.status_code == 200, r.text
    direct = cloud_run.post("/v1/batch" if "items" in body else "/v1/infer", body)
    assert r.json() == direct.json()
    line = cloud_run.wait_for(lambda l: l.get("event") == "cloudevent" and l.get("id") == message_id)
    assert line["mode"] == mode and line["message_sha256"] == hashlib.sha256(raw).hexdigest()


def test_a_push_subscriptions_own_request_is_served(cloud_run):
    # Pub/Sub push without Eventarc: the JSON envelope Pub/Sub posts, no CloudEvent attributes.
    raw = json.dumps(DIGITS_INFER).encode()
    envelope = {"message": {"data": base64.b64encode(raw).decode(), "messageId": "push-1",
                            "attributes": {"k": "v"}, "publishTime": "2026-12-02T10:00:00Z"},
                "subscription": "projects/p/subscriptions/digits-push"}
    r = requests.post(cloud_run.url + "/", json=envelope, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == cloud_run.post("/v1/infer", DIGITS_INFER).json()
    line = cloud_run.wait_for(lambda l: l.get("event") == "pubsub_push" and l.get("message_id") == "push-1")
    assert line["subscription"] == "projects/p/subscriptions/digits-push" and line["attributes"] == {"k": "v"}
    assert line["message_sha256"] == hashlib.sha256(raw).hexdigest() and line["status"] == 200
    bad = requests.post(cloud_run.url + "/", json={**envelope, "message": {"data": "!!"}}, timeout=30)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_base64"


def test_events_arrive_on_any_path_eventarc_names(cloud_run):
    r = send(cloud_run.url + "/events/digits", pubsub_event(json.dumps(DIGITS_INFER).encode()), "binary")
    assert r.status_code == 200 and "outputs" in r.json()


def bad_binary(drop=None, **override):
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "//x", "ce-type": PUBSUB,
               "content-type": "application/json"}
    headers.pop(drop, None)
    headers.update(override)
    return headers


@pytest.mark.parametrize("headers,body,status,code", [
    (bad_binary("ce-id"), b"{}", 400, "missing_event_attribute"),
    (bad_binary("ce-source"), b"{}", 400, "missing_event_attribute"),
    (bad_binary("ce-type"), b"{}", 400, "missing_event_attribute"),
    (bad_binary("ce-specversion"), b"{}", 400, "missing_event_attribute"),
    (bad_binary(**{"ce-specversion": "0.3"}), b"{}", 400, "unsupported_specversion"),
    (bad_binary(**{"ce-type": "google.firebase.auth.user.v1.created"}), b"{}", 400, "unsupported_event_type"),
    (bad_binary(), b'{"message": {"data": "%%% not base64"}}', 400, "invalid_base64"),
    (bad_binary(), b'{"subscription": "s"}', 400, "invalid_event_data"),
    (bad_binary(), b'{"message": {"data": "e30="', 400, "invalid_json"),
    (bad_binary(**{"ce-type": FINALIZED}), b'{"name": "incoming/x.json"}', 400, "invalid_event_data"),
    ({"content-type": "application/cloudevents+json"}, b'{"specversion": "1.0", "id": ', 400, "invalid_json"),
    ({"content-type": "application/cloudevents+json"}, b'["not", "an", "event"]', 400, "invalid_cloudevent"),
    ({"content-type": "application/cloudevents+json"},
     b'{"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data_base64": "@@@"}', 400, "invalid_base64"),
    ({"content-type": "application/cloudevents+json"},
     b'{"specversion": "2.0", "id": "1", "source": "s", "type": "t"}', 400, "unsupported_specversion"),
    ({"content-type": "application/cloudevents-batch+json"}, b'[]', 415, "unsupported_media_type"),
], ids=["no-id", "no-source", "no-type", "no-specversion", "specversion-0.3", "other-type", "pubsub-not-base64",
        "pubsub-no-message", "data-not-json", "storage-no-bucket", "structured-not-json", "structured-not-object",
        "data_base64-not-base64", "structured-specversion-2", "batch-mode"])
def test_malformed_events_are_typed_problems(cloud_run, headers, body, status, code):
    r = requests.post(cloud_run.url + "/", headers=headers, data=body, timeout=30)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code and r.json()["status"] == status
    assert cloud_run.healthy()


def test_binary_header_values_are_percent_decoded(cloud_run):
    headers = bad_binary(**{"ce-id": "pct-1", "ce-subject": "objects/%C3%A9t%C3%A9 1.json"})
    body = json.dumps({"message": {"data": base64.b64encode(json.dumps(DIGITS_INFER).encode()).decode()}})
    assert requests.post(cloud_run.url + "/", headers=headers, data=body, timeout=30).status_code == 200
    line = cloud_run.wait_for(lambda l: l.get("event") == "cloudevent" and l.get("id") == "pct-1")
    assert line["subject"] == "objects/été 1.json"


def test_concurrent_events_are_all_answered(cloud_run):
    # As the conformance suite's concurrency check: many events at once, each answered.
    raw = json.dumps(DIGITS_INFER).encode()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: send(cloud_run.url, pubsub_event(raw, message_id=f"c-{i}"),
                                               "binary" if i % 2 else "structured"), range(32)))
    assert [r.status_code for r in answers] == [200] * 32
    assert len({json.dumps(r.json(), sort_keys=True) for r in answers}) == 1


# --- Cloud Storage end to end on fake-gcs-server ---------------------------------------------

@pytest.fixture(scope="module")
def fakegcs():
    server = FakeGcs()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gcs_function(fakegcs):
    f = Function(EXAMPLES / "digits", env={"K_SERVICE": "digits", **fakegcs.env()})
    yield f
    f.terminate()


def finalized_event(blob, event_id):
    """The event Eventarc sends for a new object, its data the object's metadata as the JSON API
    gives it (read back through google-cloud-storage)."""
    data = {"kind": "storage#object", "bucket": blob.bucket.name, "name": blob.name,
            "generation": str(blob.generation), "metageneration": str(blob.metageneration),
            "contentType": blob.content_type, "size": str(blob.size), "etag": blob.etag,
            "md5Hash": blob.md5_hash, "timeCreated": blob.time_created.isoformat()}
    return CloudEvent({"type": FINALIZED, "id": event_id, "datacontenttype": "application/json",
                       "source": f"//storage.googleapis.com/projects/_/buckets/{blob.bucket.name}",
                       "subject": f"objects/{blob.name}"}, data)


def upload(fakegcs, bucket, name, data: bytes):
    b = fakegcs.client().bucket(bucket)
    blob = b.blob(name)
    blob.upload_from_string(data)
    blob.reload()
    return blob


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_storage_event_writes_the_answer_beside_the_object_once(fakegcs, gcs_function, mode):
    bucket = fakegcs.bucket(f"uploads-{mode}")
    rows = DIGITS_INFER["inputs"]
    blob = upload(fakegcs, bucket, "incoming/day1/rows.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    r = send(gcs_function.url, finalized_event(blob, f"s-{mode}"), mode)
    assert r.status_code == 200, r.text
    out_name = f"results/day1/rows.jsonl.{blob.generation}.jsonl"
    assert r.json()["processed"] == 1 and r.json()["written"] == [out_name]
    lines = fakegcs.client().bucket(bucket).blob(out_name).download_as_text().splitlines()
    whole = gcs_function.post("/v1/infer", {"inputs": rows}).json()["outputs"]
    assert [json.loads(x)["row"] for x in lines] == list(range(len(rows)))
    for i, line in enumerate(lines):  # each row's slice of the answer to all rows at once
        out = json.loads(line)["outputs"]
        assert out["label"] == whole["label"][i]
        assert out["probabilities"] == pytest.approx(whole["probabilities"][i], abs=1e-6)
    # A redelivery of the same event writes nothing new.
    again = send(gcs_function.url, finalized_event(blob, f"s-{mode}"), mode)
    assert again.status_code == 200 and again.json()["duplicates"] == 1 and again.json()["written"] == []
    names = {b.name for b in fakegcs.client().list_blobs(bucket)}
    assert names == {"incoming/day1/rows.jsonl", out_name}


def test_storage_event_for_a_missing_or_unreadable_object_is_recorded(fakegcs, gcs_function):
    bucket = fakegcs.bucket("uploads-bad")
    csv = upload(fakegcs, bucket, "incoming/table.csv", b"1,2,3\n")
    gone = upload(fakegcs, bucket, "incoming/gone.json", json.dumps(DIGITS_INFER).encode())
    gone_event = finalized_event(gone, "gone-1")
    gone.delete()
    for event in (finalized_event(csv, "csv-1"), gone_event):
        r = send(gcs_function.url, event, "binary")
        assert r.status_code == 200, r.text
        assert r.json()["processed"] == 0 and len(r.json()["failed"]) == 1
    client = fakegcs.client().bucket(bucket)
    csv_failure = json.loads(client.blob(f"failed/table.csv.{csv.generation}.error.json").download_as_bytes())
    assert csv_failure["input"] == "incoming/table.csv" and csv_failure["etag"] == csv.etag
    assert csv_failure["error"]["code"] == "rows_failed"  # its only row: 3 values, not 64
    assert csv_failure["failed_rows"][0]["code"] == "shape_mismatch"
    gone_failure = json.loads(client.blob(f"failed/gone.json.{gone.generation}.error.json").download_as_bytes())
    assert gone_failure["error"]["code"] == "not_found"
    assert not [b.name for b in fakegcs.client().list_blobs(bucket, prefix="results/")]


def test_storage_event_outside_the_input_prefix_is_skipped(fakegcs, gcs_function):
    bucket = fakegcs.bucket("uploads-other")
    blob = upload(fakegcs, bucket, "results/old.json", b"[]")
    r = send(gcs_function.url, finalized_event(blob, "skip-1"), "structured")
    assert r.status_code == 200 and r.json()["skipped"] == 1
    assert {b.name for b in fakegcs.client().list_blobs(bucket)} == {"results/old.json"}


def test_storage_event_for_an_unreachable_bucket_is_retried(gcs_function):
    # No such bucket on fake-gcs-server: the failure cannot be recorded there, so the delivery is
    # refused (Eventarc retries) rather than acknowledged and lost.
    data = {"bucket": "no-such-bucket", "name": "incoming/x.json", "generation": "1", "etag": "e"}
    event = CloudEvent({"type": FINALIZED, "source": "//storage.googleapis.com/projects/_/buckets/no-such-bucket",
                        "id": "nb-1", "datacontenttype": "application/json"}, data)
    r = send(gcs_function.url, event, "binary")
    assert r.status_code == 503 and r.json()["code"] == "store_unavailable"


def test_the_packaged_runtime_serves_events_as_on_cloud_run(tmp_path):
    """The Lambda package's bootstrap (the entrypoint of the image `modelfn package --target
    aws-lambda-image` writes) started as Cloud Run starts a container: K_SERVICE and PORT set, no
    Runtime API. It serves HTTP and CloudEvents on $PORT."""
    import zipfile
    from conftest import CLI
    out = tmp_path / "function.zip"
    p = subprocess.run([str(CLI), "package", "--target", "aws-lambda-zip", "--model", str(EXAMPLES / "digits"),
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    task = tmp_path / "task"
    with zipfile.ZipFile(out) as z:
        for info in z.infolist():
            z.extract(info, task)
            os.chmod(task / info.filename, (info.external_attr >> 16) & 0o777)
    (port,) = free_ports(1)
    env = {"PATH": "/usr/bin:/bin", "K_SERVICE": "digits", "K_REVISION": "digits-00001",
           "K_CONFIGURATION": "digits", "PORT": str(port), "MODELFN_MODEL": str(task / "model"),
           "TMPDIR": str(tmp_path)}
    from conftest import LogLines
    f = LogLines(subprocess.Popen([str(task / "bootstrap")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, start_new_session=True))
    try:
        init = f.wait_for(lambda l: l.get("event") in ("init", "init_error"), 30)
        assert init is not None and init["event"] == "init", f.lines
        assert (init["face"], init["face_reason"], init["port"]) == ("cloudevents", "env K_SERVICE", port)
        r = send(f"http://127.0.0.1:{port}/", pubsub_event(json.dumps(DIGITS_INFER).encode()), "structured")
        assert r.status_code == 200 and "outputs" in r.json()
    finally:
        f.terminate()


# --- The Go SDK as a second sender ----------------------------------------------------------

@pytest.fixture(scope="module")
def cesend(tmp_path_factory):
    """tests/go/cesend, built with the CloudEvents Go SDK (github.com/cloudevents/sdk-go/v2, from
    the Go module proxy as scripts/setup.sh's Go tools are)."""
    out = tmp_path_factory.mktemp("cesend") / "cesend"
    src = pathlib.Path(__file__).parent / "go" / "cesend"
    p = subprocess.run(["go", "build", "-o", str(out), "."], cwd=src, capture_output=True, text=True,
                       timeout=600, env={**os.environ, "GOFLAGS": "-mod=mod"})
    assert p.returncode == 0, p.stderr
    return out


def go_send(cesend, url, mode, **fields):
    args = [str(cesend), "-target", url, "-mode", mode]
    for k, v in fields.items():
        args += [f"-{k}", v]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.strip())


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_events_from_the_go_sdk(cloud_run, cesend, mode):
    message = {"messageId": f"go-{mode}", "data": base64.b64encode(json.dumps(DIGITS_INFER).encode()).decode(),
               "attributes": {"origin": "go"}}
    status = go_send(cesend, cloud_run.url + "/", mode, id=f"go-{mode}", type=PUBSUB,
                     source="//pubsub.googleapis.com/projects/p/topics/digits", subject="digits",
                     extension="traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                     data=json.dumps({"subscription": "projects/p/subscriptions/s", "message": message}))
    assert status == 200
    line = cloud_run.wait_for(lambda l: l.get("event") == "cloudevent" and l.get("id") == f"go-{mode}")
    assert line["mode"] == mode and line["status"] == 200 and line["subject"] == "digits"
    assert line["extensions"] == {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    assert line["attributes"] == {"origin": "go"} and line["datacontenttype"].startswith("application/json")
    # A bad message from the same sender: typed, and the function goes on.
    bad = go_send(cesend, cloud_run.url + "/", mode, id=f"go-bad-{mode}", type=PUBSUB, source="//x",
                  data=json.dumps({"message": {"data": "%%%"}}))
    assert bad == 400 and cloud_run.healthy()

"""The Azure Functions face of modelfn-fn: a custom handler on FUNCTIONS_CUSTOMHANDLER_PORT, sent
what the Functions host sends (forwarded HTTP requests at /api/..., and the invocation payloads
documented by Microsoft, kept in tests/fixtures/azure/ with their source), blob triggers end to
end on Azurite (the blobs written and read back with azure-storage-blob), and malformed payloads
answered with typed problems. The Functions host itself does not run here: these requests are
the ones it sends, as its documentation gives them."""
import copy
import json
import pathlib

import pytest
import requests

from conftest import EXAMPLES, Function
from servers import AZURITE_ACCOUNT, AZURITE_KEY, Azurite, free_ports

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "azure"
DIGITS_INFER = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def azurite():
    server = Azurite()
    yield server
    server.stop()


def start_azure(env=None, args=()):
    (port,) = free_ports(1)
    return Function(EXAMPLES / "digits", env={"FUNCTIONS_CUSTOMHANDLER_PORT": str(port), "K_SERVICE": "",
                                              **(env or {})}, args=args, port=port)


@pytest.fixture(scope="module")
def azure_fn(azurite):
    f = start_azure({"AzureWebJobsStorage": azurite.connection_string(),
                     "AZURE_STORAGE_CONNECTION_STRING": "", "MODELFN_MAX_BODY_BYTES": str(1 << 20)})
    yield f
    f.terminate()


def invoke(fn, function, payload):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return requests.post(f"{fn.url}/{function}", data=body, timeout=30,
                         headers={"Content-Type": "application/json"})


def reply_of(r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"Outputs", "Logs", "ReturnValue"}
    assert isinstance(body["Outputs"], dict) and isinstance(body["Logs"], list)
    return body


def test_the_face_follows_the_environment(azure_fn):
    assert (azure_fn.init["face"], azure_fn.init["face_reason"]) == \
        ("azure", "env FUNCTIONS_CUSTOMHANDLER_PORT")
    assert azure_fn.port == int(azure_fn.proc.args[azure_fn.proc.args.index("--port") + 1])


def test_forwarded_http_at_the_public_path(azure_fn, digits):
    want = digits.post("/v1/infer", DIGITS_INFER).json()["outputs"]
    for path in ("/api/infer", "/api/v1/infer"):
        r = azure_fn.post(path, DIGITS_INFER)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"] == want
    v2 = azure_fn.get("/api/v2/models/digits")
    assert v2.status_code == 200 and v2.json()["name"] == "digits"
    assert azure_fn.get("/api/health").json()["ready"] is True
    # The seed's own paths work too (a host with routePrefix "" forwards them as they are).
    assert azure_fn.post("/v1/infer", DIGITS_INFER).json()["outputs"] == want


def test_the_documented_queue_payload(azure_fn):
    # Its message is not JSON: the model's refusal is the result, recorded with a log line.
    body = reply_of(invoke(azure_fn, "MyQueueFunction", fixture("queue_request.json")))
    assert json.loads(body["ReturnValue"])["code"] == "invalid_json"
    assert body["Logs"] == ["message 800ae4b3-bdd2-4c08-badd-f08e5a34b865 refused: 400 invalid_json"]
    # The same payload carrying a model input is answered in ReturnValue.
    payload = fixture("queue_request.json")
    payload["Data"]["myQueueItem"] = json.dumps(DIGITS_INFER)
    body = reply_of(invoke(azure_fn, "MyQueueFunction", payload))
    assert "outputs" in json.loads(body["ReturnValue"])
    assert body["Logs"] == []
    line = azure_fn.wait_for(lambda l: l.get("event") == "azure_invocation"
                             and l.get("function") == "MyQueueFunction" and l.get("status") == 200
                             and l.get("dequeue_count") == 1)
    assert line["trigger"] == "message" and line["message_id"] == "800ae4b3-bdd2-4c08-badd-f08e5a34b865"


def test_the_documented_order_function(azure_fn):
    # The documented order is no model input: the core's 404 is the function's HTTP answer.
    body = reply_of(invoke(azure_fn, "order", fixture("http_order_request.json")))
    assert body["Outputs"]["res"]["statusCode"] == 404
    payload = fixture("http_order_request.json")
    payload["Data"]["req"]["Url"] = "http://localhost:7071/api/infer"
    payload["Data"]["req"]["Body"] = json.dumps(DIGITS_INFER)
    body = reply_of(invoke(azure_fn, "order", payload))
    res = body["Outputs"]["res"]
    assert res["statusCode"] == 200 and res["headers"]["Content-Type"] == "application/json"
    assert "outputs" in json.loads(res["body"])


def blob_payload(container, name, etag):
    payload = fixture("blob_request.json")
    payload["Metadata"]["BlobTrigger"] = f"{container}/{name}"
    payload["Metadata"]["Uri"] = f"http://127.0.0.1/devstoreaccount1/{container}/{name}"
    payload["Metadata"]["Properties"]["ETag"] = etag
    return payload


def test_blob_trigger_end_to_end_on_azurite(azure_fn, azurite):
    container = azurite.bucket("workitems")
    client = azurite.client()
    rows = DIGITS_INFER["inputs"]
    props = client.get_blob_client(container, "incoming/batch.json").upload_blob(
        json.dumps(rows), overwrite=True)
    etag = props["etag"]
    tag = "".join(c for c in etag if c.isalnum())
    body = reply_of(invoke(azure_fn, "BlobInfer", blob_payload(container, "incoming/batch.json", etag)))
    summary = json.loads(body["ReturnValue"])
    assert summary["processed"] == 1, summary
    out_key = f"results/batch.json.{tag}.json"
    assert summary["written"] == [out_key]
    written = json.loads(client.get_blob_client(container, out_key).download_blob().readall())
    want = requests.post(f"{azure_fn.url}/v1/infer", json=DIGITS_INFER, timeout=30).json()["outputs"]
    assert written["outputs"] == want
    # The host redelivers: the answer is found, not written again.
    again = json.loads(reply_of(invoke(azure_fn, "BlobInfer",
                                       blob_payload(container, "incoming/batch.json", etag)))["ReturnValue"])
    assert again["duplicates"] == 1 and again["processed"] == 0


def test_blob_that_does_not_exist_is_recorded_as_a_failure(azure_fn, azurite):
    container = azurite.bucket("workitems")
    body = reply_of(invoke(azure_fn, "BlobInfer", blob_payload(container, "incoming/gone.json", '"0x1"')))
    summary = json.loads(body["ReturnValue"])
    assert summary["failed"] and summary["failed"][0]["input"] == "incoming/gone.json"
    record = json.loads(azurite.client().get_blob_client(container, "failed/gone.json.0x1.error.json")
                        .download_blob().readall())
    assert record["input"] == "incoming/gone.json" and record["error"]["status"] == 404


def test_blob_that_is_not_an_input_is_recorded_as_a_failure(azure_fn, azurite):
    container = azurite.bucket("workitems")
    props = azurite.client().get_blob_client(container, "incoming/notes.json").upload_blob(
        b"not json", overwrite=True)
    body = reply_of(invoke(azure_fn, "BlobInfer", blob_payload(container, "incoming/notes.json", props["etag"])))
    assert json.loads(body["ReturnValue"])["failed"][0]["input"] == "incoming/notes.json"
    assert any(l.startswith("failed incoming/notes.json") for l in body["Logs"])


@pytest.mark.parametrize("payload,code", [
    ("{", "invalid_json"),
    ("[1]", "invalid_invocation"),
    ({"Metadata": {}}, "invalid_invocation"),
    ({"Data": [1]}, "invalid_invocation"),
    ({"Data": {}}, "invalid_invocation"),
    ({"Data": {"x": "1"}, "Metadata": "no"}, "invalid_invocation"),
    ({"Data": {"a": "1", "b": "2"}}, "unsupported_trigger"),
    ({"Data": {"b": ""}, "Metadata": {"BlobTrigger": ["c/n"]}}, "invalid_invocation"),
    ({"Data": {"b": ""}, "Metadata": {"BlobTrigger": "no-container"}}, "invalid_invocation"),
])
def test_bad_payloads_are_typed(azure_fn, payload, code):
    r = invoke(azure_fn, "f", payload)
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == code


def test_an_oversized_payload_is_refused_and_the_function_keeps_serving(azure_fn):
    payload = copy.deepcopy(fixture("queue_request.json"))
    payload["Data"]["myQueueItem"] = "x" * (2 << 20)
    r = invoke(azure_fn, "MyQueueFunction", payload)
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert azure_fn.get("/api/health").json()["ready"] is True


def test_a_container_that_cannot_be_reached_asks_for_a_retry():
    (dead,) = free_ports(1)
    conn = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{dead}/{AZURITE_ACCOUNT};")
    f = start_azure({"AzureWebJobsStorage": conn, "AZURE_STORAGE_CONNECTION_STRING": ""})
    try:
        r = invoke(f, "BlobInfer", blob_payload("workitems", "incoming/a.json", '"0x2"'))
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "store_unavailable"
    finally:
        f.terminate()

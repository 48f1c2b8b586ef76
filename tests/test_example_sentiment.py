"""The sentiment example (examples/sentiment: a WordPiece tokenizer and a classifier trained on
human-rated sentences, examples/train_sentiment.py) answering text through every path a user has:
modelfn-fn, `modelfn up` behind an API key, the Lambda zip in an empty root under AWS's Runtime
Interface Emulator, and the S3 upload trigger with a JSON-lines file of texts. Each answer is
checked against what the Python `tokenizers` package and ONNX Runtime gave at export
(expected.json)."""
import base64
import json
import os

import pytest

from conftest import CLI, EXAMPLES, FN, Function

SENTIMENT = EXAMPLES / "sentiment"
EXPECTED = json.loads((SENTIMENT / "expected.json").read_text())
TEXTS = EXPECTED["texts"]


def check(rows, texts=TEXTS):
    """`rows`: the {"label", "index", "score"} answers for `texts`, in order."""
    want = dict(zip(EXPECTED["texts"], zip(EXPECTED["label"], EXPECTED["score"])))
    assert [r["label"] for r in rows] == [want[t][0] for t in texts]
    for r, t in zip(rows, texts):
        assert r["score"] == pytest.approx(want[t][1], abs=2e-6)


def test_the_example_is_what_its_manifest_says():
    m = json.loads((SENTIMENT / "manifest.json").read_text())
    assert m["name"] == "sentiment"
    assert [i["source"] for i in m["pipeline"]["inputs"]] == ["text", "text"]
    assert EXPECTED["evaluation"]["held_out"]["accuracy"] > 0.75  # what examples/README.md states
    assert EXPECTED["label"][:2] == ["positive", "negative"]


def test_modelfn_fn_answers_texts():
    fn = Function(SENTIMENT)
    try:
        r = fn.post("/v1/infer", json.loads((SENTIMENT / "requests" / "infer.json").read_text()))
        assert r.status_code == 200, r.text
        check(r.json()["outputs"]["logits"])
        one = fn.post("/v1/infer", {"inputs": TEXTS[0]}).json()["outputs"]["logits"]
        check([one], TEXTS[:1])
        v2 = fn.post("/v2/models/sentiment/infer",
                     json.loads((SENTIMENT / "requests" / "v2_infer.json").read_text()))
        assert v2.status_code == 200, v2.text
        data = v2.json()["outputs"][0]["data"]
        assert [d.split(":", 2)[2] for d in data] == EXPECTED["label"][:2]
        bad = fn.post("/v1/infer", {"inputs": [7]})
        assert bad.status_code == 400 and bad.json()["code"] == "text_expected"
    finally:
        fn.terminate()


def test_modelfn_up_behind_an_api_key(tmp_path, up):
    from up_harness import cli, config, fn_config
    store = tmp_path / "models"
    cli("push", SENTIMENT, "--name", "sentiment", "--version", "1.0.0", "--store", store)
    cli("promote", "sentiment", "1.0.0", "--store", store)
    u = up(config(store, [fn_config("sentiment")], gateway="  auth: {api_keys: true}\n"))
    path = "/v1/models/sentiment/infer"
    r = u.post(path, {"inputs": TEXTS})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    key = json.loads(cli("keys", "create", "--name", "reviews", "--json", "-f", u.config).stdout)["key"]
    r = u.post(path, {"inputs": TEXTS}, headers={"X-Api-Key": key})
    assert r.status_code == 200, r.text
    check(r.json()["outputs"]["logits"])


def test_lambda_zip_in_an_empty_root(tmp_path):
    from test_lambda_package import ChrootLambda, package
    out = tmp_path / "sentiment.zip"
    package(SENTIMENT, out)
    fn = ChrootLambda(out, tmp_path / "root")
    try:
        r = fn.invoke({"inputs": TEXTS})
        assert r.status_code == 200, r.text
        check(r.json()["outputs"]["logits"])
        event = {"version": "2.0", "rawPath": "/v1/infer", "rawQueryString": "",
                 "headers": {"content-type": "application/json"},
                 "requestContext": {"http": {"method": "POST", "path": "/v1/infer"}},
                 "body": base64.b64encode(json.dumps({"inputs": TEXTS[1]}).encode()).decode(),
                 "isBase64Encoded": True}
        resp = fn.invoke(event).json()
        assert resp["statusCode"] == 200, resp
        check([json.loads(resp["body"])["outputs"]["logits"]], TEXTS[1:2])
    finally:
        fn.stop()


def test_s3_upload_trigger_with_a_json_lines_file_of_texts():
    from servers import LambdaRie, SeaweedS3
    from test_lambda_rie import s3_record
    s3 = SeaweedS3()
    rie = None
    try:
        bucket = s3.bucket("reviews")
        c = s3.client()
        data = (SENTIMENT / "requests" / "texts.jsonl").read_bytes()
        c.put_object(Bucket=bucket, Key="incoming/day1.jsonl", Body=data)
        etag = c.head_object(Bucket=bucket, Key="incoming/day1.jsonl")["ETag"].strip('"')
        rie = LambdaRie([str(FN), "--model", str(SENTIMENT)], env={**os.environ, **s3.env()})
        summary = rie.invoke({"Records": [s3_record(bucket, "incoming/day1.jsonl", etag, len(data))]}).json()
        assert summary["processed"] == 1 and summary["failed"] == [], summary
        lines = c.get_object(Bucket=bucket, Key=summary["written"][0])["Body"].read().decode().splitlines()
        check([json.loads(x)["outputs"]["logits"] for x in lines])  # a result per line, in order
    finally:
        if rie:
            rie.stop()
        s3.stop()

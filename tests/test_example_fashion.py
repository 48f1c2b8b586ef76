"""The image example (examples/fashion: a classifier of clothing photos trained on Fashion-MNIST,
examples/train_fashion.py) answering images through every path a user has: modelfn-fn (raw PNG and
JPEG bodies, base64 in JSON), `modelfn up` behind an API key, the Lambda zip in an empty root under
AWS's Runtime Interface Emulator, and the S3 upload trigger with image files. Each answer is checked
against Pillow + numpy preparing the same bytes and ONNX Runtime's Python build running the model,
and the PNG answers against what the export recorded (expected.json)."""
import base64
import json
import os

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from conftest import EXAMPLES, FN, Function

FASHION = EXAMPLES / "fashion"
EXPECTED = json.loads((FASHION / "expected.json").read_text())
REQ = FASHION / "requests"
CLASSES = (FASHION / "labels.txt").read_text().split("\n")[:-1]
PNGS = EXPECTED["files"]
JPGS = [f.replace(".png", ".jpg") for f in PNGS]
MIME = {"png": "image/png", "jpg": "image/jpeg"}


def reference(files):
    """(labels, scores) of Pillow + numpy preparing the files (RGB, resized to 28 x 28, 0..1) and
    ONNX Runtime running the model."""
    x = np.stack([np.asarray(Image.open(REQ / f).convert("RGB").resize((28, 28), Image.BILINEAR),
                             np.float32).transpose(2, 0, 1) / 255 for f in files])
    sess = ort.InferenceSession(str(FASHION / "model.onnx"), providers=["CPUExecutionProvider"])
    (p,) = sess.run(["probabilities"], {"image": x})
    return [CLASSES[i] for i in p.argmax(-1)], p.max(-1)


def check(rows, files):
    labels, scores = reference(files)
    assert [r["label"] for r in rows] == labels
    np.testing.assert_allclose([r["score"] for r in rows], scores, atol=1e-6)


def b64(f):
    return base64.b64encode((REQ / f).read_bytes()).decode()


def test_the_example_is_what_its_manifest_says():
    m = json.loads((FASHION / "manifest.json").read_text())
    (image,) = m["pipeline"]["inputs"]
    assert (image["name"], image["source"], image["size"]) == ("image", "image", [28, 28])
    assert (image["mean"], image["std"], image["layout"]) == ([0, 0, 0], [1, 1, 1], "NCHW")
    assert EXPECTED["evaluation"]["test"]["accuracy"] > 0.85  # what examples/README.md states
    labels, _ = reference(PNGS)
    assert labels == EXPECTED["label"]  # the files and the recorded answers belong together


def test_modelfn_fn_answers_images():
    fn = Function(FASHION)
    try:
        for f in PNGS[:3] + JPGS[:3]:
            r = fn.post("/v1/infer", data=(REQ / f).read_bytes(),
                        headers={"Content-Type": MIME[f.rsplit(".", 1)[1]]})
            assert r.status_code == 200, r.text
            check([r.json()["outputs"]["probabilities"]], [f])
        r = fn.post("/v1/infer", {"inputs": [b64(f) for f in PNGS]})
        assert r.status_code == 200, r.text
        check(r.json()["outputs"]["probabilities"], PNGS)
        bad = fn.post("/v1/infer", data=(REQ / PNGS[0]).read_bytes()[:100],
                      headers={"Content-Type": "image/png"})
        assert bad.status_code == 400 and bad.json()["code"] == "image_invalid"
    finally:
        fn.terminate()


def test_modelfn_up_behind_an_api_key(tmp_path, up):
    from up_harness import cli, config, fn_config
    store = tmp_path / "models"
    cli("push", FASHION, "--name", "fashion", "--version", "1.0.0", "--store", store)
    cli("promote", "fashion", "1.0.0", "--store", store)
    u = up(config(store, [fn_config("fashion")], gateway="  auth: {api_keys: true}\n"))
    path = "/v1/models/fashion/infer"
    png = (REQ / PNGS[1]).read_bytes()
    r = u.post(path, data=png, headers={"Content-Type": "image/png"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    key = json.loads(cli("keys", "create", "--name", "shop", "--json", "-f", u.config).stdout)["key"]
    r = u.post(path, data=png, headers={"Content-Type": "image/png", "X-Api-Key": key})
    assert r.status_code == 200, r.text
    check([r.json()["outputs"]["probabilities"]], PNGS[1:2])


def test_lambda_zip_in_an_empty_root(tmp_path):
    from test_lambda_package import ChrootLambda, package
    out = tmp_path / "fashion.zip"
    package(FASHION, out)
    fn = ChrootLambda(out, tmp_path / "root")
    try:
        r = fn.invoke({"inputs": [b64(f) for f in JPGS[:4]]})
        assert r.status_code == 200, r.text
        check(r.json()["outputs"]["probabilities"], JPGS[:4])
        event = {"version": "2.0", "rawPath": "/v1/infer", "rawQueryString": "",
                 "headers": {"content-type": "image/png"},
                 "requestContext": {"http": {"method": "POST", "path": "/v1/infer"}},
                 "body": b64(PNGS[2]), "isBase64Encoded": True}
        resp = fn.invoke(event).json()
        assert resp["statusCode"] == 200, resp
        check([json.loads(resp["body"])["outputs"]["probabilities"]], PNGS[2:3])
    finally:
        fn.stop()


def test_s3_upload_trigger_with_image_files():
    from servers import LambdaRie, SeaweedS3
    from test_lambda_rie import s3_record
    s3 = SeaweedS3()
    rie = None
    try:
        bucket = s3.bucket("photos")
        c = s3.client()
        records = []
        files = PNGS[:2] + JPGS[2:4]
        for f in files:
            data = (REQ / f).read_bytes()
            c.put_object(Bucket=bucket, Key="incoming/" + f, Body=data)
            etag = c.head_object(Bucket=bucket, Key="incoming/" + f)["ETag"].strip('"')
            records.append(s3_record(bucket, "incoming/" + f, etag, len(data)))
        rie = LambdaRie([str(FN), "--model", str(FASHION)], env={**os.environ, **s3.env()})
        summary = rie.invoke({"Records": records}).json()
        assert summary["processed"] == len(files) and summary["failed"] == [], summary
        for f, written in zip(files, summary["written"]):
            assert written.startswith("results/" + f + ".")
            out = json.loads(c.get_object(Bucket=bucket, Key=written)["Body"].read())
            check([out["outputs"]["probabilities"]], [f])
    finally:
        if rie:
            rie.stop()
        s3.stop()

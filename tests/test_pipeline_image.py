"""Images through the manifest's pipeline, in the real modelfn-fn: JPEG, PNG and WebP made with
Pillow, sent as raw bodies, as base64 in /v1 JSON, in /v1/batch and as V2 BYTES (JSON and binary,
tritonclient included), answered like Pillow + numpy preparing the same bytes and ONNX Runtime's
Python build running the model on them. The model (tests/models/colors) answers each channel's mean
as logits (red, green, blue) and the input it received as `pixels`, so the prepared tensor itself
is compared. Bad images, bad base64 and wrong content types get typed problems, and the function
keeps answering."""
import base64
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
import requests

from conftest import CLI, FN, MODELS, Function
from test_image_parity import bomb_png, encode, reference, source_image, truncated

COLORS = MODELS / "colors"
LABELS = ["red", "green", "blue"]
SPEC = {"name": "image", "source": "image", "size": [12, 20], "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225]}
PIPELINE = {"version": 1, "inputs": [SPEC],
            "outputs": [{"name": "logits", "report": "argmax", "labels": "labels.txt"}]}
# docs/pipeline.md: the same samples as Pillow + numpy, up to float rounding.
TOL = 1e-6
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def make_version(tmp_path, model="colors", pipeline=PIPELINE, labels=True):
    d = tmp_path / model
    d.mkdir()
    shutil.copy(MODELS / model / "model.onnx", d / "model.onnx")
    extra = []
    if labels:
        shutil.copy(MODELS / model / "labels.txt", d / "labels.txt")
        extra = ["--file", "labels.txt"]
    subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", model, "--version", "1",
                    *extra], check=True, capture_output=True)
    m = json.loads((d / "manifest.json").read_text())
    m["pipeline"] = pipeline
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def picture(fmt, dominant, w=40, h=30):
    """A noisy gradient (40 x 30 unless told) in which channel `dominant` is clearly the
    brightest, encoded as `fmt`."""
    a = source_image(w, h, seed=dominant + 7).astype(np.int32) // 2
    a[..., dominant] += 120
    return encode(np.clip(a, 0, 255).astype(np.uint8), fmt)


def b64(data):
    return base64.b64encode(data).decode()


def expected(images):
    """(labels, scores, pixels) from Pillow + numpy preparing `images` and ONNX Runtime running
    the model on the result."""
    pixels = np.stack([reference(d, SPEC).reshape(3, 12, 20) for d in images])
    sess = ort.InferenceSession(str(COLORS / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"image": pixels})
    e = np.exp(logits - logits.max(-1, keepdims=True))
    probs = e / e.sum(-1, keepdims=True)
    return [LABELS[i] for i in probs.argmax(-1)], probs.max(-1), pixels


def check(answer, images, single=False):
    """An answer's outputs against the reference for `images`."""
    labels, scores, pixels = expected(images)
    logits, got = answer["logits"], np.asarray(answer["pixels"], dtype=np.float32)
    if single:
        logits, got = [logits], got[None]
    assert got.shape == pixels.shape
    assert np.abs(got - pixels).max() <= TOL
    assert [o["label"] for o in logits] == labels
    np.testing.assert_allclose([o["score"] for o in logits], scores, atol=TOL)


@pytest.fixture(scope="module")
def fn(tmp_path_factory):
    f = Function(make_version(tmp_path_factory.mktemp("colors")))
    yield f
    f.terminate()


def still_serving(fn):
    assert fn.healthy()
    r = fn.post("/v1/infer", data=picture("PNG", 2), headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"]["logits"]["label"] == "blue"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_raw_image_body_is_the_image(fn, fmt):
    data = picture(fmt, {"JPEG": 0, "PNG": 1, "WEBP": 2}[fmt])
    r = fn.post("/v1/infer", data=data, headers={"Content-Type": MIME[fmt]})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert out["logits"]["label"] == LABELS[{"JPEG": 0, "PNG": 1, "WEBP": 2}[fmt]]
    check(out, [data], single=True)  # one image: the batch dimension is dropped


def test_metadata_says_which_inputs_take_images():
    import tempfile, pathlib
    with tempfile.TemporaryDirectory() as t:
        f = Function(make_version(pathlib.Path(t), "imgpair", {"version": 1, "inputs": [
            {"name": "left", "source": "image", "size": [6, 8]}]}, labels=False))
        try:
            v1 = f.get("/v1/models").json()["models"][0]["inputs"]
            assert v1[0]["name"] == "left" and v1[0]["source"] == "image" and v1[0]["size"] == [6, 8]
            assert v1[1]["name"] == "right" and "source" not in v1[1]  # a tensor input
            v2 = f.get("/v2/models/imgpair").json()["inputs"]
            assert v2[0]["parameters"] == {"source": "image", "size": [6, 8]}
            assert v2[0]["datatype"] == "FP32" and "parameters" not in v2[1]
        finally:
            f.terminate()


def test_the_format_is_judged_by_the_bytes_not_the_content_type(fn):
    data = picture("PNG", 0)
    r = fn.post("/v1/infer", data=data, headers={"Content-Type": "image/jpeg; q=1"})
    assert r.status_code == 200, r.text
    check(r.json()["outputs"], [data], single=True)


def test_base64_json_one_string_a_list_and_named(fn):
    images = [picture("JPEG", 0), picture("PNG", 1), picture("WEBP", 2)]
    one = fn.post("/v1/infer", {"inputs": b64(images[1])})
    assert one.status_code == 200, one.text
    check(one.json()["outputs"], images[1:2], single=True)
    many = fn.post("/v1/infer", {"inputs": [b64(d) for d in images]})
    assert many.status_code == 200, many.text
    check(many.json()["outputs"], images)
    named = fn.post("/v1/infer", {"inputs": {"image": [b64(d) for d in images]},
                                  "outputs": ["logits"]})
    assert named.status_code == 200, named.text
    assert list(named.json()["outputs"]) == ["logits"]
    assert [o["label"] for o in named.json()["outputs"]["logits"]] == LABELS
    url = fn.post("/v1/infer", {"inputs": "data:image/webp;base64," + b64(images[2])})
    assert url.status_code == 200, url.text
    check(url.json()["outputs"], images[2:], single=True)


def test_batch_items_stack_into_one_engine_call(fn):
    images = [picture("JPEG", 0), picture("PNG", 1), picture("WEBP", 2), picture("PNG", 0, 7, 5)]
    items = [{"inputs": b64(images[0])},
             {"inputs": [b64(images[1]), b64(images[2])]},
             {"inputs": {"image": b64(images[3])}}]
    r = fn.post("/v1/batch", {"items": items})
    assert r.status_code == 200, r.text
    assert r.headers["X-Batch-Engine-Calls"] == "1"
    results = r.json()["results"]
    check(results[0]["outputs"], images[:1], single=True)
    check(results[1]["outputs"], images[1:3])
    check(results[2]["outputs"], images[3:])  # named: a batch of one, dimension kept


def test_a_bad_batch_item_fails_alone(fn):
    items = [{"inputs": b64(picture("PNG", 1))}, {"inputs": b64(b"GIF89a......")},
             {"inputs": "%%%"}, {"inputs": b64(picture("PNG", 2))}]
    r = fn.post("/v1/batch", {"items": items})
    assert r.status_code == 200, r.text
    assert r.headers["X-Batch-Failed"] == "2"
    res = r.json()["results"]
    assert res[0]["outputs"]["logits"]["label"] == "green"
    assert res[1]["error"]["code"] == "image_unsupported" and res[1]["error"]["status"] == 415
    assert res[2]["error"]["code"] == "invalid_base64"
    assert res[3]["outputs"]["logits"]["label"] == "blue"


def v2_outputs(r):
    assert r.status_code == 200, r.text
    return {o["name"]: o for o in r.json()["outputs"]}


def test_v2_bytes_json_holds_base64_images(fn):
    images = [picture("JPEG", 2), picture("WEBP", 0)]
    body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [2, 1],
                        "data": [b64(d) for d in images]}]}
    out = v2_outputs(fn.post("/v2/models/colors/infer", body))
    labels, scores, pixels = expected(images)
    assert out["logits"]["datatype"] == "BYTES" and out["logits"]["shape"] == [2, 1]
    got = [e.split(":", 2) for e in out["logits"]["data"]]
    assert [g[2] for g in got] == labels
    np.testing.assert_allclose([float(g[0]) for g in got], scores, atol=TOL)
    assert out["pixels"]["shape"] == [2, 3, 12, 20]
    assert np.abs(np.asarray(out["pixels"]["data"]).reshape(pixels.shape) - pixels).max() <= TOL


def test_v2_binary_bytes_hold_the_raw_images(fn):
    images = [picture("PNG", 1), picture("JPEG", 0)]
    data = b"".join(struct.pack("<I", len(d)) + d for d in images)
    header = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [2],
                                     "parameters": {"binary_data_size": len(data)}}],
                         "outputs": [{"name": "pixels", "parameters": {"binary_data": True}}]})
    r = requests.post(fn.url + "/v2/models/colors/infer", data=header.encode() + data, timeout=30,
                      headers={"Content-Type": "application/octet-stream",
                               "Inference-Header-Content-Length": str(len(header))})
    assert r.status_code == 200, r.text
    n = int(r.headers["Inference-Header-Content-Length"])
    (meta,) = json.loads(r.content[:n])["outputs"]
    assert meta["name"] == "pixels" and meta["shape"] == [2, 3, 12, 20]
    got = np.frombuffer(r.content[n:], dtype=np.float32).reshape(2, 3, 12, 20)
    assert np.abs(got - expected(images)[2]).max() <= TOL


def test_tritonclient_sends_images_as_binary_bytes(fn):
    import tritonclient.http as httpclient
    images = [picture("WEBP", 1), picture("JPEG", 2)]
    c = httpclient.InferenceServerClient(f"127.0.0.1:{fn.port}")
    x = httpclient.InferInput("image", [2], "BYTES")
    x.set_data_from_numpy(np.array(images, dtype=np.object_), binary_data=True)
    res = c.infer("colors", [x],
                  outputs=[httpclient.InferRequestedOutput("logits", binary_data=True)])
    got = [e.decode().split(":", 2)[2] for e in res.as_numpy("logits").ravel()]
    assert got == expected(images)[0] == ["green", "blue"]


def test_raw_tensors_still_bypass_the_decoder(fn):
    x = np.random.default_rng(3).normal(size=(2, 3, 5, 7)).astype(np.float32)
    sess = ort.InferenceSession(str(COLORS / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"image": x})
    for body in ({"inputs": x.tolist()}, {"inputs": {"image": x.tolist()}}):
        r = fn.post("/v1/infer", body)
        assert r.status_code == 200, r.text
        out = r.json()["outputs"]
        np.testing.assert_allclose(out["pixels"], x, rtol=1e-6)  # the tensor as sent: no resizing
        assert [o["index"] for o in out["logits"]] == logits.argmax(-1).tolist()
    v2 = {"inputs": [{"name": "image", "datatype": "FP32", "shape": list(x.shape),
                      "data": x.ravel().tolist()}], "outputs": [{"name": "pixels"}]}
    out = v2_outputs(fn.post("/v2/models/colors/infer", v2))
    np.testing.assert_allclose(out["pixels"]["data"], x.ravel(), rtol=1e-6)


def bad_requests():
    png = picture("PNG", 0)
    return [
        # (what, request kwargs for Function.post, status, code)
        ("wrong magic", dict(data=b"GIF89a\x01\x00\x01\x00\x00\x00",
                             headers={"Content-Type": "image/png"}), 415, "image_unsupported"),
        ("truncated PNG", dict(data=truncated("PNG"), headers={"Content-Type": "image/png"}),
         400, "image_invalid"),
        ("truncated JPEG", dict(data=truncated("JPEG"), headers={"Content-Type": "image/jpeg"}),
         400, "image_invalid"),
        ("truncated WebP", dict(data=truncated("WEBP"), headers={"Content-Type": "image/webp"}),
         400, "image_invalid"),
        ("decompression bomb", dict(data=bomb_png(), headers={"Content-Type": "image/png"}),
         413, "image_too_large"),
        ("bomb in base64", dict(payload={"inputs": [b64(png), b64(bomb_png())]}), 413,
         "image_too_large"),
        ("invalid base64", dict(payload={"inputs": "iVBORw0KGgo*"}), 400, "invalid_base64"),
        ("base64 in a list", dict(payload={"inputs": [b64(png), "abc"]}), 400, "invalid_base64"),
        ("data URL without base64", dict(payload={"inputs": "data:image/png," + b64(png)}), 400,
         "invalid_base64"),
        ("a list holding a number", dict(payload={"inputs": [b64(png), 3]}), 400,
         "invalid_request"),
        ("an empty list", dict(payload={"inputs": []}), 400, "invalid_request"),
        ("wrong content type", dict(data=png, headers={"Content-Type": "text/plain"}), 415,
         "unsupported_media_type"),
        ("an image type not decoded", dict(data=png, headers={"Content-Type": "image/gif"}), 415,
         "unsupported_media_type"),
        ("an empty image body", dict(data=b"", headers={"Content-Type": "image/png"}), 400,
         "invalid_request"),
    ]


@pytest.mark.parametrize("what,kw,status,code", bad_requests(), ids=[b[0] for b in bad_requests()])
def test_bad_images_are_typed_problems_and_the_function_keeps_serving(fn, what, kw, status, code):
    r = fn.post("/v1/infer", **kw)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    p = r.json()
    assert p["code"] == code and p["status"] == status and p["type"].endswith(":" + code)
    if code.startswith("image_") or code == "invalid_base64":
        assert "input 'image', image " in p["detail"]
    still_serving(fn)


@pytest.mark.parametrize("data,binary,code", [
    (b64(b"\x89PNG\r\n\x1a\nshort"), False, "image_invalid"),
    ("not base64!", False, "invalid_base64"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", True, "image_invalid"),
    (b"\x00\x01\x02", True, "image_unsupported"),
])
def test_v2_bad_images_are_typed_errors(fn, data, binary, code):
    if binary:
        raw = struct.pack("<I", len(data)) + data
        header = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                         "parameters": {"binary_data_size": len(raw)}}]})
        r = requests.post(fn.url + "/v2/models/colors/infer", data=header.encode() + raw,
                          timeout=30, headers={"Content-Type": "application/octet-stream",
                                               "Inference-Header-Content-Length": str(len(header))})
    else:
        r = fn.post("/v2/models/colors/infer", {"inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [1], "data": [data]}]})
    assert r.status_code in (400, 415), r.text
    assert r.json()["code"] == code
    still_serving(fn)


def test_v2_images_in_a_tensor_of_another_shape_are_refused(fn):
    r = fn.post("/v2/models/colors/infer", {"inputs": [
        {"name": "image", "datatype": "BYTES", "shape": [1, 2], "data": ["a", "b"]}]})
    assert r.status_code == 400 and r.json()["code"] == "shape_mismatch"


def test_limits_are_typed_before_decoding(tmp_path, start_function):
    pipeline = {"version": 1, "inputs": [{**SPEC, "max_width": 64, "max_pixels": 2000}]}
    f = start_function(make_version(tmp_path, pipeline=pipeline, labels=False),
                       env={"MODELFN_MAX_ELEMENTS": "2000"})
    # 3 * 12 * 20 = 720 elements an image: two fit the budget, three do not.
    small = picture("PNG", 0)
    assert f.post("/v1/infer", {"inputs": [b64(small)] * 2}).status_code == 200
    r = f.post("/v1/infer", {"inputs": [b64(small)] * 3})
    assert r.status_code == 413 and r.json()["code"] == "too_many_elements", r.text
    b = f.post("/v1/batch", {"items": [{"inputs": b64(small)}] * 3})
    assert [("error" in x) for x in b.json()["results"]] == [False, False, True]
    assert b.json()["results"][2]["error"]["code"] == "too_many_elements"
    for data in (picture("PNG", 0, 65, 2), picture("PNG", 0, 50, 41)):  # too wide; too many pixels
        r = f.post("/v1/infer", data=data, headers={"Content-Type": "image/png"})
        assert r.status_code == 413 and r.json()["code"] == "image_too_large", r.text
    assert f.post("/v1/infer", data=small, headers={"Content-Type": "image/png"}).status_code == 200


def test_an_image_at_the_pixel_limit_costs_about_its_decoded_size(tmp_path, start_function):
    """4096 x 4096 (16 Mi pixels, the default max_pixels): 48 MiB of RGB once decoded, and
    nothing near that again while it is resized."""
    import io
    from PIL import Image
    a = (np.indices((4096, 4096)).sum(0) % 256).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.stack([a, a // 2, 255 - a], -1)).save(buf, "PNG")
    fn = start_function(make_version(tmp_path))

    def peak_kb():
        with open(f"/proc/{fn.proc.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    still_serving(fn)
    before = peak_kb()
    r = fn.post("/v1/infer", data=buf.getvalue(), headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"]["logits"]["label"] == "blue"
    grown_mb = (peak_kb() - before) / 1024
    print(f"peak RSS grew {grown_mb:.1f} MB")
    assert grown_mb < 48 + 24  # measured: 48.6 (before the resize stopped copying its source: 97)


def test_a_model_with_several_image_inputs_takes_them_by_name(tmp_path, start_function):
    pipeline = {"version": 1, "inputs": [{"name": "left", "source": "image", "size": [6, 6]},
                                         {"name": "right", "source": "image", "size": [6, 6]}]}
    f = start_function(make_version(tmp_path, "imgpair", pipeline, labels=False))
    left, right = picture("PNG", 0), picture("JPEG", 2)
    r = f.post("/v1/infer", {"inputs": {"left": [b64(left)], "right": b64(right),
                                        "gain": [[2.0]]}})
    assert r.status_code == 200, r.text
    spec = {"size": [6, 6]}
    want = 2 * (reference(left, spec).reshape(3, 36).mean(1) -
                reference(right, spec).reshape(3, 36).mean(1))
    np.testing.assert_allclose(r.json()["outputs"]["diff"][0], want, atol=2 * 2 / 255 + 1e-6)
    # A raw image or one string cannot say which input it is for.
    raw = f.post("/v1/infer", data=left, headers={"Content-Type": "image/png"})
    assert raw.status_code == 415 and raw.json()["code"] == "unsupported_media_type"
    assert "'left', 'right', 'gain'" in raw.json()["detail"]
    one = f.post("/v1/infer", {"inputs": b64(left)})
    assert one.status_code == 400 and one.json()["code"] == "invalid_request"
    mixed = f.post("/v1/infer", {"inputs": {"left": [b64(left)], "right": [b64(right)] * 2,
                                            "gain": [[1.0]]}})
    assert mixed.status_code == 400 and mixed.json()["code"] == "shape_mismatch"


def test_an_image_body_for_a_model_without_image_inputs_is_unsupported(digits):
    r = digits.post("/v1/infer", data=picture("PNG", 0), headers={"Content-Type": "image/png"})
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
    assert "no image input" in r.json()["detail"]


def test_a_size_the_model_cannot_take_stops_the_function_at_init(tmp_path):
    d = make_version(tmp_path, "imgpair", {"version": 1, "inputs": [
        {"name": "left", "source": "image", "size": [6, 6], "layout": "NHWC"}]}, labels=False)
    p = subprocess.run([str(FN), "--model", str(d), "--port", "0"], capture_output=True, timeout=30)
    assert p.returncode == 1
    line = json.loads(p.stdout.splitlines()[-1])
    assert line["event"] == "init_error" and line["code"] == "pipeline_mismatch"
    assert "'left'" in line["error"] and "NHWC" in line["error"]


@pytest.mark.parametrize("mode", ["http", "lambda"])
def test_images_reach_instances_through_modelfn_up(tmp_path, up, mode):
    from up_harness import cli, config, fn_config
    store = tmp_path / "models"
    cli("push", make_version(tmp_path), "--name", "colors", "--version", "1", "--store", store)
    cli("promote", "colors", "1", "--store", store)
    u = up(config(store, [fn_config("colors", mode=mode)]))
    r = u.post("/v1/models/colors/infer", data=picture("WEBP", 2),
               headers={"Content-Type": "image/webp"})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"]["logits"]["label"] == "blue"
    r = u.post("/v1/models/colors/infer", data=json.dumps({"inputs": [b64(picture("JPEG", 1))]}),
               headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert [o["label"] for o in r.json()["outputs"]["logits"]] == ["green"]
    r = u.post("/v1/models/colors/infer", data=truncated("PNG"),
               headers={"Content-Type": "image/png"})
    assert r.status_code == 400 and r.json()["code"] == "image_invalid", r.text


def test_uploaded_images_through_the_s3_trigger(tmp_path):
    """An image uploaded under incoming/ is inferred by the S3 trigger (under the Lambda Runtime
    Interface Emulator, against a real S3 server) like the same bytes posted to /v1/infer; a
    broken image gets its failure record with the typed code."""
    from servers import LambdaRie, SeaweedS3
    from test_lambda_rie import s3_record
    version = make_version(tmp_path)
    s3 = SeaweedS3()
    rie = None
    try:
        bucket = s3.bucket("uploads")
        c = s3.client()
        objects = {"incoming/red.JPG": picture("JPEG", 0), "incoming/cam/green.png": picture("PNG", 1),
                   "incoming/blue.webp": picture("WEBP", 2), "incoming/broken.png": truncated("PNG")}
        records = []
        for key, data in objects.items():
            c.put_object(Bucket=bucket, Key=key, Body=data)
            etag = c.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
            records.append(s3_record(bucket, key, etag, len(data)))
        rie = LambdaRie([str(FN), "--model", str(version)], env={**os.environ, **s3.env()})
        summary = rie.invoke({"Records": records}).json()
        assert summary["processed"] == 3, summary
        assert [f["input"] for f in summary["failed"]] == ["incoming/broken.png"]
        for key, written in zip(list(objects)[:3], summary["written"]):
            assert written.startswith("results/" + key[len("incoming/"):] + ".")
            out = json.loads(c.get_object(Bucket=bucket, Key=written)["Body"].read())["outputs"]
            check(out, [objects[key]], single=True)
        failure = json.loads(c.get_object(Bucket=bucket, Key=summary["failed"][0]["failure"])["Body"].read())
        assert failure["error"]["code"] == "image_invalid", failure
    finally:
        if rie:
            rie.stop()
        s3.stop()

"""Text through the manifest's pipeline, in the real modelfn-fn: a small text classifier over a
real WordPiece vocabulary (tests/models/textcls) answers {"label", "score"} for strings on /v1,
V2 BYTES inputs and /v1/batch, compared with the Python `tokenizers` package feeding ONNX
Runtime's own Python build; raw token tensors still bypass the tokenizer; bad text gets typed
400s; a modified tokenizer file stops the function at init."""
import json
import shutil
import struct
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
import requests

from conftest import CLI, FN, ROOT

tokenizers = pytest.importorskip("tokenizers")
MODEL = ROOT / "tests" / "models" / "textcls"
LABELS = ["negative", "positive"]
TEXTS = ["I loved this film", "terrible, boring and far too long: import os, sys",
         "Ångström naïve café 東京 😀", "", "   ", "def __init__(self, *args, **kwargs): return None " * 30]
TEXT_INPUTS = [{"name": n, "source": "text", "tokenizer": "tokenizer.json"}
               for n in ("input_ids", "attention_mask", "token_type_ids")]
PIPELINE = {"version": 1, "inputs": TEXT_INPUTS, "outputs": [
    {"name": "logits", "report": "argmax", "labels": "labels.txt"},
    {"name": "hidden", "report": "mean_pool", "mask": "attention_mask"}]}


def make_version(tmp_path, pipeline=PIPELINE, name="textcls"):
    d = tmp_path / name
    d.mkdir()
    for f in ("model.onnx", "tokenizer.json", "labels.txt"):
        shutil.copy(MODEL / f, d / f)
    subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", name, "--version", "1",
                    "--file", "labels.txt", "--tokenizer", "tokenizer.json"],
                   check=True, capture_output=True)
    m = json.loads((d / "manifest.json").read_text())
    m["pipeline"] = pipeline
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def reference(texts):
    """(labels, scores, pooled) from the Python tokenizers package and ONNX Runtime."""
    tok = tokenizers.Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    tok.enable_padding()
    enc = tok.encode_batch(texts)
    feeds = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
             "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
             "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
    sess = ort.InferenceSession(str(MODEL / "model.onnx"), providers=["CPUExecutionProvider"])
    hidden, logits = sess.run(["hidden", "logits"], feeds)
    logits = logits.astype(np.float64)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs = e / e.sum(axis=-1, keepdims=True)
    mask = feeds["attention_mask"][..., None].astype(np.float64)
    assert np.isfinite(logits).all()
    pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
    return [LABELS[i] for i in probs.argmax(-1)], probs.max(-1), pooled, feeds


@pytest.fixture
def fn(tmp_path, start_function):
    return start_function(make_version(tmp_path))


def test_a_list_of_texts_answers_labels_and_scores_like_python(fn):
    r = fn.post("/v1/infer", {"inputs": TEXTS})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    labels, scores, pooled, _ = reference(TEXTS)
    assert [o["label"] for o in out["logits"]] == labels
    np.testing.assert_allclose([o["score"] for o in out["logits"]], scores, rtol=1e-5)
    np.testing.assert_allclose(out["hidden"], pooled, rtol=1e-4, atol=1e-6)


def test_manifest_cli_with_tokenizer_and_labels_makes_a_text_model(tmp_path, start_function):
    d = tmp_path / "m"
    d.mkdir()
    for f in ("model.onnx", "tokenizer.json", "labels.txt"):
        shutil.copy(MODEL / f, d / f)
    subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "m", "--version", "1",
                    "--tokenizer", "tokenizer.json", "--labels", "labels.txt", "--labels-for",
                    "logits"], check=True, capture_output=True)
    m = json.loads((d / "manifest.json").read_text())
    assert [(i["name"], i["source"], i["tokenizer"]) for i in m["pipeline"]["inputs"]] == [
        (n, "text", "tokenizer.json") for n in ("input_ids", "attention_mask", "token_type_ids")]
    f = start_function(d)  # no hand edit: texts in, labels out
    r = f.post("/v1/infer", {"inputs": ["I loved this film"], "outputs": ["logits"]})
    assert r.status_code == 200, r.text
    labels, scores, _, _ = reference(["I loved this film"])
    assert r.json()["outputs"]["logits"][0]["label"] == labels[0]


def test_the_init_line_says_what_loading_the_tokenizer_cost(fn, digits):
    # Loaded on its own thread while ONNX Runtime makes the session; the wait is what it added.
    assert fn.init["tokenizer_load_ms"] > 0 and fn.init["tokenizer_wait_ms"] >= 0
    assert fn.init["tokenizer_wait_ms"] <= fn.init["model_load_ms"]
    assert "tokenizer_load_ms" not in digits.init and "tokenizer_wait_ms" not in digits.init


def test_metadata_says_which_inputs_take_text(fn):
    v1 = {i["name"]: i for i in fn.get("/v1/models").json()["models"][0]["inputs"]}
    assert {n: i.get("source") for n, i in v1.items()} == {
        "input_ids": "text", "attention_mask": "text", "token_type_ids": "text"}
    v2 = fn.get("/v2/models/textcls").json()
    assert {i["name"]: i["parameters"]["source"] for i in v2["inputs"]} == {
        "input_ids": "text", "attention_mask": "text", "token_type_ids": "text"}
    assert all(i["datatype"] == "INT64" for i in v2["inputs"])  # as the model takes them


def test_one_string_answers_one_object(fn):
    r = fn.post("/v1/infer", {"inputs": "I loved this film", "outputs": ["logits"]})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert list(out) == ["logits"]
    labels, scores, _, _ = reference(["I loved this film"])
    assert out["logits"]["label"] == labels[0]
    assert out["logits"]["score"] == pytest.approx(scores[0], rel=1e-5)


def test_padding_does_not_change_a_texts_answer(fn):
    alone = fn.post("/v1/infer", {"inputs": [TEXTS[0]]}).json()["outputs"]
    together = fn.post("/v1/infer", {"inputs": [TEXTS[0], TEXTS[5]]}).json()["outputs"]
    assert alone["logits"][0]["label"] == together["logits"][0]["label"]
    assert alone["logits"][0]["score"] == pytest.approx(together["logits"][0]["score"], rel=1e-5)


def test_batch_items_of_different_lengths_are_padded_together(fn):
    items = [{"inputs": [t]} for t in TEXTS] + [{"inputs": "I loved this film"}]
    r = fn.post("/v1/batch", {"items": items})
    assert r.status_code == 200, r.text
    assert r.headers["X-Batch-Engine-Calls"] == "1"  # merged: all padded to the longest
    results = r.json()["results"]
    labels, scores, pooled, _ = reference(TEXTS)
    for i, res in enumerate(results[:-1]):
        assert res["outputs"]["logits"][0]["label"] == labels[i]
        assert res["outputs"]["logits"][0]["score"] == pytest.approx(scores[i], rel=1e-5)
        np.testing.assert_allclose(res["outputs"]["hidden"][0], pooled[i], rtol=1e-4, atol=1e-6)
    assert results[-1]["outputs"]["logits"]["label"] == labels[0]


def test_v2_bytes_input_holding_strings_goes_through_the_tokenizer(fn):
    body = {"inputs": [{"name": "input_ids", "datatype": "BYTES", "shape": [len(TEXTS)],
                        "data": TEXTS}], "outputs": [{"name": "logits"}]}
    r = fn.post("/v2/models/textcls/infer", body)
    assert r.status_code == 200, r.text
    (out,) = r.json()["outputs"]
    assert out["datatype"] == "BYTES" and out["shape"] == [len(TEXTS), 1]
    labels, scores, _, _ = reference(TEXTS)
    got = [e.split(":", 2) for e in out["data"]]
    assert [g[2] for g in got] == labels
    np.testing.assert_allclose([float(g[0]) for g in got], scores, rtol=1e-6)


def test_raw_token_tensors_bypass_the_tokenizer(fn):
    labels, scores, _, feeds = reference(TEXTS[:2])
    r = fn.post("/v1/infer", {"inputs": {k: v.tolist() for k, v in feeds.items()}})
    assert r.status_code == 200, r.text
    assert [o["label"] for o in r.json()["outputs"]["logits"]] == labels


@pytest.mark.parametrize("inputs,code", [
    (["fine", 3], "text_expected"),
    ([["a"], "b"], "text_expected"),
    ([], "invalid_request"),
    (["x" * 70000], "text_too_long"),
])
def test_bad_text_is_a_typed_400(fn, inputs, code):
    r = fn.post("/v1/infer", {"inputs": inputs})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == code
    b = fn.post("/v1/batch", {"items": [{"inputs": inputs}, {"inputs": "ok"}]})
    assert b.status_code == 200
    assert b.json()["results"][0]["error"]["code"] == code
    assert "outputs" in b.json()["results"][1]


def test_invalid_utf8_in_a_v2_binary_bytes_input_is_invalid_text(fn):
    raw = b"\xff\xfe not utf-8"
    data = struct.pack("<I", len(raw)) + raw
    header = json.dumps({"inputs": [{"name": "input_ids", "datatype": "BYTES", "shape": [1],
                                     "parameters": {"binary_data_size": len(data)}}]}).encode()
    r = requests.post(fn.url + "/v2/models/textcls/infer", data=header + data, timeout=30,
                      headers={"Content-Type": "application/octet-stream",
                               "Inference-Header-Content-Length": str(len(header))})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_text"


def test_a_modified_tokenizer_stops_the_function_at_init(tmp_path):
    d = make_version(tmp_path)
    t = json.loads((d / "tokenizer.json").read_text())
    t["model"]["vocab"]["hello"], t["model"]["vocab"]["world"] = 7, 8
    (d / "tokenizer.json").write_text(json.dumps(t))
    p = subprocess.run([str(FN), "--model", str(d), "--port", "0"], capture_output=True, timeout=30)
    assert p.returncode == 1
    line = json.loads(p.stdout.splitlines()[-1])
    assert line["event"] == "init_error" and line["code"] == "checksum_mismatch"
    assert "tokenizer.json" in line["error"]

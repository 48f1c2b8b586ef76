"""The manifest's pipeline section through the real modelfn-fn: output reports (softmax, top-k,
argmax with labels, mean pooling with L2 normalisation) checked against numpy computed from
ONNX Runtime's own answer for the same model, output selection on /v1 and V2, and the checks made
at load (docs/pipeline.md)."""
import json
import os
import shutil
import subprocess

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient

from conftest import CLI, FN, ROOT

MODELS = ROOT / "tests" / "models"
LABELS = ["cat", "dog", "émeu 🐦"]  # UTF-8 labels survive the round trip


def make_version(tmp_path, fixture, pipeline=None, labels=None, name="m", extra_files=()):
    """A version folder: the fixture's model, an optional labels.txt, a manifest written by
    `modelfn manifest`, then `pipeline` (if given) set in it."""
    d = tmp_path / name
    d.mkdir()
    shutil.copy(MODELS / fixture / "model.onnx", d / "model.onnx")
    args = [str(CLI), "manifest", str(d / "model.onnx"), "--name", name, "--version", "1"]
    if labels is not None:
        (d / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
        args += ["--file", "labels.txt"]
    for f in extra_files:
        args += ["--file", f]
    subprocess.run(args, check=True, capture_output=True)
    if pipeline is not None:
        m = json.loads((d / "manifest.json").read_text())
        m["pipeline"] = pipeline
        (d / "manifest.json").write_text(json.dumps(m))
    return d


def reference(model_dir, feeds, output):
    sess = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    return sess.run([output], feeds)[0].astype(np.float64)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def run_fn(model_dir):
    return subprocess.run([str(FN), "--model", str(model_dir), "--port", "0"], capture_output=True,
                          timeout=30)


def init_error(model_dir):
    p = run_fn(model_dir)
    assert p.returncode == 1, p.stdout
    line = json.loads(p.stdout.splitlines()[-1])
    assert line["event"] == "init_error"
    return line


@pytest.fixture
def x():
    return np.random.default_rng(7).normal(size=(6, 4)).astype(np.float32)


def test_argmax_with_labels_matches_numpy(tmp_path, start_function, x):
    d = make_version(tmp_path, "classify", {"version": 1, "outputs": [
        {"name": "logits", "report": "argmax", "labels": "labels.txt"}]}, LABELS)
    f = start_function(d)
    r = f.post("/v1/infer", {"inputs": x.tolist()})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    probs = softmax(reference(d, {"x": x}, "logits"))
    want = probs.argmax(axis=-1)
    assert [o["index"] for o in out["logits"]] == want.tolist()
    assert [o["label"] for o in out["logits"]] == [LABELS[i] for i in want]
    np.testing.assert_allclose([o["score"] for o in out["logits"]], probs.max(axis=-1), rtol=1e-5)
    # Outputs without a report come back raw, unchanged.
    np.testing.assert_allclose(out["features"], np.maximum(x, 0), rtol=1e-6)
    # A batch of one answers a list of one.
    one = f.post("/v1/infer", {"inputs": x[:1].tolist(), "outputs": ["logits"]}).json()
    assert list(one["outputs"]) == ["logits"]
    assert one["outputs"]["logits"] == [out["logits"][0]]


def test_top_k_and_softmax_match_numpy(tmp_path, start_function, x):
    d = make_version(tmp_path, "classify", {"version": 1, "outputs": [
        {"name": "logits", "report": "top_k", "k": 2, "labels": "labels.txt", "scores": "raw"},
        {"name": "features", "report": "softmax"}]}, LABELS)
    f = start_function(d)
    r = f.post("/v1/infer", {"inputs": x.tolist()})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    logits = reference(d, {"x": x}, "logits")
    order = np.argsort(-logits, axis=-1, kind="stable")[:, :2]
    assert [[e["index"] for e in row] for row in out["logits"]] == order.tolist()
    assert [[e["label"] for e in row] for row in out["logits"]] == \
        [[LABELS[i] for i in row] for row in order]
    np.testing.assert_allclose([[e["score"] for e in row] for row in out["logits"]],
                               np.take_along_axis(logits, order, axis=-1), rtol=1e-6)
    feats = reference(d, {"x": x}, "features")
    np.testing.assert_allclose(out["features"], softmax(feats), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.array(out["features"]).sum(axis=-1), 1.0, rtol=1e-5)


def test_mean_pool_with_l2_matches_numpy(tmp_path, start_function):
    d = make_version(tmp_path, "embed", {"version": 1, "outputs": [
        {"name": "emb", "report": "mean_pool", "mask": "mask"}]})
    f = start_function(d)
    ids = np.array([[1, 2, 3, 4, 5], [6, 7, 0, 0, 0], [9, 9, 9, 9, 1]], dtype=np.int64)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]], dtype=np.int64)
    r = f.post("/v1/infer", {"inputs": {"ids": ids.tolist(), "mask": mask.tolist()}})
    assert r.status_code == 200, r.text
    got = np.array(r.json()["outputs"]["emb"])
    hidden = reference(d, {"ids": ids, "mask": mask}, "emb")
    m = mask[:, :, None].astype(np.float64)
    pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    want = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    assert got.shape == (3, 2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)

    # /v1/batch: items of different lengths, each pooled over its own mask.
    items = [{"inputs": {"ids": ids[i:i + 1, :n].tolist(), "mask": mask[i:i + 1, :n].tolist()}}
             for i, n in ((0, 5), (1, 2), (2, 4))]
    b = f.post("/v1/batch", {"items": items})
    assert b.status_code == 200, b.text
    for i, res in enumerate(b.json()["results"]):
        np.testing.assert_allclose(res["outputs"]["emb"], want[i:i + 1], rtol=1e-5, atol=1e-7)


def test_v1_batch_reports_each_item(tmp_path, start_function, x):
    d = make_version(tmp_path, "classify", {"version": 1, "outputs": [
        {"name": "logits", "report": "argmax", "labels": "labels.txt"}]}, LABELS)
    f = start_function(d)
    items = [{"inputs": x[:2].tolist(), "outputs": ["logits"]}, {"inputs": x[2:5].tolist()},
             {"inputs": [[1, 2]]}, {"inputs": x[5:].tolist(), "outputs": ["nope"]}]
    r = f.post("/v1/batch", {"items": items})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    want = softmax(reference(d, {"x": x}, "logits")).argmax(axis=-1)
    assert [o["index"] for o in res[0]["outputs"]["logits"]] == want[:2].tolist()
    assert list(res[0]["outputs"]) == ["logits"]
    assert [o["label"] for o in res[1]["outputs"]["logits"]] == [LABELS[i] for i in want[2:5]]
    assert res[2]["error"]["code"] == "shape_mismatch"
    assert res[3]["error"]["code"] == "unknown_output"


def test_output_selection_and_unknown_output(tmp_path, start_function, x):
    d = make_version(tmp_path, "classify")
    f = start_function(d)
    r = f.post("/v1/infer", {"inputs": x.tolist(), "outputs": ["features"]})
    assert r.status_code == 200 and list(r.json()["outputs"]) == ["features"]
    bad = f.post("/v1/infer", {"inputs": x.tolist(), "outputs": ["logits", "hidden_states"]})
    assert bad.status_code == 400
    assert bad.headers["Content-Type"].startswith("application/problem+json")
    assert bad.json()["code"] == "unknown_output" and "hidden_states" in bad.json()["detail"]
    v2 = f.post("/v2/models/m/infer", {"inputs": [
        {"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}],
        "outputs": [{"name": "hidden_states"}]})
    assert v2.status_code == 400 and v2.json()["code"] == "unknown_output"
    # An output named twice would be a JSON object with a repeated key: refused, in both APIs.
    twice = f.post("/v1/infer", {"inputs": x.tolist(), "outputs": ["features", "features"]})
    assert twice.status_code == 400 and twice.json()["code"] == "invalid_request"
    assert "'features' twice" in twice.json()["detail"]
    v2 = f.post("/v2/models/m/infer", {"inputs": [
        {"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}],
        "outputs": [{"name": "features"}, {"name": "features"}]})
    assert v2.status_code == 400 and v2.json()["code"] == "invalid_request"


@pytest.mark.parametrize("binary", [False, True])
def test_v2_ranked_outputs_use_the_classification_format(tmp_path, start_function, x, binary):
    d = make_version(tmp_path, "classify", {"version": 1, "outputs": [
        {"name": "logits", "report": "top_k", "k": 3, "labels": "labels.txt"},
        {"name": "features", "report": "softmax"}]}, LABELS)
    f = start_function(d)
    client = httpclient.InferenceServerClient(f.url.removeprefix("http://"))
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    res = client.infer("m", [inp], outputs=[
        httpclient.InferRequestedOutput("logits", binary_data=binary)])
    got = res.as_numpy("logits")
    assert got.shape == (6, 3)
    probs = softmax(reference(d, {"x": x}, "logits"))
    order = np.argsort(-probs, axis=-1, kind="stable")
    for row in range(6):
        for j in range(3):
            item = got[row, j]
            text = item.decode() if isinstance(item, bytes) else item
            score, index, label = text.split(":", 2)
            assert int(index) == order[row, j]
            assert label == LABELS[order[row, j]]
            assert float(score) == pytest.approx(probs[row, order[row, j]], rel=1e-6)
    assert res.as_numpy("features") is None  # not requested
    meta = client.get_model_metadata("m")
    assert {o["name"]: (o["datatype"], o["shape"]) for o in meta["outputs"]} == {
        "logits": ("BYTES", [-1, 3]), "features": ("FP32", [-1, 4])}
    models = f.get("/v1/models").json()
    outs = {o["name"]: o for o in models["models"][0]["outputs"]}
    assert outs["logits"]["report"] == "top_k" and outs["logits"]["datatype"] == "FP32"
    assert "report" in outs["features"] and outs["features"]["report"] == "softmax"
    all_out = client.infer("m", [inp])
    np.testing.assert_allclose(all_out.as_numpy("features"),
                               softmax(reference(d, {"x": x}, "features")), rtol=1e-5, atol=1e-7)


def test_mean_pool_mask_of_another_shape_is_a_400(tmp_path, start_function):
    d = make_version(tmp_path, "embed", {"version": 1, "outputs": [
        {"name": "emb", "report": "mean_pool", "mask": "mask", "normalize": "none"}]})
    f = start_function(d)
    r = f.post("/v1/infer", {"inputs": {"ids": [[1, 2]], "mask": [[1, 0]]}})
    assert r.status_code == 200
    hidden = reference(d, {"ids": np.array([[1, 2]]), "mask": np.array([[1, 0]])}, "emb")
    np.testing.assert_allclose(r.json()["outputs"]["emb"], hidden[:, 0, :], rtol=1e-6)
    # ids and mask share the symbolic dims [N, S], so a mismatch is refused before the run.
    r = f.post("/v1/infer", {"inputs": {"ids": [[1, 2]], "mask": [[1, 0, 1]]}})
    assert r.status_code == 400 and r.json()["code"] == "shape_mismatch"


def test_manifest_cli_labels_picks_the_output(tmp_path):
    d = make_version(tmp_path, "classify")
    (d / "labels.txt").write_text("a\nb\nc\n")
    p = subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "m", "--version",
                        "2", "--labels", "labels.txt", "--tokenizer", "tok.json"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "tok.json" in p.stderr  # the tokenizer file must exist
    (d / "tok.json").write_text("{}")
    p = subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "m", "--version",
                        "2", "--labels", "labels.txt", "--tokenizer", "tok.json", "--out", "-"],
                       capture_output=True, text=True)
    # No input a tokenizer feeds (input_ids, attention_mask, token_type_ids): a usage error.
    assert p.returncode == 2 and "input_ids" in p.stderr and "(inputs: x)" in p.stderr
    p = subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "m", "--version",
                        "2", "--labels", "labels.txt", "--file", "tok.json", "--out", "-"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)
    assert [f["path"] for f in m["files"]] == ["model.onnx", "labels.txt", "tok.json"]
    assert m["pipeline"] == {"version": 1, "inputs": [], "outputs": [
        {"name": "logits", "report": "argmax", "labels": "labels.txt"}]}
    # 4 labels fit `features` [N, 4]; 5 fit no output: the user must name one.
    (d / "labels.txt").write_text("a\nb\nc\nd\n")
    p = subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "m", "--version",
                        "2", "--labels", "labels.txt", "--out", "-"], capture_output=True, text=True)
    assert json.loads(p.stdout)["pipeline"]["outputs"][0]["name"] == "features"
    (d / "labels.txt").write_text("a\nb\nc\nd\ne\n")
    p = subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "m", "--version",
                        "2", "--labels", "labels.txt", "--out", "-"], capture_output=True, text=True)
    assert p.returncode == 2 and "--labels-for" in p.stderr
    p = subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "m", "--version",
                        "2", "--labels", "labels.txt", "--labels-for", "logits", "--out", "-"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "5 labels but the output has 3 classes" in p.stderr


def test_rewriting_a_manifest_keeps_its_pipeline(tmp_path, start_function, x):
    d = make_version(tmp_path, "classify", {"version": 1, "outputs": [
        {"name": "logits", "report": "top_k", "k": 2, "labels": "labels.txt"}]}, LABELS)
    subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "m", "--version", "3",
                    "--file", "labels.txt"], check=True, capture_output=True)
    m = json.loads((d / "manifest.json").read_text())
    assert m["version"] == "3" and m["pipeline"]["outputs"][0]["k"] == 2
    f = start_function(d)
    assert len(f.post("/v1/infer", {"inputs": x.tolist()}).json()["outputs"]["logits"][0]) == 2


def test_load_refuses_a_modified_labels_file(tmp_path):
    d = make_version(tmp_path, "classify", {"version": 1, "outputs": [
        {"name": "logits", "report": "argmax", "labels": "labels.txt"}]}, LABELS)
    (d / "labels.txt").write_text("cat\ndog\nemu\n")
    assert init_error(d)["code"] == "checksum_mismatch"


@pytest.mark.parametrize("pipeline,labels,code,words", [
    ({"version": 1, "outputs": [{"name": "logits", "report": "argmax", "labels": "other.txt"}]},
     LABELS, "invalid_manifest", "'other.txt' is not listed in 'files'"),
    ({"version": 2, "outputs": []}, None, "invalid_manifest", "'version' must be 1"),
    ({"version": 1, "outputs": [{"name": "logits", "report": "top_k"}]}, None, "invalid_manifest",
     "pipeline.outputs[0] 'logits': a top_k report needs 'k'"),
    ({"version": 1, "outputs": [{"name": "logitz", "report": "softmax"}]}, None,
     "pipeline_mismatch", "pipeline output 'logitz': the model has no such output"),
    ({"version": 1, "outputs": [{"name": "logits", "report": "argmax", "labels": "labels.txt"}]},
     ["a", "b"], "pipeline_mismatch", "2 labels but the output has 3 classes"),
    ({"version": 1, "outputs": [{"name": "logits", "report": "argmax", "labels": "labels.txt"}]},
     ["a", "", "c"], "invalid_labels", "line 2 is empty"),
    ({"version": 1, "inputs": [{"name": "x", "source": "image", "size": [2, 2]}]}, None,
     "pipeline_mismatch", "rank-4 float"),
])
def test_load_errors_name_the_field(tmp_path, pipeline, labels, code, words):
    d = make_version(tmp_path, "classify", pipeline, labels)
    line = init_error(d)
    assert line["code"] == code, line
    assert words in json.dumps(line, ensure_ascii=False) or words in run_fn(d).stderr.decode()


def test_an_unusable_tokenizer_file_is_refused_at_load(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}")
    d = tmp_path / "m"
    d.mkdir()
    shutil.copy(MODELS / "embed" / "model.onnx", d / "model.onnx")
    shutil.copy(tmp_path / "tokenizer.json", d / "tokenizer.json")
    subprocess.run([str(CLI), "manifest", str(d / "model.onnx"), "--name", "m", "--version", "1",
                    "--file", "tokenizer.json"], check=True, capture_output=True)
    m = json.loads((d / "manifest.json").read_text())
    m["pipeline"] = {"version": 1, "inputs": [
        {"name": "ids", "source": "text", "tokenizer": "tokenizer.json", "field": "input_ids"},
        {"name": "mask", "source": "text", "tokenizer": "tokenizer.json",
         "field": "attention_mask"}]}
    (d / "manifest.json").write_text(json.dumps(m))
    line = init_error(d)
    assert line["code"] == "invalid_tokenizer"
    assert "'ids'" in run_fn(d).stderr.decode()

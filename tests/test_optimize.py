"""`modelfn optimize` and `modelfn package --optimize`: a faster version of a model, written as a
new version whose manifest says how it was made, served by the same runtime, and refused when it
breaks the user's accuracy thresholds on sample requests."""
import json
import pathlib
import sys
import zipfile

import onnx

from conftest import EXAMPLES
from up_harness import cli, push

DIGITS = EXAMPLES / "digits"
SAMPLES = DIGITS / "requests" / "infer.json"
PY = {"MODELFN_PYTHON": sys.executable}


def rows():
    return json.loads(SAMPLES.read_text())["inputs"]


def answers(f):
    """The digits function's answer for each sample row, one request per row."""
    out = []
    for row in rows():
        r = f.post("/v1/infer", {"inputs": [row]})
        assert r.status_code == 200, r.text
        out.append(r.json()["outputs"])
    return out


def test_a_graph_optimised_version_is_pushed_promoted_and_answers_as_the_original(tmp_path,
                                                                                  start_function):
    store = tmp_path / "models"
    push(store, DIGITS, "digits", "1.0.0")
    r = cli("optimize", "digits", "--version", "1.0.0-opt", "--store", store, "--promote",
            "--samples", SAMPLES, "--max-abs-error", "1e-5", "--min-agreement", "1", "--json")
    report = json.loads(r.stdout)
    assert report["store"].endswith(str(store))
    opt = report["optimization"]
    assert opt["from"] == "digits@1.0.0"
    assert opt["graph_level"] == "extended"
    assert opt["quantization"] is None
    assert opt["accuracy"]["samples"] == 1 and opt["accuracy"]["synthetic"] is False
    assert opt["accuracy"]["agreement"] == 1
    for side in ("before", "after"):
        assert report[side]["bytes"] > 0 and report[side]["session_ms"] > 0
        assert report[side]["run_ms"] > 0
    shown = json.loads(cli("show", "digits", "--store", store, "--json").stdout)
    assert "1.0.0-opt" in json.dumps(shown)
    out = tmp_path / "opt"
    cli("optimize", str(DIGITS), "--out", out, "--samples", SAMPLES)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == "1.0.0-opt"
    assert manifest["optimization"]["from_sha256"] == json.loads(
        (DIGITS / "manifest.json").read_text())["files"][0]["sha256"]
    original, optimised = start_function(DIGITS), start_function(out)
    assert optimised.init["version"] == "1.0.0-opt"
    a, b = answers(original), answers(optimised)
    assert [x["label"] for x in a] == [x["label"] for x in b]
    for x, y in zip(a, b):
        assert max(abs(p - q) for p, q in zip(x["probabilities"][0], y["probabilities"][0])) < 1e-5


def test_dynamic_int8_is_refused_past_the_threshold_and_kept_within_it(tmp_path, start_function):
    store = tmp_path / "models"
    push(store, DIGITS, "digits", "1.0.0")
    refused = cli("optimize", "digits", "--version", "q", "--store", store, "--quantize", "dynamic",
                  "--samples", SAMPLES, "--max-abs-error", "1e-12", env=PY, check=False)
    assert refused.returncode == 1
    assert "breaks the accuracy gate" in refused.stderr and "max abs error" in refused.stderr
    listed = cli("list", "digits", "--store", store, "--json").stdout
    assert '"q"' not in listed  # nothing was pushed
    out = tmp_path / "q"
    r = cli("optimize", str(DIGITS), "--out", out, "--quantize", "dynamic", "--samples", SAMPLES,
            "--min-agreement", "0.75", "--json", env=PY)
    report = json.loads(r.stdout)
    assert report["optimization"]["quantization"] == "dynamic-int8"
    assert report["optimization"]["quantizer"].startswith("onnxruntime ")
    assert report["after"]["bytes"] < report["before"]["bytes"]
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    # ONNX Runtime's extended level fuses DynamicQuantizeLinear + MatMulInteger.
    assert {"DynamicQuantizeLinear", "DynamicQuantizeMatMul"} & ops, ops
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == "1.0.0-int8"
    f = start_function(out)
    labels = [x["label"] for x in answers(f)]
    want = [x["label"] for x in answers(start_function(DIGITS))]
    assert sum(a == b for a, b in zip(labels, want)) >= 0.75 * len(want)
    # Its rows no longer share a Run: dynamic quantisation scales each Run by its own inputs.
    batch = f.post("/v1/batch", {"items": [{"inputs": [row]} for row in rows()[:3]]})
    assert batch.status_code == 200
    assert batch.headers["X-Batch-Engine-Calls"] == "3"


def test_static_int8_is_calibrated_on_the_samples(tmp_path):
    out = tmp_path / "s"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    r = cli("optimize", str(DIGITS), "--out", out, "--quantize", "static", "--samples", SAMPLES,
            "--json", env=PY, cwd=cwd)
    assert not any(cwd.iterdir())  # the quantiser's temporary files stay in its own folder
    assert json.loads(r.stdout)["optimization"]["quantization"] == "static-int8"
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} & ops, ops
    nosamples = cli("optimize", str(DIGITS), "--out", tmp_path / "t", "--quantize", "static",
                    env=PY, check=False)
    assert nosamples.returncode == 2 and "give --samples" in nosamples.stderr


def test_mistakes_get_clear_errors_and_leave_nothing_behind(tmp_path):
    out = tmp_path / "o"
    missing = cli("optimize", str(DIGITS), "--out", out, "--quantize", "dynamic",
                  env={"MODELFN_PYTHON": "/nonexistent/python3"}, check=False)
    assert missing.returncode == 1
    assert "pip install onnxruntime onnx numpy" in missing.stderr
    assert not out.exists() or not any(out.iterdir())
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"inputs": [[0]]}\n{"inputs": \n')
    r = cli("optimize", str(DIGITS), "--out", out, "--samples", bad, check=False)
    assert r.returncode == 1 and "bad.jsonl:2" in r.stderr
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"inputs": [[1, 2, 3]]}')
    r = cli("optimize", str(DIGITS), "--out", out, "--samples", wrong, check=False)
    assert r.returncode == 1 and "sample 1 of" in r.stderr
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    r = cli("optimize", str(DIGITS), "--out", full, check=False)
    assert r.returncode != 0 and "not an empty folder" in r.stderr
    assert (full / "x").exists()
    r = cli("optimize", str(DIGITS), "--out", out, "--level", "fast", check=False)
    assert r.returncode == 2
    r = cli("optimize", str(DIGITS), "--out", out, "--min-agreement", "2", check=False)
    assert r.returncode == 2


def test_package_optimize_carries_the_optimised_model(tmp_path):
    zip_path = tmp_path / "function.zip"
    r = cli("package", "--target", "aws-lambda-zip", "--model", DIGITS, "--out", zip_path,
            "--optimize", "--quantize", "dynamic", "--samples", SAMPLES, "--json", env=PY)
    assert json.loads(r.stdout)["out"] == str(zip_path)
    assert "digits@1.0.0 -> digits@1.0.0-int8" in r.stderr
    with zipfile.ZipFile(zip_path) as z:
        manifest = json.loads(z.read("model/manifest.json"))
    assert manifest["optimization"]["quantization"] == "dynamic-int8"
    r = cli("package", "--target", "aws-lambda-zip", "--model", DIGITS, "--out", zip_path,
            "--quantize", "dynamic", check=False)
    assert r.returncode == 2 and "need --optimize" in r.stderr

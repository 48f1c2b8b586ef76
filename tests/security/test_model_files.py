"""A model reads only its own files, and odd shapes or odd models get correct answers: each test
replays the model or request an attacker (or an unlucky user) would send and asserts the safe
outcome, against the real modelfn-fn and modelfn binaries."""
import hashlib
import json
import os
import shutil
import subprocess
import zipfile

import numpy as np
import pytest

from conftest import CLI, EXAMPLES, FN, MODELS, Function, LogLines

# Row 0 of tests/models/extdata's W = (arange(12).reshape(4, 3) - 5.5) / 4.
W_ROW0 = [-1.375, -1.125, -0.875]


def cli(*args, check=True, cwd=None):
    p = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def manifest_for(folder, files, name="m", inputs=(), outputs=()):
    """A manifest.json written by hand (as an attacker with push rights could), listing `files`."""
    entries = []
    for f in files:
        data = (folder / f).read_bytes()
        entries.append({"path": f, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    (folder / "manifest.json").write_text(json.dumps({
        "schema_version": 1, "name": name, "version": "1", "framework": "onnx", "files": entries,
        "inputs": list(inputs), "outputs": list(outputs)}))


def start_in(model, cwd, env=None):
    """modelfn-fn started from working directory `cwd`; its init (or init_error) log line."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen([str(FN), "--model", str(model), "--port", "0", "--host", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, cwd=cwd)
    log = LogLines(proc)
    init = log.wait_for(lambda l: l.get("event") in ("init", "init_error"), 30)
    return log, init


def init_error(model, cwd=None):
    log, init = start_in(model, cwd)
    try:
        assert init is not None and init["event"] == "init_error", log.lines
        return init
    finally:
        log.terminate()


@pytest.fixture
def extdata(tmp_path):
    d = tmp_path / "model"
    shutil.copytree(MODELS / "extdata", d)
    return d


@pytest.mark.parametrize("relative", [False, True], ids=["absolute-model-path", "relative"])
def test_external_weights_load_from_any_cwd_despite_a_decoy(extdata, tmp_path, relative):
    decoy_cwd = tmp_path / "cwd"
    decoy_cwd.mkdir()
    (decoy_cwd / "weights.bin").write_bytes(np.full(12, 7.0, np.float32).tobytes())
    model = os.path.relpath(extdata, decoy_cwd) if relative else extdata
    log, init = start_in(model, decoy_cwd)
    try:
        assert init and init["event"] == "init", log.lines
        import requests
        r = requests.post(f"http://127.0.0.1:{init['port']}/v1/infer",
                          json={"inputs": [[1, 0, 0, 0], [0, 0, 0, 2]]}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"]["y"][0] == W_ROW0
        assert r.json()["outputs"]["y"][1] == [(2 * (9 + k) - 11) / 4 for k in range(3)]
    finally:
        log.terminate()


@pytest.mark.parametrize("kind,location", [("dotdot", "../secret.bin"),
                                           ("absolute", "/etc/hostname"),
                                           ("link", "link.bin")])
def test_external_data_out_of_the_folder_is_refused(tmp_path, kind, location):
    (tmp_path / "secret.bin").write_bytes(b"SECRET!!")
    d = tmp_path / "model"
    d.mkdir()
    shutil.copy(MODELS / "unsafe" / f"{kind}.onnx", d / "model.onnx")
    files = ["model.onnx"]
    if kind == "link":
        (d / "link.bin").symlink_to("/etc/hostname")
        files.append("link.bin")  # listed and hashed, still out of the folder
    manifest_for(d, files, outputs=[{"name": "y", "datatype": "UINT8", "shape": [4]}])
    err = init_error(d)
    assert err["code"] == "unsafe_external_data", err
    assert f"'{location}'" in err["error"]
    # The CLI refuses to describe (and so to push) such a model, naming the file.
    p = cli("manifest", d / "model.onnx", "--name", "m", "--version", "1", "--out", "-",
            check=False)
    assert p.returncode != 0 and f"'{location}'" in p.stderr


def test_unlisted_external_file_is_refused(extdata):
    manifest_for(extdata, ["model.onnx"])
    err = init_error(extdata)
    assert err["code"] == "external_data_unlisted" and "'weights.bin'" in err["error"], err


def test_tampered_external_file_is_a_checksum_mismatch(extdata):
    w = bytearray((extdata / "weights.bin").read_bytes())
    w[0] ^= 1
    (extdata / "weights.bin").write_bytes(bytes(w))
    err = init_error(extdata)
    assert err["code"] == "checksum_mismatch" and "weights.bin" in err["error"], err


def test_manifest_finds_external_data_and_takes_file_relative_to_the_model(extdata, tmp_path):
    (extdata / "manifest.json").unlink()
    (extdata / "vocab.txt").write_text("a\nb\n")
    cli("manifest", "model/model.onnx", "--name", "ext", "--version", "1", "--file", "vocab.txt",
        cwd=tmp_path)
    m = json.loads((extdata / "manifest.json").read_text())
    assert [f["path"] for f in m["files"]] == ["model.onnx", "weights.bin", "vocab.txt"]
    assert m["files"][1]["sha256"] == hashlib.sha256((extdata / "weights.bin").read_bytes()).hexdigest()
    # A --file path leaving the folder is refused, not hashed.
    p = cli("manifest", extdata / "model.onnx", "--name", "ext", "--version", "1", "--file",
            "../cwd-file", "--out", "-", check=False)
    assert p.returncode != 0 and "'../cwd-file'" in p.stderr


def test_push_refuses_symlinks_out_of_the_folder(tmp_path):
    d = tmp_path / "model"
    shutil.copytree(MODELS / "add2", d)
    (d / "notes.txt").symlink_to("/etc/passwd")
    store = tmp_path / "store"
    p = cli("push", d, "--name", "add2", "--version", "1", "--store", store, check=False)
    assert p.returncode != 0
    assert "'notes.txt'" in p.stderr and "--follow-links" in p.stderr
    assert not list(store.rglob("notes.txt")) if store.exists() else True
    cli("push", d, "--name", "add2", "--version", "1", "--store", store, "--follow-links")
    assert list(store.rglob("notes.txt"))


def test_push_carries_external_data_through_store_cache_and_package(extdata, tmp_path):
    (extdata / "manifest.json").unlink()
    store = tmp_path / "store"
    cli("push", extdata, "--name", "ext", "--version", "1", "--store", store)
    verify = json.loads(cli("verify", "ext@1", "--store", store, "--json").stdout)
    assert verify["ok"] and {f["path"] for f in verify["files"]} == {"model.onnx", "weights.bin"}
    env = {"MODELFN_CACHE_DIR": str(tmp_path / "cache")}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    log, init = start_in(f"file://{store}/ext@1", cwd, env)
    try:
        assert init and init["event"] == "init", log.lines
        import requests
        r = requests.post(f"http://127.0.0.1:{init['port']}/v1/infer",
                          json={"inputs": [[1, 0, 0, 0]]}, timeout=30)
        assert r.json()["outputs"]["y"] == [W_ROW0]
    finally:
        log.terminate()
    cli("manifest", extdata / "model.onnx", "--name", "ext", "--version", "1")
    cli("package", "--target", "aws-lambda-zip", "--model", extdata, "--out", tmp_path / "f.zip")
    names = zipfile.ZipFile(tmp_path / "f.zip").namelist()
    assert "model/weights.bin" in names and "model/model.onnx" in names
    cli("package", "--target", "aws-lambda-image", "--model", extdata, "--out", tmp_path / "img")
    assert (tmp_path / "img/context/model/weights.bin").read_bytes() == (extdata / "weights.bin").read_bytes()
    # A model whose external data the manifest does not list is not packaged at all.
    manifest_for(extdata, ["model.onnx"])
    p = cli("package", "--target", "aws-lambda-zip", "--model", extdata, "--out", tmp_path / "g.zip",
            check=False)
    assert p.returncode != 0 and "'weights.bin'" in p.stderr


def test_corrupt_cache_entry_is_fetched_again(tmp_path):
    store = tmp_path / "store"
    cli("push", MODELS / "add2", "--name", "add2", "--version", "1", "--store", store)
    env = {"MODELFN_CACHE_DIR": str(tmp_path / "cache")}
    uri = f"file://{store}/add2@1"
    for attempt in range(3):
        log, init = start_in(uri, tmp_path, env)
        try:
            assert init and init["event"] == "init", log.lines
            import requests
            r = requests.post(f"http://127.0.0.1:{init['port']}/v1/infer",
                              json={"inputs": {"a": [[1, 2, 3]], "b": [[3, 2, 1]]}}, timeout=30)
            assert r.json()["outputs"]["count"] == [1]
            warned = [l for l in log.lines if l.get("level") == "warn"]
        finally:
            log.terminate()
        if attempt == 0:
            assert init["cache"] == "miss"
            cached = next((tmp_path / "cache").rglob("model.onnx"))
            data = bytearray(cached.read_bytes())
            data[len(data) // 2] ^= 0x10
            cached.write_bytes(bytes(data))
        elif attempt == 1:
            assert init["cache"] == "miss", init  # fetched again, not reported as corrupt
            assert any("failed verification" in l.get("msg", "") for l in warned), log.lines
        else:
            assert init["cache"] == "hit" and not warned


def test_health_checks_do_not_take_the_cold_start(start_function):
    fn = start_function(EXAMPLES / "digits")
    for path in ["/v1/health", "/v2/health/ready", "/v2/health/live", "/v1/health"]:
        assert fn.get(path).status_code == 200
    assert fn.get("/v1/health").json()["cold_start"]["first_request_served"] is False
    assert fn.post("/v1/infer", {"inputs": [[0.0] * 64]}).status_code == 200
    assert fn.post("/v1/infer", {"inputs": [[0.0] * 64]}).status_code == 200
    lines = fn.requests_logged(7)
    cold = [(l["route"], l["cold_start"]) for l in lines]
    assert cold[:5] == [(r, False) for r in ["/v1/health", "/v2", "/v2", "/v1/health",
                                              "/v1/health"]], cold
    assert cold[5:] == [("/v1/infer", True), ("/v1/infer", False)], cold


def test_request_caused_engine_failures_are_400s(start_function):
    fn = start_function(MODELS / "embed")
    r = fn.post("/v1/infer", {"inputs": {"ids": [[1, 10]], "mask": [[1, 1]]}})  # vocabulary: 10
    assert r.status_code == 400 and r.json()["code"] == "invalid_input", r.text
    r.content.decode("utf-8")  # engine text is escaped JSON, valid UTF-8
    r = fn.post("/v1/infer", {"inputs": {"ids": [[1, 2, 3]], "mask": [[1, 1]]}})
    assert r.status_code == 400 and r.json()["code"] == "shape_mismatch", r.text
    assert "'S'" in r.json()["detail"]
    r = fn.post("/v2/models/embed/infer", {"inputs": [
        {"name": "ids", "datatype": "INT64", "shape": [1, 0], "data": []},
        {"name": "mask", "datatype": "INT64", "shape": [1, 0], "data": []}]})
    assert r.status_code == 200 and r.json()["outputs"][0]["shape"] == [1, 0, 2], r.text
    r = fn.post("/v1/infer", {"inputs": {"ids": [[1, 2]], "mask": [[1, 0]]}})
    assert r.status_code == 200 and r.json()["outputs"]["emb"] == [[[2.0, 3.01], [0.0, 0.0]]]
    assert fn.healthy()


@pytest.mark.parametrize("model", ["digits", "breast_cancer"])
def test_empty_batch_is_never_a_500(start_function, model):
    fn = start_function(EXAMPLES / model)
    served = fn.get("/v1/models").json()["models"][0]
    spec = served["inputs"][0]
    r = fn.post(f"/v2/models/{served['name']}/infer", {"inputs": [
        {"name": spec["name"], "datatype": spec["datatype"], "shape": [0, spec["shape"][1]],
         "data": []}]})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["code"] == "shape_mismatch" and "zero-length" in r.json()["error"]
    else:
        assert all(o["shape"][0] == 0 for o in r.json()["outputs"])
    assert fn.healthy()


def test_batch_dependent_model_gives_its_single_answers_in_a_batch(start_function):
    fn = start_function(MODELS / "dynq")
    rng = np.random.default_rng(7)
    rows = [(rng.standard_normal((1, 4)) * scale).astype(np.float32).tolist()
            for scale in (0.01, 1, 100, 3)]
    single = [fn.post("/v1/infer", {"inputs": r}).json()["outputs"] for r in rows]
    r = fn.post("/v1/batch", {"items": [{"inputs": r} for r in rows]})
    assert r.status_code == 200, r.text
    assert [x["outputs"] for x in r.json()["results"]] == single
    assert r.headers["X-Batch-Engine-Calls"] == str(len(rows))


def test_merged_batch_answers_equal_single_answers_bit_for_bit(start_function):
    fn = start_function(EXAMPLES / "digits")
    rng = np.random.default_rng(3)
    rows = [rng.uniform(0, 16, (1, 64)).astype(np.float32).tolist() for _ in range(5)]
    single = [fn.post("/v1/infer", {"inputs": r}).content for r in rows]
    r = fn.post("/v1/batch", {"items": [{"inputs": r} for r in rows]})
    assert r.headers["X-Batch-Engine-Calls"] == "1"
    for got, want in zip(r.json()["results"], single):
        assert json.dumps(got["outputs"]) == json.dumps(json.loads(want)["outputs"])


def test_declared_lengths_and_ranges_are_checked_before_the_run(tmp_path, start_function):
    d = tmp_path / "embed"
    shutil.copytree(MODELS / "embed", d)
    m = json.loads((d / "manifest.json").read_text())
    m["inputs"][0].update({"max_shape": [None, 8], "range": [0, 9]})  # ids: 8 positions, 10 tokens
    (d / "manifest.json").write_text(json.dumps(m))
    # The author's declarations survive a push (the manifest is rebuilt from the model).
    store = tmp_path / "store"
    cli("push", d, "--name", "embed", "--version", "1", "--store", store)
    shown = json.loads(cli("show", "embed@1", "--store", store, "--json").stdout)
    ids = shown["manifest"]["inputs"][0]
    assert ids["max_shape"] == [None, 8] and ids["range"] == [0, 9], ids
    fn = start_function(f"file://{store}/embed@1", env={"MODELFN_CACHE_DIR": str(tmp_path / "c")})
    r = fn.post("/v1/infer", {"inputs": {"ids": [[1, 2, 10]], "mask": [[1, 1, 1]]}})
    assert r.status_code == 400 and r.json()["code"] == "invalid_input", r.text
    assert "outside the model's range [0, 9]" in r.json()["detail"]
    nine = [list(range(9))]
    r = fn.post("/v1/infer", {"inputs": {"ids": nine, "mask": nine}})
    assert r.status_code == 400 and r.json()["code"] == "shape_mismatch", r.text
    assert "over the model's maximum of 8" in r.json()["detail"]
    r = fn.post("/v1/infer", {"inputs": {"ids": [list(range(8))], "mask": [[1] * 8]}})
    assert r.status_code == 200, r.text

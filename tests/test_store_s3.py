"""The model store on a real S3-compatible server (SeaweedFS): the CLI and modelfn-fn against it,
interop with boto3 both ways, racing promotes, and faults (server killed mid-push and mid-fetch,
tampered object, wrong credentials, clock skew)."""
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import time

import numpy as np
import onnxruntime as ort
import pytest

from conftest import CLI, EXAMPLES, FN, Function
from servers import SeaweedS3, write_big_onnx


@pytest.fixture(scope="module")
def s3():
    server = SeaweedS3()
    yield server
    server.stop()


def cli(*args, env=None, check=True, timeout=120):
    p = subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    if check and p.returncode != 0:
        raise AssertionError(f"modelfn {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def fn_env(s3, tmp_path):
    return {**s3.env(), "MODELFN_CACHE_DIR": str(tmp_path / "cache")}


def test_push_promote_serve_and_boto3_reads_it(s3, tmp_path):
    bucket = s3.bucket("lifecycle")
    store = f"s3://{bucket}/models"
    out = cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1.0.0", "--store", store,
              "--json", env=s3.env())
    pushed = json.loads(out.stdout)
    assert pushed["created"] is True
    again = json.loads(cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1.0.0",
                           "--store", store, "--json", env=s3.env()).stdout)
    assert again["created"] is False
    cli("promote", "digits", "1.0.0", "--store", store, env=s3.env())

    # What modelfn wrote is plain S3 to boto3, in the seed's layout.
    c = s3.client()
    keys = sorted(o["Key"] for o in c.list_objects_v2(Bucket=bucket, Prefix="models/")["Contents"])
    assert "models/digits/current.json" in keys
    assert "models/digits/versions/1.0.0/model.onnx" in keys
    manifest = c.get_object(Bucket=bucket, Key="models/digits/versions/1.0.0/manifest.json")["Body"].read()
    pointer = json.loads(c.get_object(Bucket=bucket, Key="models/digits/current.json")["Body"].read())
    assert pointer["version"] == "1.0.0"
    assert pointer["sha256"] == hashlib.sha256(manifest).hexdigest()
    model = c.get_object(Bucket=bucket, Key="models/digits/versions/1.0.0/model.onnx")["Body"].read()
    assert hashlib.sha256(model).hexdigest() == json.loads(manifest)["files"][0]["sha256"]

    listed = json.loads(cli("list", "--store", store, "--json", env=s3.env()).stdout)
    assert listed["models"] == [{"name": "digits", "current": "1.0.0", "versions": ["1.0.0"]}]
    assert cli("verify", "digits", "--store", store, env=s3.env()).returncode == 0

    fn = Function(f"{store}/digits", env=fn_env(s3, tmp_path))
    try:
        assert fn.init["cache"] == "miss" and fn.init["model_fetch_ms"] > 0
        r = fn.post("/v1/infer", json.loads((EXAMPLES / "digits" / "requests" / "infer_named.json").read_text()))
        assert r.status_code == 200 and r.json()["outputs"]["label"] == [2]
    finally:
        fn.terminate()
    fn = Function(f"{store}/digits@1.0.0", env=fn_env(s3, tmp_path))  # another instance: cache hit
    try:
        assert fn.init["cache"] == "hit" and fn.init["bytes_downloaded"] == 0
    finally:
        fn.terminate()


def test_model_uploaded_by_boto3_is_served(s3, tmp_path):
    bucket = s3.bucket("byboto")
    c = s3.client()
    src = EXAMPLES / "breast_cancer"
    manifest_src = json.loads((src / "manifest.json").read_text())
    manifest_src["files"] = [f for f in manifest_src["files"] if f["path"] == "model.onnx"]
    manifest = json.dumps(manifest_src).encode()
    c.put_object(Bucket=bucket, Key="zoo/breast-cancer/versions/1.0.0/model.onnx", Body=(src / "model.onnx").read_bytes())
    c.put_object(Bucket=bucket, Key="zoo/breast-cancer/versions/1.0.0/manifest.json", Body=manifest)
    c.put_object(Bucket=bucket, Key="zoo/breast-cancer/current.json",
                 Body=json.dumps({"version": "1.0.0", "sha256": hashlib.sha256(manifest).hexdigest()}).encode())
    fn = Function(f"s3://{bucket}/zoo/breast-cancer", env=fn_env(s3, tmp_path))
    try:
        body = json.loads((src / "requests" / "infer.json").read_text())
        out = fn.post("/v1/infer", body).json()["outputs"]
        sess = ort.InferenceSession(str(src / "model.onnx"))
        label, proba = sess.run(["label", "probabilities"], {"features": np.array(body["inputs"], np.float32)})
        assert out["label"] == label.tolist()
        np.testing.assert_allclose(out["probabilities"], proba, rtol=1e-6)
    finally:
        fn.terminate()


def test_concurrent_promotes_leave_one_valid_pointer(s3):
    bucket = s3.bucket("race")
    store = f"s3://{bucket}/m"
    for v in range(6):
        cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", f"1.{v}", "--store", store, env=s3.env())
    cli("promote", "digits", "1.0", "--store", store, env=s3.env())
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda v: cli("promote", "digits", f"1.{v}", "--store", store, env=s3.env(),
                                              check=False), range(1, 6)))
    ok = [r for r in results if r.returncode == 0]
    conflicts = [r for r in results if r.returncode == 1 and "changed while it was being updated" in r.stderr]
    assert len(ok) >= 1 and len(ok) + len(conflicts) == 5, [r.stderr for r in results]
    shown = json.loads(cli("show", "digits", "--store", store, "--json", env=s3.env()).stdout)
    assert shown["current"] is True and shown["version"] in {f"1.{v}" for v in range(1, 6)}
    assert cli("verify", "digits", "--store", store, env=s3.env()).returncode == 0


def test_rollback_returns_to_the_previous_version(s3):
    bucket = s3.bucket("rollback")
    store = f"s3://{bucket}/m"
    for v in ("1", "2"):
        cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", v, "--store", store, env=s3.env())
        cli("promote", "digits", v, "--store", store, env=s3.env())
    back = json.loads(cli("rollback", "digits", "--store", store, "--json", env=s3.env()).stdout)
    assert back["version"] == "1"
    r = cli("rollback", "digits", "--store", store, env=s3.env(), check=False)
    assert r.returncode == 1 and "no earlier version" in r.stderr


def test_tampered_object_is_never_loaded(s3, tmp_path):
    bucket = s3.bucket("tamper")
    store = f"s3://{bucket}/m"
    cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1", "--store", store, env=s3.env())
    cli("promote", "digits", "1", "--store", store, env=s3.env())
    c = s3.client()
    key = "m/digits/versions/1/model.onnx"
    data = bytearray(c.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 1
    c.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    v = cli("verify", "digits", "--store", store, env=s3.env(), check=False)
    assert v.returncode == 1 and "FAIL model.onnx" in v.stdout
    p = subprocess.run([str(FN), "--model", f"{store}/digits", "--port", "0"], capture_output=True, text=True,
                       timeout=60, env={**os.environ, **fn_env(s3, tmp_path)})
    assert p.returncode == 1
    assert json.loads(p.stdout.splitlines()[-1])["code"] == "checksum_mismatch"
    assert not list((tmp_path / "cache").rglob("model.onnx"))  # nothing cached


def test_wrong_credentials_and_clock_skew_are_typed(s3):
    bucket = s3.bucket("auth")
    store = f"s3://{bucket}/m"
    bad = {**s3.env(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    r = cli("list", "--store", store, env=bad, check=False)
    assert r.returncode == 1 and "SignatureDoesNotMatch" in r.stderr
    assert "not-the-secret" not in r.stderr
    r = cli("list", "--store", store, env={**s3.env(), "AWS_ACCESS_KEY_ID": "AKIDUNKNOWN"}, check=False)
    assert r.returncode == 1 and ("InvalidAccessKeyId" in r.stderr or "AccessDenied" in r.stderr)
    faketime = shutil.which("faketime")
    assert faketime, "faketime (Debian package) is installed by scripts/setup.sh"
    r = subprocess.run([faketime, "-f", "+2h", str(CLI), "list", "--store", store], capture_output=True,
                       text=True, timeout=60,
                       env={**os.environ, **s3.env(), "ASAN_OPTIONS": "verify_asan_link_order=0"})
    assert r.returncode == 1 and "RequestTimeTooSkewed" in r.stderr and "clock" in r.stderr


def test_server_killed_mid_push_and_mid_fetch(tmp_path):
    server = SeaweedS3()  # a server of its own, to kill
    try:
        bucket = server.bucket("faults")
        store = f"s3://{bucket}/m"
        big = tmp_path / "big"
        big.mkdir()
        write_big_onnx(big / "model.onnx", 24 * 1024 * 1024)  # 96 MiB: multipart upload
        # Mid-push: the push fails with a typed error and leaves no visible version.
        push = subprocess.Popen([str(CLI), "push", str(big), "--name", "big", "--version", "1", "--store", store],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **server.env()})
        c = server.client()
        deadline = time.monotonic() + 60
        while not c.list_multipart_uploads(Bucket=bucket).get("Uploads"):  # the upload is under way
            assert push.poll() is None and time.monotonic() < deadline, "push ended before it could be cut"
            time.sleep(0.01)
        server.kill()
        _, err = push.communicate(timeout=120)
        assert push.returncode == 1, err
        assert "127.0.0.1" in err or "Couldn't connect" in err or "reset" in err.lower() or "stalled" in err
        server.start()
        listed = json.loads(cli("list", "big", "--store", store, "--json", env=server.env()).stdout)
        assert listed["models"][0]["versions"] == []
        cli("push", str(big), "--name", "big", "--version", "1", "--store", store, env=server.env())
        cli("promote", "big", "1", "--store", store, env=server.env())

        # Mid-fetch: the function does not start on a partial model, and nothing is cached.
        env = {**server.env(), "MODELFN_CACHE_DIR": str(tmp_path / "cache")}
        fetch = subprocess.Popen([str(FN), "--model", f"{store}/big", "--port", "0"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        deadline = time.monotonic() + 60
        while not [p for p in (tmp_path / "cache").rglob("model.onnx") if ".tmp-" in str(p)]:
            assert fetch.poll() is None and time.monotonic() < deadline, "fetch ended before it could be cut"
            time.sleep(0.005)
        server.kill()
        out, err = fetch.communicate(timeout=120)
        assert fetch.returncode == 1, out
        assert json.loads(out.splitlines()[-1])["event"] == "init_error"
        assert not list((tmp_path / "cache").rglob(".complete"))

        # With the server back, a fetch completes; with it gone again, the verified copy serves.
        server.start()
        fn = Function(f"{store}/big", env=env)
        try:
            assert fn.init["cache"] == "miss"
            assert fn.init["bytes_downloaded"] == (big / "model.onnx").stat().st_size
        finally:
            fn.terminate()
        server.kill()
        fn = Function(f"{store}/big", env=env)
        try:
            assert fn.init["cache"] == "offline"
            warn = fn.wait_for(lambda l: l.get("level") == "warn", 5)
            assert warn and "store unreachable" in warn["msg"]
            assert fn.healthy()
        finally:
            fn.terminate()
        # No cached copy of another version: a clear error.
        p = subprocess.run([str(FN), "--model", f"{store}/big@2", "--port", "0"], capture_output=True, text=True,
                           timeout=60, env={**os.environ, **env})
        assert p.returncode == 1 and "no cached copy of big@2" in p.stderr
    finally:
        server.stop()


def test_policy_is_least_privilege(s3):
    out = json.loads(cli("policy", "digits", "--provider", "aws", "--store", "s3://bucket/models").stdout)
    stmts = {s["Sid"]: s for s in out["Statement"]}
    assert stmts["ReadModelObjects"]["Action"] == ["s3:GetObject"]
    assert stmts["ReadModelObjects"]["Resource"] == ["arn:aws:s3:::bucket/models/digits/*"]
    assert stmts["ListModelPrefix"]["Condition"]["StringLike"]["s3:prefix"] == ["models/digits/*"]
    gcp = json.loads(cli("policy", "digits", "--provider", "gcp", "--store", "gs://b/p").stdout)
    assert 'objects/p/digits/' in gcp["bindings"][0]["condition"]["expression"]
    az = json.loads(cli("policy", "digits", "--provider", "azure", "--store", "az://c/p").stdout)
    assert az["roleDefinitionName"] == "Storage Blob Data Reader" and "'p/digits/'" in az["condition"]
    assert cli("policy", "digits", "--provider", "aws", "--store", "gs://b/p", check=False).returncode == 1


def test_progress_bar_on_a_terminal(tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    write_big_onnx(big / "model.onnx", 8 * 1024 * 1024)  # 32 MiB
    store = tmp_path / "store"
    cmd = f"{CLI} push {big} --name big --version 1 --store {store}"
    # script(1) gives the command a pseudo-terminal, as a person at a shell would have.
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=300)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert "[####################] 100%" in out and "\r" in out, out[-500:]
    piped = cli("push", str(big), "--name", "big", "--version", "2", "--store", str(store))
    assert "%" not in piped.stderr  # no bar when stderr is not a terminal

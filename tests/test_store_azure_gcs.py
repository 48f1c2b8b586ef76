"""The model store on Azurite (Azure Blob) and fake-gcs-server (GCS): the CLI and modelfn-fn,
interop with azure-storage-blob and google-cloud-storage both ways, racing promotes, tampered
objects, wrong credentials, and the GCS service-account token flow against a local token endpoint
that verifies the signed JWT."""
import base64
import concurrent.futures
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import CLI, EXAMPLES, FN, Function
from servers import Azurite, FakeGcs, write_big_onnx


@pytest.fixture(scope="module")
def azurite():
    server = Azurite()
    server.kind, server.scheme = "azure", "az"
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fakegcs():
    server = FakeGcs()
    server.kind, server.scheme = "gcs", "gs"
    yield server
    server.stop()


@pytest.fixture(params=["azure", "gcs"])
def backend(request):
    return request.getfixturevalue("azurite" if request.param == "azure" else "fakegcs")


def cli(*args, env=None, check=True, timeout=120):
    p = subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    if check and p.returncode != 0:
        raise AssertionError(f"modelfn {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def read_object(server, bucket, key):
    if server.kind == "azure":
        return server.client().get_blob_client(bucket, key).download_blob().readall()
    return server.client().bucket(bucket).blob(key).download_as_bytes()


def write_object(server, bucket, key, data):
    if server.kind == "azure":
        server.client().get_blob_client(bucket, key).upload_blob(data, overwrite=True)
    else:
        server.client().bucket(bucket).blob(key).upload_from_string(data)


def test_push_promote_serve_and_sdk_reads_it(backend, tmp_path):
    bucket = backend.bucket("lifecycle")
    store = f"{backend.scheme}://{bucket}/models"
    cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1.0.0", "--store", store, env=backend.env())
    again = json.loads(cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1.0.0", "--store", store,
                           "--json", env=backend.env()).stdout)
    assert again["created"] is False
    cli("promote", "digits", "1.0.0", "--store", store, env=backend.env())
    manifest = read_object(backend, bucket, "models/digits/versions/1.0.0/manifest.json")
    pointer = json.loads(read_object(backend, bucket, "models/digits/current.json"))
    assert pointer["version"] == "1.0.0" and pointer["sha256"] == hashlib.sha256(manifest).hexdigest()
    model = read_object(backend, bucket, "models/digits/versions/1.0.0/model.onnx")
    assert hashlib.sha256(model).hexdigest() == json.loads(manifest)["files"][0]["sha256"]
    env = {**backend.env(), "MODELFN_CACHE_DIR": str(tmp_path / "cache")}
    fn = Function(f"{store}/digits", env=env)
    try:
        assert fn.init["cache"] == "miss"
        body = json.loads((EXAMPLES / "digits" / "requests" / "infer_named.json").read_text())
        assert fn.post("/v1/infer", body).json()["outputs"]["label"] == [2]
    finally:
        fn.terminate()


def test_model_uploaded_by_the_sdk_is_served(backend, tmp_path):
    bucket = backend.bucket("bysdk")
    src = EXAMPLES / "breast_cancer"
    m = json.loads((src / "manifest.json").read_text())
    m["files"] = [f for f in m["files"] if f["path"] == "model.onnx"]
    manifest = json.dumps(m).encode()
    write_object(backend, bucket, "zoo/breast-cancer/versions/1.0.0/model.onnx", (src / "model.onnx").read_bytes())
    write_object(backend, bucket, "zoo/breast-cancer/versions/1.0.0/manifest.json", manifest)
    write_object(backend, bucket, "zoo/breast-cancer/current.json",
                 json.dumps({"version": "1.0.0", "sha256": hashlib.sha256(manifest).hexdigest()}).encode())
    env = {**backend.env(), "MODELFN_CACHE_DIR": str(tmp_path / "cache")}
    fn = Function(f"{backend.scheme}://{bucket}/zoo/breast-cancer", env=env)
    try:
        expected = json.loads((src / "expected.json").read_text())
        body = json.loads((src / "requests" / "infer.json").read_text())
        assert fn.post("/v1/infer", body).json()["outputs"]["label"] == expected["label"]
    finally:
        fn.terminate()


def test_concurrent_promotes_and_rollback(backend):
    bucket = backend.bucket("race")
    store = f"{backend.scheme}://{bucket}/m"
    for v in range(5):
        cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", f"1.{v}", "--store", store,
            env=backend.env())
    cli("promote", "digits", "1.0", "--store", store, env=backend.env())
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda v: cli("promote", "digits", f"1.{v}", "--store", store, env=backend.env(),
                                              check=False), range(1, 5)))
    ok = [r for r in results if r.returncode == 0]
    conflicts = [r for r in results if r.returncode == 1 and "changed while it was being updated" in r.stderr]
    assert len(ok) >= 1 and len(ok) + len(conflicts) == 4, [r.stderr for r in results]
    shown = json.loads(cli("show", "digits", "--store", store, "--json", env=backend.env()).stdout)
    assert shown["current"] is True
    back = json.loads(cli("rollback", "digits", "--store", store, "--json", env=backend.env()).stdout)
    assert back["version"] != shown["version"]
    assert cli("verify", "digits", "--store", store, env=backend.env()).returncode == 0


def test_tampered_object_is_never_loaded(backend, tmp_path):
    bucket = backend.bucket("tamper")
    store = f"{backend.scheme}://{bucket}/m"
    cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1", "--store", store, env=backend.env())
    key = "m/digits/versions/1/model.onnx"
    data = bytearray(read_object(backend, bucket, key))
    data[100] ^= 1
    write_object(backend, bucket, key, bytes(data))
    assert cli("verify", "digits@1", "--store", store, env=backend.env(), check=False).returncode == 1
    p = subprocess.run([str(FN), "--model", f"{store}/digits@1", "--port", "0"], capture_output=True, text=True,
                       timeout=60, env={**os.environ, **backend.env(), "MODELFN_CACHE_DIR": str(tmp_path / "c")})
    assert p.returncode == 1 and json.loads(p.stdout.splitlines()[-1])["code"] == "checksum_mismatch"


def test_large_upload_in_blocks(backend, tmp_path):
    bucket = backend.bucket("large")
    store = f"{backend.scheme}://{bucket}/m"
    big = tmp_path / "big"
    big.mkdir()
    write_big_onnx(big / "model.onnx", 18 * 1024 * 1024)  # 72 MiB: Azure block upload
    cli("push", str(big), "--name", "big", "--version", "1", "--store", store, env=backend.env(), timeout=300)
    assert cli("verify", "big@1", "--store", store, env=backend.env(), timeout=300).returncode == 0


def test_azure_wrong_key_is_typed(azurite):
    backend = azurite
    backend.bucket("lifecycle")
    wrong = base64.b64encode(b"x" * 64).decode()
    r = cli("list", "--store", "az://lifecycle/models",
            env={"AZURE_STORAGE_CONNECTION_STRING": backend.connection_string(wrong)}, check=False)
    assert r.returncode == 1 and ("AuthorizationFailure" in r.stderr or "AuthenticationFailed" in r.stderr), r.stderr
    assert wrong not in r.stderr
    r = cli("list", "--store", "az://lifecycle/models", env={"AZURE_STORAGE_CONNECTION_STRING": ""}, check=False)
    assert r.returncode == 1 and "no Azure Storage account" in r.stderr


class TokenEndpoint:
    """A local OAuth2 token endpoint that verifies the RS256 JWT of the JWT-bearer grant with the
    service account's public key and Google's time rules, as the real one does."""

    def __init__(self, public_key):
        self.public_key = public_key
        self.tokens = 0
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                from urllib.parse import parse_qs
                body = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                ok = endpoint.check(body)
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"access_token": "tok-1", "expires_in": 3600} if ok
                                            else {"error": "invalid_grant"}).encode())

            def log_message(self, *a):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(self, body):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def unb64(s):
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        if body.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return False
        head, claims, sig = body["assertion"][0].split(".")
        try:
            self.public_key.verify(unb64(sig), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            return False
        c = json.loads(unb64(claims))
        now = time.time()
        if c["aud"] != self.url or not (c["iat"] - 60 <= now <= c["exp"]) or "devstorage" not in c["scope"]:
            return False
        self.tokens += 1
        return True


def test_gcs_service_account_token_flow(fakegcs, tmp_path):
    backend = fakegcs
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = TokenEndpoint(key.public_key())

    def key_file(k, name):
        pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
        path = tmp_path / name
        path.write_text(json.dumps({"type": "service_account", "client_email": "fn@p.iam.gserviceaccount.com",
                                    "private_key": pem, "token_uri": token.url}))
        return str(path)

    bucket = backend.bucket("sa")
    env = {"GOOGLE_APPLICATION_CREDENTIALS": key_file(key, "good.json"), "MODELFN_GCS_ENDPOINT": backend.endpoint,
           "STORAGE_EMULATOR_HOST": ""}
    cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1", "--store", f"gs://{bucket}/m", env=env)
    assert token.tokens == 1  # one token, cached for every request of the push
    r = cli("list", "--store", f"gs://{bucket}/m", check=False,
            env={**env, "GOOGLE_APPLICATION_CREDENTIALS": key_file(other, "wrong.json")})
    assert r.returncode == 1 and "token endpoint" in r.stderr and "HTTP 400" in r.stderr
    assert "PRIVATE KEY" not in r.stderr
    faketime = shutil.which("faketime")
    r = subprocess.run([faketime, "-f", "+2h", str(CLI), "list", "--store", f"gs://{bucket}/m"], capture_output=True,
                       text=True, timeout=60,
                       env={**os.environ, **env, "ASAN_OPTIONS": "verify_asan_link_order=0"})
    assert r.returncode == 1 and "clock" in r.stderr


def test_azure_sas_token(azurite):
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas
    from servers import AZURITE_ACCOUNT, AZURITE_KEY

    bucket = azurite.bucket("sas")
    sas = generate_container_sas(AZURITE_ACCOUNT, bucket, account_key=AZURITE_KEY,
                                 permission=ContainerSasPermissions(read=True, write=True, list=True, create=True),
                                 expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    conn = f"BlobEndpoint=http://127.0.0.1:{azurite.port}/{AZURITE_ACCOUNT};SharedAccessSignature={sas}"
    env = {"AZURE_STORAGE_CONNECTION_STRING": conn}
    cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1", "--store", f"az://{bucket}/m", env=env)
    cli("promote", "digits", "1", "--store", f"az://{bucket}/m", env=env)
    assert cli("verify", "digits", "--store", f"az://{bucket}/m", env=env).returncode == 0
    read_only = generate_container_sas(AZURITE_ACCOUNT, bucket, account_key=AZURITE_KEY,
                                       permission=ContainerSasPermissions(read=True, list=True),
                                       expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    ro = {"AZURE_STORAGE_CONNECTION_STRING":
          f"BlobEndpoint=http://127.0.0.1:{azurite.port}/{AZURITE_ACCOUNT};SharedAccessSignature={read_only}"}
    assert cli("verify", "digits", "--store", f"az://{bucket}/m", env=ro).returncode == 0  # reads are enough
    r = cli("promote", "digits", "1", "--store", f"az://{bucket}/m", env=ro, check=False)
    assert r.returncode == 1 and "HTTP 403" in r.stderr
    assert "sig=" not in r.stderr and read_only not in r.stderr  # the SAS never shows


def test_gcs_metadata_server_token(fakegcs):
    """Without a key file the token comes from the metadata server, as on Cloud Run."""
    calls = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            calls.append((self.path, self.headers.get("Metadata-Flavor")))
            ok = self.headers.get("Metadata-Flavor") == "Google"
            self.send_response(200 if ok else 403)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"access_token": "meta-tok", "expires_in": 3599,
                                         "token_type": "Bearer"}).encode())

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        bucket = fakegcs.bucket("meta")
        env = {"GCE_METADATA_HOST": f"127.0.0.1:{server.server_port}", "MODELFN_GCS_ENDPOINT": fakegcs.endpoint,
               "STORAGE_EMULATOR_HOST": "", "GOOGLE_APPLICATION_CREDENTIALS": ""}
        cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1", "--store", f"gs://{bucket}/m",
            env=env)
        assert calls and calls[0] == ("/computeMetadata/v1/instance/service-accounts/default/token", "Google")
        assert len(calls) == 1  # cached for the whole push
    finally:
        server.shutdown()
    r = cli("list", "--store", f"gs://{bucket}/m", check=False, env={**env, "GCE_METADATA_HOST": "127.0.0.1:9"})
    assert r.returncode == 1 and "metadata server" in r.stderr

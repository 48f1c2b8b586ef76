"""The Azure store with the host's managed identity instead of a key or a SAS: Azurite over HTTPS with
`--oauth basic` (it checks each bearer token's issuer, audience and expiry) behind a local identity
endpoint that speaks the App Service protocol (IDENTITY_ENDPOINT + X-IDENTITY-HEADER, as Azure
Functions hosts set it) and issues tokens shaped like Entra ID's. Push, promote, verify and serve
with no account key anywhere in modelfn's environment; a refused identity and a token the service
refuses are typed."""
import base64
import http.server
import json
import threading
import time
import urllib.parse

import pytest

from conftest import EXAMPLES, Function
from servers import AZURITE_ACCOUNT, Azurite
from test_store_azure_gcs import cli

SECRET = "identity-header-secret"


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def entra_like_token(audience="https://storage.azure.com", ttl=3600):
    now = int(time.time())
    claims = {"aud": audience, "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
              "iat": now - 10, "nbf": now - 10, "exp": now + ttl, "oid": "5f1d6c2e-0000-4000-8000-000000000001"}
    return b64url({"typ": "JWT", "alg": "RS256"}) + "." + b64url(claims) + "." + b64url({"sig": "none"})


class IdentityEndpoint:
    """The App Service managed identity endpoint: GET ?resource=...&api-version=2019-08-01 with
    X-IDENTITY-HEADER; answers {"access_token", "expires_on", "resource", "token_type"}."""

    def __init__(self, audience="https://storage.azure.com"):
        self.calls = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                outer.calls.append(q)
                if self.headers.get("X-IDENTITY-HEADER") != SECRET or q.get("api-version") != ["2019-08-01"]:
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(b'{"error":"invalid_request"}')
                    return
                body = json.dumps({"access_token": entra_like_token(audience), "resource": q["resource"][0],
                                   "expires_on": str(int(time.time()) + 3600), "token_type": "Bearer"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/msi/token"

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def azurite_oauth():
    server = Azurite(oauth=True)
    yield server
    server.stop()


def identity_env(azurite, endpoint, secret=SECRET):
    # The account and its endpoint, and no key or SAS: the store asks the identity endpoint.
    return {"AZURE_STORAGE_CONNECTION_STRING": f"BlobEndpoint={azurite.endpoint()};AccountName={AZURITE_ACCOUNT}",
            "IDENTITY_ENDPOINT": endpoint.url, "IDENTITY_HEADER": secret, "CURL_CA_BUNDLE": str(azurite.cert)}


def test_push_promote_verify_and_serve_with_the_managed_identity(azurite_oauth, tmp_path):
    container = "mi-models"
    azurite_oauth.client().create_container(container)
    endpoint = IdentityEndpoint()
    try:
        env = identity_env(azurite_oauth, endpoint)
        store = f"az://{container}/m"
        cli("push", str(EXAMPLES / "digits"), "--name", "digits", "--version", "1", "--store", store, env=env)
        cli("promote", "digits", "1", "--store", store, env=env)
        assert cli("verify", "digits", "--store", store, env=env).returncode == 0
        # What it wrote is there for the SDK (with the account key, over the same HTTPS).
        names = [b.name for b in azurite_oauth.client().get_container_client(container).list_blobs()]
        assert "m/digits/current.json" in names and "m/digits/versions/1/model.onnx" in names
        # Every token was asked for the storage resource.
        assert endpoint.calls and all(c["resource"] == ["https://storage.azure.com/"] for c in endpoint.calls)
        # The function loads its model the same way.
        fn = Function(f"{store}/digits", env={**env, "MODELFN_CACHE_DIR": str(tmp_path / "cache")})
        try:
            body = json.loads((EXAMPLES / "digits" / "requests" / "infer_named.json").read_text())
            assert fn.post("/v1/infer", body).json()["outputs"]["label"] == [2]
        finally:
            fn.terminate()
    finally:
        endpoint.stop()


def test_a_refused_identity_and_a_refused_token_are_typed(azurite_oauth):
    container = "mi-refused"
    azurite_oauth.client().create_container(container)
    endpoint = IdentityEndpoint()
    wrong_audience = IdentityEndpoint(audience="https://vault.azure.net")
    try:
        # The identity endpoint refuses (a wrong X-IDENTITY-HEADER).
        r = cli("verify", "digits", "--store", f"az://{container}/m",
                env=identity_env(azurite_oauth, endpoint, secret="wrong"), check=False)
        assert r.returncode != 0 and "managed identity endpoint (app-service) answered HTTP 400" in r.stderr
        # A token for another service: Azurite refuses it, and the message names the identity's role.
        r = cli("verify", "digits", "--store", f"az://{container}/m",
                env=identity_env(azurite_oauth, wrong_audience), check=False)
        assert r.returncode != 0 and "managed identity" in r.stderr and "HTTP 403 AuthenticationFailed" in r.stderr, r.stderr
        assert "eyJ" not in r.stderr  # no token in messages
    finally:
        endpoint.stop()
        wrong_audience.stop()

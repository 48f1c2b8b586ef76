"""The gateway's auth: API keys with usage plans (SQLite, `modelfn keys`) and JWT bearer tokens
(RS256/ES256 against a JWKS) signed by PyJWT and cryptography, never by our own code."""
import base64
import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from up_harness import WORK_MODEL, Up, cli, config, fn_config, push, work_body


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = tmp_path_factory.mktemp("auth-store") / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    return s


def keys(u, *args):
    return cli("keys", *args, "-f", u.config)


def test_api_key_matrix(up, store):
    plans = ("plans:\n  limited: {rate_per_s: 0.2, burst: 2}\n  quota: {daily_quota: 3}\n")
    u = up(config(store, [fn_config()], gateway="  auth: {api_keys: true}\n", extra=plans))
    path = "/v1/models/work/infer"
    r = u.post(path, work_body())
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = u.post(path, work_body(), headers={"X-Api-Key": "mfn_00000000_" + "0" * 32})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = u.post(path, work_body(), headers={"X-Api-Key": "not-even-the-format"})
    assert r.status_code == 401

    free = json.loads(keys(u, "create", "--name", "free-user", "--json").stdout)
    assert free["key"].startswith("mfn_" + free["id"] + "_")
    r = u.post(path, work_body(), headers={"X-Api-Key": free["key"]})
    assert r.status_code == 200, r.text
    # Only a hash is stored.
    db = (u.dir / ".modelfn" / "keys.db").read_bytes()
    assert free["key"].encode() not in db

    # Rate limit: burst 2, then 429 with Retry-After and RateLimit headers.
    limited = json.loads(keys(u, "create", "--name", "burst", "--plan", "limited",
                              "--json").stdout)["key"]
    codes = [u.post(path, work_body(), headers={"X-Api-Key": limited}) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[2].json()["code"] == "rate_limited"
    assert int(codes[2].headers["Retry-After"]) >= 1
    assert codes[0].headers["RateLimit-Limit"] == "2"
    assert codes[2].headers["RateLimit-Remaining"] == "0"

    # Daily quota of 3: the fourth is refused and is not counted.
    quota = json.loads(keys(u, "create", "--name", "q", "--plan", "quota", "--json").stdout)["key"]
    codes = [u.post(path, work_body(), headers={"X-Api-Key": quota}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = u.post(path, work_body(), headers={"X-Api-Key": quota})
    assert r.json()["code"] == "quota_exceeded" and int(r.headers["Retry-After"]) > 0

    # Revocation through the CLI reaches the running gateway at once.
    keys(u, "revoke", "free-user")
    r = u.post(path, work_body(), headers={"X-Api-Key": free["key"]})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    listed = json.loads(keys(u, "list", "--json").stdout)
    assert {k["name"]: k["revoked"] for k in listed} == {"free-user": True, "burst": False,
                                                        "q": False}
    assert "key" not in listed[0]
    # Admin routes need a key too; health does not.
    assert u.get("/metrics").status_code == 401
    assert u.get("/metrics", headers={"X-Api-Key": quota}).status_code == 200
    assert u.get("/v1/health").status_code == 200
    m = u.get("/metrics", headers={"X-Api-Key": quota}).text
    assert 'modelfn_gateway_rate_limited_total{kind="rate"} 1' in m
    assert 'modelfn_gateway_auth_failures_total{reason="missing_key"}' in m


def test_keys_cli_usage_errors(tmp_path, store):
    (tmp_path / "modelfn.yaml").write_text(config(store, [fn_config()]))
    r = cli("keys", "create", "-f", tmp_path / "modelfn.yaml", check=False)
    assert r.returncode == 2 and "--name" in r.stderr
    r = cli("keys", "create", "--name", "x", "--plan", "gold", "-f", tmp_path / "modelfn.yaml",
            check=False)
    assert r.returncode == 1 and "no plan 'gold'" in r.stderr
    r = cli("keys", "revoke", "nobody", "-f", tmp_path / "modelfn.yaml", check=False)
    assert r.returncode == 1 and "no valid key" in r.stderr


def b64url_uint(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def signers():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rn = rsa_key.public_key().public_numbers()
    en = ec_key.public_key().public_numbers()
    jwks = {"keys": [
        {"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": b64url_uint(rn.n),
         "e": b64url_uint(rn.e)},
        {"kty": "EC", "kid": "e1", "use": "sig", "crv": "P-256",
         "x": base64.urlsafe_b64encode(en.x.to_bytes(32, "big")).rstrip(b"=").decode(),
         "y": base64.urlsafe_b64encode(en.y.to_bytes(32, "big")).rstrip(b"=").decode()},
    ]}
    pub_pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"rsa": rsa_key, "ec": ec_key, "other": other, "jwks": jwks, "pub_pem": pub_pem}


def test_jwt_matrix(up, store, signers, tmp_path):
    jwks_path = tmp_path / "jwks.json"
    jwks_path.write_text(json.dumps(signers["jwks"]))
    gw = (f"  auth: {{jwt: {{jwks: {jwks_path}, issuer: https://issuer.example, "
          f"audience: modelfn-api, leeway_s: 5}}}}\n")
    u = up(config(store, [fn_config()], gateway=gw))
    now = int(time.time())
    good = {"iss": "https://issuer.example", "aud": "modelfn-api", "sub": "alice",
            "exp": now + 300, "iat": now}

    def call(token):
        h = {} if token is None else {"Authorization": "Bearer " + token}
        return u.post("/v1/models/work/infer", work_body(), headers=h)

    rs = jwt.encode(good, signers["rsa"], algorithm="RS256", headers={"kid": "r1"})
    es = jwt.encode(good, signers["ec"], algorithm="ES256", headers={"kid": "e1"})
    assert call(rs).status_code == 200
    assert call(es).status_code == 200
    # Audience as a list including ours is fine.
    assert call(jwt.encode(dict(good, aud=["x", "modelfn-api"]), signers["rsa"],
                           algorithm="RS256")).status_code == 200

    def refused(token, why):
        r = call(token)
        assert r.status_code == 401, (why, r.text)
        assert r.json()["code"] == "unauthorized"
        assert why in r.json()["detail"], (why, r.json())
        return r

    r = refused(None, "bearer token is required")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    refused(jwt.encode(dict(good, exp=now - 60), signers["rsa"], algorithm="RS256"), "expired")
    refused(jwt.encode(dict(good, nbf=now + 600), signers["rsa"], algorithm="RS256"),
            "not yet valid")
    refused(jwt.encode(dict(good, aud="someone-else"), signers["rsa"], algorithm="RS256"),
            "wrong audience")
    refused(jwt.encode(dict(good, iss="https://evil.example"), signers["rsa"], algorithm="RS256"),
            "wrong issuer")
    refused(jwt.encode({k: v for k, v in good.items() if k != "exp"}, signers["rsa"],
                       algorithm="RS256"), "no exp")
    refused(jwt.encode(good, signers["other"], algorithm="RS256", headers={"kid": "r1"}),
            "bad signature")
    r = refused(jwt.encode(good, None, algorithm="none"), "algorithm is not accepted")
    assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    # HS256 keyed with the RSA public key (algorithm confusion), built by hand since PyJWT
    # refuses to sign it.
    import hmac, hashlib
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "r1"}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(good).encode()).rstrip(b"=")
    sig = base64.urlsafe_b64encode(hmac.new(signers["pub_pem"], header + b"." + payload,
                                            hashlib.sha256).digest()).rstrip(b"=")
    refused((header + b"." + payload + b"." + sig).decode(), "algorithm is not accepted")
    # RS256 header over an ES256 key id: no key of that kind.
    refused(jwt.encode(good, signers["rsa"], algorithm="RS256", headers={"kid": "e1"}),
            "no key for this token")
    refused("not.a.jwt", "malformed")
    m = u.get("/metrics", headers={"Authorization": "Bearer " + rs}).text
    assert 'modelfn_gateway_auth_failures_total{reason="bad_token"}' in m


def test_jwks_from_a_url(up, store, signers, tmp_path):
    import http.server
    import threading
    body = json.dumps(signers["jwks"]).encode()
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
        u = up(config(store, [fn_config()], gateway=f"  auth: {{jwt: {{jwks: '{url}'}}}}\n"))
        assert seen == ["/.well-known/jwks.json"]
        now = int(time.time())
        token = jwt.encode({"sub": "bob", "exp": now + 60}, signers["ec"], algorithm="ES256",
                           headers={"kid": "e1"})
        r = u.post("/v1/models/work/infer", work_body(), headers={"Authorization": "Bearer " + token})
        assert r.status_code == 200, r.text
        line = u.wait_for(lambda l: l.get("event") == "access" and l.get("principal") == "jwt:bob")
        assert line is not None
    finally:
        server.shutdown()


def test_status_with_a_jwt_and_without_credentials(up, store, signers, tmp_path):
    """`modelfn status` reaches a gateway that wants a JWT when MODELFN_TOKEN holds one; without,
    its 401 says how to give credentials (and is JSON under --json)."""
    import os
    import subprocess
    from conftest import CLI
    jwks_path = tmp_path / "jwks.json"
    jwks_path.write_text(json.dumps(signers["jwks"]))
    gw = (f"  auth: {{jwt: {{jwks: {jwks_path}, issuer: https://issuer.example, "
          f"audience: modelfn-api}}}}\n")
    u = up(config(store, [fn_config()], gateway=gw))
    env = {k: v for k, v in os.environ.items() if k not in ("MODELFN_TOKEN", "MODELFN_API_KEY")}

    def status(*extra, token=None):
        e = dict(env, **({"MODELFN_TOKEN": token} if token else {}))
        return subprocess.run([str(CLI), "status", "-f", str(u.config), *extra], env=e,
                              capture_output=True, text=True, timeout=30)

    r = status()
    assert r.returncode == 1
    assert "401" in r.stderr and "MODELFN_API_KEY" in r.stderr and "MODELFN_TOKEN" in r.stderr
    r = status("--json")
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "unauthorized" and "MODELFN_TOKEN" in err["detail"]
    now = int(time.time())
    token = jwt.encode({"iss": "https://issuer.example", "aud": "modelfn-api", "sub": "ops",
                        "exp": now + 300, "iat": now}, signers["rsa"], algorithm="RS256",
                       headers={"kid": "r1"})
    r = status("--json", token=token)
    assert r.returncode == 0, r.stderr
    assert [f["name"] for f in json.loads(r.stdout)["functions"]] == ["work"]

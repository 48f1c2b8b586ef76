"""Attacks on the gateway found by replaying requests against the hardened build: each test
replays the request and asserts the safe outcome."""
import base64
import http.client
import json
import socket
import time
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from up_harness import WORK_MODEL, Up, cli, config, fn_config, push, work_body


@pytest.fixture(scope="module")
def keyed_lambda(tmp_path_factory):
    """A platform with API keys and one lambda-mode function; yields (Up, a valid key)."""
    store = tmp_path_factory.mktemp("atk-gw-store") / "models"
    push(store, WORK_MODEL, "work", "1.0.0")
    d = tmp_path_factory.mktemp("atk-gw")
    u = Up(d, config(store, [fn_config("work", mode="lambda")],
                     gateway="  auth: {api_keys: true}\n"))
    key = json.loads(cli("keys", "create", "--name", "k", "--json", "-f", u.config).stdout)["key"]
    yield u, key
    u.stop()


@pytest.mark.parametrize("field", ["Accept", "User-Agent"])
def test_a_repeated_forwarded_field_does_not_break_a_lambda_function(keyed_lambda, field):
    # Repeated fields are legal HTTP (RFC 9110 section 5.3). The lambda event used to carry
    # each as its own key, so the runtime refused the event as JSON with a duplicate key and the
    # client got 502 function_error for a valid request.
    u, key = keyed_lambda
    body = json.dumps(work_body()).encode()
    headers = [("X-Api-Key", key), ("Content-Type", "application/json"), (field, "1"),
               (field, "2")]
    p = urllib.parse.urlparse(u.url)
    c = http.client.HTTPConnection(p.hostname, p.port, timeout=30)
    c.putrequest("POST", "/v1/models/work/infer", skip_accept_encoding=True)
    for k, v in headers:
        c.putheader(k, v)
    c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    assert r.status == 200, text
    assert json.loads(text)["outputs"]["y"] == [[1, 2, 3, 4]]


def test_a_repeated_field_that_decides_how_the_body_is_read_is_refused(keyed_lambda):
    # Two Inference-Header-Content-Length (or Content-Type) values would let the gateway and the
    # function read the same body differently: refused before any work.
    u, key = keyed_lambda
    p = urllib.parse.urlparse(u.url)
    for field in ("Inference-Header-Content-Length", "Content-Type"):
        c = http.client.HTTPConnection(p.hostname, p.port, timeout=30)
        c.putrequest("POST", "/v1/models/work/infer", skip_accept_encoding=True)
        for k, v in [("X-Api-Key", key), (field, "1"), (field, "2"), ("Content-Length", "2")]:
            c.putheader(k, v)
        c.endheaders(b"{}")
        r = c.getresponse()
        problem = json.loads(r.read())
        c.close()
        assert r.status == 400, problem
        assert problem["code"] == "invalid_request"
        assert field.lower() in problem["detail"]


def head_answer(u, head, timeout=10):
    """Sends a request head whose body never comes; returns what the gateway says meanwhile."""
    p = urllib.parse.urlparse(u.url)
    s = socket.create_connection((p.hostname, p.port), timeout=timeout)
    s.sendall(head)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


@pytest.mark.parametrize("line", [b"OPTIONS /v1/models/work/infer", b"GET /v1/health",
                                  b"GET /dashboard", b"GET /v2/health/ready"])
@pytest.mark.parametrize("framing", [b"Content-Length: 6000000\r\n",
                                     b"Transfer-Encoding: chunked\r\n"])
def test_public_routes_do_not_read_a_large_body_before_authentication(keyed_lambda, line,
                                                                       framing):
    # With auth on, public routes answered only once a body of up to the body limit (6 MiB) had
    # arrived: any client could make the gateway buffer that much on each of its connections.
    u, _ = keyed_lambda
    out = head_answer(u, line + b" HTTP/1.1\r\nHost: x\r\nOrigin: http://o\r\n" + framing +
                      b"\r\n")
    assert out.startswith(b"HTTP/1.1 413 "), out[:300]
    assert b"Connection: close" in out
    assert u.get("/v1/health").status_code == 200


def test_public_routes_still_answer_with_a_small_body(keyed_lambda):
    u, _ = keyed_lambda
    out = head_answer(u, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         b"Content-Length: 5\r\n\r\nhello")
    assert out.startswith(b"HTTP/1.1 200 "), out[:300]


@pytest.fixture(scope="module")
def jwt_platform(tmp_path_factory):
    """A platform with JWT auth (one RS256 key); yields (Up, the signing key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = key.public_key().public_numbers()

    def b64(i):
        return base64.urlsafe_b64encode(i.to_bytes((i.bit_length() + 7) // 8, "big")).rstrip(
            b"=").decode()

    d = tmp_path_factory.mktemp("atk-jwt")
    (d / "jwks.json").write_text(json.dumps({"keys": [
        {"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": b64(n.n), "e": b64(n.e)}]}))
    store = tmp_path_factory.mktemp("atk-jwt-store") / "models"
    push(store, WORK_MODEL, "work", "1.0.0")
    u = Up(d, config(store, [fn_config("work", mode="http")],
                     gateway=f"  auth: {{jwt: {{jwks: {d / 'jwks.json'}, issuer: https://iss, "
                             f"audience: api}}}}\n"))
    yield u, key
    u.stop()


@pytest.mark.parametrize("claim", ["nbf", "iat", "exp"])
def test_a_time_claim_that_is_not_a_number_is_refused(jwt_platform, claim):
    # A signed token whose nbf (or iat) was a string was treated as having none: accepted long
    # before the time the issuer wrote in it.
    u, key = jwt_platform
    now = int(time.time())
    claims = {"iss": "https://iss", "aud": "api", "sub": "s", "exp": now + 300}
    claims[claim] = str(now + 100000 if claim != "exp" else now + 300)
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "r1"})
    r = u.post("/v1/models/work/infer", work_body(), headers={"Authorization": "Bearer " + token})
    assert r.status_code == 401, r.text
    assert f"{claim} is not a number" in r.json()["detail"], r.text
    # The same token with numbers passes when they allow it: the refusal is about the type.
    claims[claim] = now if claim != "exp" else now + 300
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "r1"})
    r = u.post("/v1/models/work/infer", work_body(), headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200, r.text

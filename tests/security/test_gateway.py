"""Attacks on the gateway (`modelfn up`) before and around authentication, replayed: work done for
unauthenticated clients, duplicate credentials, platform routes, header injection, echoed JWT text,
request ids, and configurations that only look safe."""
import base64
import json
import re
import socket
import urllib.parse

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from up_harness import WORK_MODEL, Up, cli, config, fn_config, push, work_body

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = tmp_path_factory.mktemp("sec-gw-store") / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    return s


@pytest.fixture(scope="module")
def keyed(store, tmp_path_factory):
    """A platform with API keys, two functions (so /v1/infer routes by "model" in the body) and
    CORS open to any origin; yields (Up, a valid key)."""
    d = tmp_path_factory.mktemp("sec-gw")
    u = Up(d, config(store, [fn_config("work", model="work"), fn_config("other", model="work")],
                     gateway="  auth: {api_keys: true}\n  cors: {origins: ['*']}\n"))
    key = json.loads(cli("keys", "create", "--name", "k", "--json", "-f", u.config).stdout)["key"]
    yield u, key
    u.stop()


def hostport(u):
    p = urllib.parse.urlparse(u.url)
    return p.hostname, p.port


def raw(u, data, timeout=10):
    """Sends raw bytes; returns (everything read until the server closed or went quiet, closed)."""
    s = socket.create_connection(hostport(u), timeout=timeout)
    s.sendall(data)
    return read_all(s)


def read_all(s):
    out = b""
    closed = False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    return out, closed


def head_of(response_bytes):
    return response_bytes.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def test_unauthenticated_4mb_body_is_answered_401_without_being_read(keyed):
    u, _ = keyed
    host, port = hostport(u)
    s = socket.create_connection((host, port), timeout=10)
    # The head announces 4 MB; not one byte of it is sent. The answer must not wait for it.
    s.sendall(b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 4000000\r\n\r\n{\"model\": \"work\", \"inputs\": ")
    s.settimeout(10)
    out, closed = read_all(s)
    assert out.startswith(b"HTTP/1.1 401 "), out[:200]
    assert "Connection: close" in head_of(out)
    assert b'"code":"unauthorized"' in out
    assert closed, "the connection must be closed rather than the body drained"


def test_unauthenticated_body_streaming_is_cut_off(keyed):
    """The client keeps sending its 4 MB body: the server answers and closes; the client cannot
    push the whole body through (it would if the server read it)."""
    u, _ = keyed
    s = socket.create_connection(hostport(u), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    body = b"x" * 4_000_000
    s.sendall(b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
    sent = 0
    error = None
    try:
        while sent < len(body):
            sent += s.send(body[sent:sent + 65536])
    except (BrokenPipeError, ConnectionResetError) as e:
        error = e
    assert error is not None and sent < len(body), f"the server took {sent} bytes of body"


def test_small_unauthenticated_body_keeps_the_connection_in_sync(keyed):
    u, key = keyed
    body = json.dumps(work_body()).encode()
    refused = (b"POST /v1/models/work/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
               b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    allowed = (b"POST /v1/models/work/infer HTTP/1.1\r\nHost: x\r\nX-Api-Key: %s\r\n"
               b"Content-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
               % (key.encode(), len(body), body))
    out, _ = raw(u, refused + allowed, timeout=30)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
    assert statuses == [b"401", b"200"], out[:600]


def test_continue_is_granted_only_after_authentication(keyed):
    u, key = keyed
    head = (b"POST /v1/models/work/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: 100\r\n")
    out, closed = raw(u, head + b"\r\n")
    assert out.startswith(b"HTTP/1.1 401 "), out[:200]
    assert b"100 Continue" not in out
    assert closed
    s = socket.create_connection(hostport(u), timeout=10)
    s.sendall(head + b"X-Api-Key: " + key.encode() + b"\r\n\r\n")
    assert s.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.close()


@pytest.mark.parametrize("extra", [
    b"X-Api-Key: {key}\r\nX-Api-Key: {key}\r\n",
    b"X-Api-Key: {key}\r\nx-api-key: mfn_other\r\n",
    b"X-Api-Key: {key}\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n",
    b"X-Api-Key: {key}\r\nHost: second\r\n",
])
def test_repeated_credentials_or_host_are_refused(keyed, extra):
    u, key = keyed
    req = (b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + extra.replace(b"{key}", key.encode()) +
           b"\r\n")
    out, _ = raw(u, req)
    assert out.startswith(b"HTTP/1.1 400 "), out[:300]
    assert b'"code":"invalid_request"' in out


def test_missing_host_is_refused(keyed):
    u, key = keyed
    out, _ = raw(u, b"GET /v1/models HTTP/1.1\r\nX-Api-Key: " + key.encode() + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out[:300]
    out, _ = raw(u, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + key.encode() +
                 b"\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 "), out[:300]


def test_platform_routes_follow_the_functions_auth(keyed):
    u, key = keyed
    for path in ("/openapi.json", "/v1/models", "/v2", "/metrics", "/v1/status", "/nope"):
        r = requests.get(u.url + path, timeout=10)
        assert r.status_code == 401, (path, r.status_code)
        assert r.json()["code"] == "unauthorized"
        if path != "/nope":
            assert requests.get(u.url + path, headers={"X-Api-Key": key},
                                timeout=10).status_code == 200, path
    for path in ("/v1/health", "/v2/health/live", "/v2/health/ready", "/dashboard"):
        assert requests.get(u.url + path, timeout=10).status_code == 200, path


def test_public_routes_setting_opens_only_the_listed_routes(up, store):
    u = up(config(store, [fn_config()],
                  gateway="  auth: {api_keys: true}\n  public_routes: [/openapi.json, /v2]\n"))
    assert requests.get(u.url + "/openapi.json", timeout=10).status_code == 200
    assert requests.get(u.url + "/v2", timeout=10).status_code == 200
    assert requests.get(u.url + "/v1/models", timeout=10).status_code == 401
    assert u.post("/v1/models/work/infer", work_body()).status_code == 401
    bad = up(config(store, [fn_config()], gateway="  public_routes: [/v1/infer]\n"),
             expect_failure=True)
    assert bad.proc.returncode != 0
    assert b"gateway.public_routes" in bad.stderr


def test_request_id_is_echoed_only_when_short_visible_ascii(keyed):
    u, key = keyed
    r = requests.get(u.url + "/v1/health", headers={"X-Request-Id": "abc-123_X"}, timeout=10)
    assert r.headers["X-Request-Id"] == "abc-123_X"
    for bad in (b"with space", b"caf\xc3\xa9", b"a" * 129, b"tab\there", b"\x01ctl"):
        out, _ = raw(u, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        b"X-Request-Id: " + bad + b"\r\n\r\n")
        head = head_of(out)
        assert out.startswith(b"HTTP/1.1 200 "), out[:200]
        rid = re.search(r"\r\nX-Request-Id: ([^\r\n]*)", head).group(1)
        assert GENERATED_ID.match(rid), (bad, rid)
    # Refusals before the body (no credentials) follow the same rule.
    out, _ = raw(u, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Request-Id: a b\r\n\r\n")
    rid = re.search(r"\r\nX-Request-Id: ([^\r\n]*)", head_of(out)).group(1)
    assert out.startswith(b"HTTP/1.1 401 ") and GENERATED_ID.match(rid), out[:300]


def test_control_characters_in_an_echoed_origin_never_reach_a_header(keyed):
    u, key = keyed
    # The parser refuses CR, LF and NUL; other control octets pass it, and CORS with "*" echoes
    # the Origin: the header writer drops such a value instead of sending it.
    for origin in (b"http://a\x01b", b"http://a\x7fb", b"http://a\x0bb"):
        out, _ = raw(u, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: " +
                        origin + b"\r\n\r\n")
        head = out.split(b"\r\n\r\n", 1)[0]
        assert out.startswith(b"HTTP/1.1 200 "), out[:200]
        assert origin not in head
        assert all(b >= 0x20 and b != 0x7f for b in head.replace(b"\r\n", b"")), head
    good, _ = raw(u, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Origin: https://app.example\r\n\r\n")
    assert b"\r\nAccess-Control-Allow-Origin: https://app.example\r\n" in good
    for line in (b"GET /v1/health HTTP/1.1\r\nHost: x\r\nOrigin: http://a\rSet-Cookie: x=1\r\n\r\n",
                 b"GET /v1/health HTTP/1.1\r\nHost: x\r\nOrigin: http://a\x00b\r\n\r\n"):
        out, _ = raw(u, line)
        assert out.startswith(b"HTTP/1.1 400 "), out[:200]
        assert b"Set-Cookie" not in out.split(b"\r\n\r\n", 1)[0]


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_jwt_alg_and_token_text_are_never_echoed_into_a_header(up, store, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    n = key.public_numbers().n
    jwks = {"keys": [{"kty": "RSA", "kid": "r1", "alg": "RS256",
                      "n": base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big"))
                      .rstrip(b"=").decode(), "e": "AQAB"}]}
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    u = up(config(store, [fn_config()],
                  gateway=f"  auth: {{jwt: {{jwks: {tmp_path / 'jwks.json'}}}}}\n"))
    marker = "INJECTED-Set-Cookie"
    for alg in ('x"\r\nSet-Cookie: a=1\r\nX: "', 'none", error_uri="https://evil.example/' + marker,
                marker + "\u00e9\u2028"):
        token = b64({"alg": alg, "kid": "r1"}) + "." + b64({"sub": "a", "exp": 9999999999}) + ".c2ln"
        r = u.post("/v1/models/work/infer", work_body(), headers={"Authorization": "Bearer " + token})
        assert r.status_code == 401, r.text
        assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert "Set-Cookie" not in r.headers
        assert marker not in json.dumps(dict(r.headers))
        assert marker not in r.text and "evil.example" not in r.text


def test_a_name_that_starts_with_127_is_not_loopback(up, store):
    u = up(config(store, [fn_config()]).replace("listen: 127.0.0.1:0", "listen: 127.evil.example:0"),
           expect_failure=True)
    assert u.proc.returncode != 0
    assert b"refusing to listen on 127.evil.example with no auth" in u.stderr


def test_canary_weights_must_add_up_to_100(up, store):
    u = up(config(store, [fn_config(traffic={"work@1.0.0": 90, "work@2.0.0": 20})]),
           expect_failure=True)
    assert u.proc.returncode != 0
    assert b"functions.work.traffic: weights add up to 110, expected 100" in u.stderr


EVIL_HANDLER = '''
def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json\\r\\nSet-Cookie: ct=1",
                    "X-Split": "a\\r\\nSet-Cookie: split=1",
                    "X-Nul": "a\\u0000b",
                    "Bad Name": "v",
                    "X-Fine": "kept"},
        "body": "{}",
    }
'''


def test_headers_an_instance_returns_are_checked_like_any_other(up, store, tmp_path):
    """A function's reply is passed through the gateway: a handler (here AWS's runtime client
    running a hostile handler) cannot split the gateway's response either."""
    import sys
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(EVIL_HANDLER)
    fn = fn_config("work", command=f"[{sys.executable}, -m, awslambdaric, app.handler]",
                   env=json.dumps({"PYTHONPATH": str(code)}))
    u = up(config(store, [fn]))
    out, _ = raw(u, b"POST /v1/models/work/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", timeout=60)
    head = out.split(b"\r\n\r\n", 1)[0]
    assert out.startswith(b"HTTP/1.1 200 "), out[:300]
    assert b"Set-Cookie" not in head and b"X-Split" not in head and b"X-Nul" not in head
    assert b"Bad Name" not in head
    assert b"\r\nX-Fine: kept\r\n" in head
    assert b"\r\nContent-Type: application/octet-stream\r\n" in head


FRAMING_HANDLER = '''
def handler(event, context):
    body = event.get("body") or ""
    if "status" in body:
        return {"statusCode": 101, "headers": {"Upgrade": "h2c"}, "body": "HTTP/1.1 200 OK"}
    return {
        "statusCode": 200,
        "headers": {"Transfer-Encoding": "chunked", "Connection": "keep-alive, Upgrade",
                    "Content-Length": "1", "X-Fine": "kept"},
        "body": "{}",
    }
'''


def test_an_instance_cannot_frame_the_gateways_response(up, store, tmp_path):
    """Framing and connection fields, and the status line, are the gateway's alone: a function
    that answers Transfer-Encoding, Content-Length or a 1xx status cannot make the client read
    the rest of the connection as another response."""
    import sys
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(FRAMING_HANDLER)
    fn = fn_config("work", command=f"[{sys.executable}, -m, awslambdaric, app.handler]",
                   env=json.dumps({"PYTHONPATH": str(code)}))
    u = up(config(store, [fn]))
    out, _ = raw(u, b"POST /v1/models/work/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", timeout=60)
    head, body = out.split(b"\r\n\r\n", 1)
    assert out.startswith(b"HTTP/1.1 200 "), out[:300]
    assert b"Transfer-Encoding" not in head and b"Upgrade" not in head
    assert head.count(b"Content-Length") == 1 and b"\r\nContent-Length: 2\r\n" in head
    assert head.count(b"Connection") == 1 and b"\r\nConnection: close" in head
    assert b"\r\nX-Fine: kept\r\n" in head
    assert body == b"{}"
    out, _ = raw(u, b"POST /v1/models/work/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 8\r\n\r\n\"status\"",
                 timeout=60)
    assert out.startswith(b"HTTP/1.1 502 "), out[:300]
    assert json.loads(out.split(b"\r\n\r\n", 1)[1])["code"] == "function_error"


def test_an_unauthenticated_json_bomb_neither_ties_a_worker_nor_blocks_sigterm(up, store):
    """Routing by "model" in the body used to parse a 4 MB body before checking credentials, on
    the event loop: one request held it for minutes and SIGTERM could not stop the platform."""
    import threading
    u = up(config(store, [fn_config("work", model="work"), fn_config("other", model="work")],
                  gateway="  auth: {api_keys: true}\n  workers: 1\n"))
    keys_json = ",".join(f'"k{i}":{i}' for i in range(300_000))
    body = ('{"model":"work",' + keys_json + "}").encode()[:4_000_000]
    s = socket.create_connection(hostport(u), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)

    def send():
        try:
            s.sendall(b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
        except OSError:
            pass

    t = threading.Thread(target=send)
    t.start()
    out, closed = read_all(s)
    t.join(30)
    assert out.startswith(b"HTTP/1.1 401 "), out[:200]
    # The single event loop is free: the next request is served...
    assert requests.get(u.url + "/v1/health", timeout=10).status_code == 200
    # ...and SIGTERM stops the platform cleanly.
    assert u.stop(timeout=30) == 0

"""The gateway over TLS with client certificates (mTLS): certificates made with `cryptography`,
the client is `requests` (urllib3 + the ssl module), never our own TLS code."""
import datetime
import ipaddress
import json

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from up_harness import WORK_MODEL, cli, config, fn_config, push, work_body


def make_ca(name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca_key, ca_cert, name, server=False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1)))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def write(path, key=None, cert=None):
    data = b""
    if cert is not None:
        data += cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        data += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def pki(tmp_path):
    ca_key, ca = make_ca("modelfn test CA")
    rogue_key, rogue_ca = make_ca("someone else")
    d = tmp_path / "pki"
    d.mkdir()
    sk, sc = issue(ca_key, ca, "127.0.0.1", server=True)
    ck, cc = issue(ca_key, ca, "client-1")
    rk, rc = issue(rogue_key, rogue_ca, "client-rogue")
    return {"ca": write(d / "ca.pem", cert=ca), "server_cert": write(d / "server.pem", cert=sc),
            "server_key": write(d / "server.key", key=sk),
            "client": (write(d / "client.pem", cert=cc), write(d / "client.key", key=ck)),
            "rogue": (write(d / "rogue.pem", cert=rc), write(d / "rogue.key", key=rk))}


def test_mutual_tls_admits_only_clients_the_ca_signed(up, tmp_path, pki):
    s = tmp_path / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    gw = (f"  tls: {{cert: {pki['server_cert']}, key: {pki['server_key']}, "
          f"client_ca: {pki['ca']}}}\n")
    u = up(config(s, [fn_config()], gateway=gw))
    assert u.url.startswith("https://127.0.0.1:")
    url = u.url + "/v1/models/work/infer"
    body = json.dumps(work_body())
    h = {"Content-Type": "application/json"}
    r = requests.post(url, data=body, headers=h, cert=pki["client"], verify=pki["ca"], timeout=30)
    assert r.status_code == 200 and r.json()["outputs"]["y"] == [[1, 2, 3, 4]]
    # Keep-alive through the terminator: several requests on one connection.
    with requests.Session() as sess:
        for _ in range(5):
            assert sess.post(url, data=body, headers=h, cert=pki["client"], verify=pki["ca"],
                             timeout=30).status_code == 200
    for cert in (None, pki["rogue"]):
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(url, data=body, headers=h, cert=cert, verify=pki["ca"], timeout=30)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(url.replace("https://", "http://"), data=body, headers=h, timeout=30)
    # The server's certificate is checked by the client too: an unknown CA fails.
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(url, data=body, headers=h, cert=pki["client"], verify=True, timeout=30)
    st = json.loads(cli("status", "-f", u.config, "--json").stdout)
    assert st["functions"][0]["requests"] == 6


def test_unauthenticated_request_behind_tls_gets_its_401_before_the_body(up, tmp_path, pki):
    """The terminator relays the gateway's early refusal even though the gateway closes before
    taking the announced body."""
    import socket
    import ssl
    s = tmp_path / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    gw = (f"  tls: {{cert: {pki['server_cert']}, key: {pki['server_key']}}}\n"
          f"  auth: {{api_keys: true}}\n")
    u = up(config(s, [fn_config()], gateway=gw))
    port = int(u.url.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=pki["ca"])
    with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 4000000\r\n\r\n" + b"1" * 200_000)
            out = b""
            try:
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except (ssl.SSLError, ConnectionResetError, socket.timeout):
                pass
    assert out.startswith(b"HTTP/1.1 401 "), out[:200]
    assert b"Connection: close" in out.split(b"\r\n\r\n", 1)[0]


def test_idle_tls_connections_add_no_gateway_threads(up, tmp_path, pki):
    """TLS is served on the gateway's event loops: connections, finished handshakes or stalled
    ones, cost the gateway no threads of their own."""
    import os
    import socket
    import ssl
    s = tmp_path / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    gw = f"  tls: {{cert: {pki['server_cert']}, key: {pki['server_key']}}}\n"
    # One instance, kept: no instance start (and no thread of its own) during the count.
    u = up(config(s, [fn_config(min_instances=1, max_instances=1, idle_ttl_s=600)], gateway=gw))
    port = int(u.url.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=pki["ca"])
    body = json.dumps(work_body()).encode()

    def threads():
        return len(os.listdir(f"/proc/{u.proc.pid}/task"))

    def ask(tls):
        tls.sendall(b"POST /v1/models/work/infer HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode() + b"\r\n\r\n" + body)
        out = b""
        while b"\r\n\r\n" not in out:
            out += tls.recv(65536)
        return out

    conns = []
    try:
        # One request first, so that every thread the gateway starts on demand exists.
        first = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=15),
                                server_hostname="127.0.0.1")
        conns.append(first)
        assert ask(first).startswith(b"HTTP/1.1 200 ")
        before = threads()
        for _ in range(40):
            conns.append(ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=15),
                                         server_hostname="127.0.0.1"))
        for _ in range(10):  # handshakes that never finish
            raw = socket.create_connection(("127.0.0.1", port), timeout=15)
            raw.sendall(b"\x16\x03\x01")
            conns.append(raw)
        # Every finished handshake still answers (so all of them are open on the gateway).
        for c in conns[1:41]:
            assert ask(c).startswith(b"HTTP/1.1 200 ")
        assert threads() == before
    finally:
        for c in conns:
            c.close()

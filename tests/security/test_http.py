"""Attacks on the HTTP layer of modelfn-fn, replayed over raw sockets: blank-line and chunk floods,
duplicate credential fields, request ids that are not safe to echo."""
import re
import socket

GENERATED_ID = re.compile(r"^[0-9a-f-]{8,64}$")


def exchange(fn, data, timeout=20, piece=None):
    s = socket.create_connection(("127.0.0.1", fn.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if piece is None:
            s.sendall(data)
        else:
            for i in range(0, len(data), piece):
                s.sendall(data[i:i + piece])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before taking everything: read what it said
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out


def test_a_flood_of_blank_lines_in_small_reads_hits_the_header_limit(digits):
    # 64 KiB of CRLF pairs and then some, in 64-byte writes: before the fix every read rescanned
    # the buffer from its start and the blank lines never counted toward the limit.
    flood = b"\r\n" * (40 * 1024)
    out = exchange(digits, flood, piece=64)
    assert out.startswith(b"HTTP/1.1 431 "), out[:200]
    assert b'"code":"header_too_large"' in out
    assert digits.healthy()


def test_blank_lines_count_toward_the_header_limit(digits):
    head = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ok = exchange(digits, b"\r\n" * 4 + head)
    assert ok.startswith(b"HTTP/1.1 200 "), ok[:200]
    over = exchange(digits, b"\r\n" * (32 * 1024 - 10) + head)
    assert over.startswith(b"HTTP/1.1 431 "), over[:200]


def test_endless_chunk_extensions_hit_the_header_limit(digits):
    req = b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    req += b"1;" + b"e" * 1000 + b"\r\n{\r\n"
    req += (b"1;" + b"e" * 1000 + b"\r\n \r\n") * 100  # 100 KB of overhead for 100 body bytes
    out = exchange(digits, req)
    assert out.startswith(b"HTTP/1.1 431 "), out[:200]


def test_repeated_credential_and_host_fields_are_refused(digits):
    for extra in (b"Host: y\r\n", b"X-Api-Key: a\r\nX-Api-Key: b\r\n",
                  b"Authorization: Bearer a\r\nauthorization: Bearer b\r\n"):
        out = exchange(digits, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
        assert out.startswith(b"HTTP/1.1 400 "), (extra, out[:200])
        assert b'"code":"invalid_request"' in out


def request_id_of(out):
    head = out.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    m = re.search(r"\r\nX-Request-Id: ([^\r\n]*)", head)
    return m.group(1) if m else None


def test_request_id_is_echoed_only_when_short_visible_ascii(digits):
    body = b'{"inputs": [[' + b", ".join([b"0"] * 64) + b"]]}"

    def infer(rid):
        return exchange(digits, b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                b"Content-Type: application/json\r\nX-Request-Id: " + rid +
                        b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    good = infer(b"req-42.A_b")
    assert good.startswith(b"HTTP/1.1 200 "), good[:300]
    assert request_id_of(good) == "req-42.A_b"

    def logged(rid):
        # The log is read on another thread: wait for the line itself rather than count lines.
        return digits.wait_for(lambda l: l.get("event") == "request" and l.get("request_id") == rid)

    assert logged("req-42.A_b")
    bads = (b"with space", b"caf\xc3\xa9", b"x" * 129, b"\x01\x02", b"tab\there")
    for bad in bads:
        out = infer(bad)
        assert out.startswith(b"HTTP/1.1 200 "), (bad, out[:300])
        rid = request_id_of(out)
        assert rid is not None and rid.encode() != bad and GENERATED_ID.match(rid), (bad, rid)
        # The request log carries the generated id, one JSON object per line.
        assert logged(rid), rid
    with digits.cond:
        ids = {l.get("request_id") for l in digits.lines if l.get("event") == "request"}
    assert not ids & {b.decode("latin-1") for b in bads}, ids
    # Visible ASCII is echoed as is, and the log line stays one JSON object.
    quoted = infer(b'"}{"evil":1')
    assert request_id_of(quoted) == '"}{"evil":1'
    assert logged('"}{"evil":1')
    assert digits.healthy()

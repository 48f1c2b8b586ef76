"""The committed fuzz corpora (fuzz/corpus/) replayed against the real binaries, not only the
parsers: every raw HTTP input sent to a running modelfn-fn, whole and in small writes, gets HTTP
answers or a closed connection, and every Lambda event invoked through AWS's Runtime Interface
Emulator gets a JSON answer; afterwards the function still serves."""
import json
import re
import socket

from conftest import FN, MODELS, ROOT
from servers import LambdaRie

CORPUS = ROOT / "fuzz" / "corpus"


def inputs(target):
    files = sorted(p for p in (CORPUS / target).iterdir() if p.is_file())
    assert files, f"no corpus for {target}"
    return files


def exchange(port, data, step):
    """Sends `data` in writes of `step` bytes, then half-closes; returns all bytes read back
    until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        for i in range(0, len(data), step):
            try:
                s.sendall(data[i:i + step])
            except (BrokenPipeError, ConnectionResetError):
                break  # the server refused what came so far and closed: allowed
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                return got
            got += chunk


def statuses(answer):
    """The status codes of the final HTTP/1.1 responses that make up `answer`, each framed by its
    Content-Length; fails on anything else. An interim "100 Continue" (sent when the head of a
    request with Expect: 100-continue arrives before its body, so only sometimes) has no content
    and is not counted."""
    codes = []
    while answer:
        head, sep, rest = answer.partition(b"\r\n\r\n")
        assert sep and head.startswith(b"HTTP/1.1 "), answer[:200]
        if head == b"HTTP/1.1 100 Continue":
            answer = rest
            continue
        codes.append(int(head[9:12]))
        assert 200 <= codes[-1] <= 599, head
        length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        assert length, head
        answer = rest[int(length.group(1)):]
    return codes


def test_http_corpus_against_the_server(start_function):
    fn = start_function(MODELS / "add2")
    seen = {}
    for path in inputs("http_parser_fuzz"):
        data = path.read_bytes()
        whole = statuses(exchange(fn.port, data, len(data) or 1))
        # The same answers however the bytes arrive.
        assert statuses(exchange(fn.port, data, 7)) == whole, path.name
        assert fn.proc.poll() is None, path.name
        seen[path.name] = whole
    assert seen["get_health"] == [200]
    assert seen["pipelined"] == [200, 400, 200]  # add2 refuses {}
    assert fn.healthy()


def test_lambda_event_corpus_under_the_emulator():
    rie = LambdaRie([str(FN), "--model", str(MODELS / "add2")])
    try:
        for path in inputs("lambda_event_fuzz"):
            payload = path.read_bytes()
            if b'"Records"' in payload:
                continue  # S3 and SQS batches reach real buckets; the unit replay covers them
            r = rie.invoke(payload)
            json.loads(r.content)  # every answer, success or typed error, is JSON
        ok = rie.invoke({"inputs": {"a": [[1, 2, 3]], "b": [[4, 5, 6]]}})
        assert ok.status_code == 200 and ok.json()["outputs"]["sum"] == [[5, 7, 9]], ok.text
    finally:
        rie.stop()

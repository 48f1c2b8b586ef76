"""The replay client's own CPU per request (tests/plan_replay.py shares the host's cores with the
platform it measures): `requests.post`, as the replay first used, against `http.client` on a
kept-alive connection with the body encoded once, as it uses now. Both send the same 300 requests,
one at a time, to one warm instance of the `work` test model through `modelfn up`, in the same
invocation. Prints one line; docs/plan.md quotes it.

    .venv/bin/python bench/replay_client_cpu.py [--requests 300]
"""
import argparse
import http.client
import json
import pathlib
import sys
import tempfile
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import requests  # noqa: E402

from up_harness import WORK_MODEL, Up, config, fn_config, push, work_body  # noqa: E402


def cpu_ms_per_call(n, call):
    c0 = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - c0) * 1e3 / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    n = ap.parse_args().requests
    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        store = tmp / "models"
        push(store, WORK_MODEL, "work", "1.0.0")
        d = tmp / "p"
        d.mkdir()
        u = Up(d, config(store, [fn_config("work", min_instances=1)]))
        try:
            body = work_body(0)
            path = "/v1/models/work/infer"
            for _ in range(20):
                assert u.post(path, body).status_code == 200

            def with_requests():
                assert u.post(path, body).status_code == 200

            addr = urllib.parse.urlsplit(u.url)
            conn = http.client.HTTPConnection(addr.hostname, addr.port, timeout=60)
            data = json.dumps(body).encode()
            headers = {"Content-Type": "application/json"}

            def kept_alive():
                conn.request("POST", path, data, headers)
                r = conn.getresponse()
                r.read()
                assert r.status == 200

            old = cpu_ms_per_call(n, with_requests)
            new = cpu_ms_per_call(n, kept_alive)
            conn.close()
        finally:
            u.stop()
    print(f"client CPU per request ({n} each): requests.post {old:.3f} ms, kept-alive "
          f"http.client {new:.3f} ms, {old / new:.1f}x")


if __name__ == "__main__":
    main()

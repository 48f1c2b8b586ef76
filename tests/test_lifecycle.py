"""Process life of modelfn-fn: start-up checks, exit codes, graceful drain on SIGTERM."""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import EXAMPLES, FN, Function


def run_fn(*args, env=None, timeout=30):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([str(FN), *args], capture_output=True, timeout=timeout, env=full_env)


def test_tampered_model_refuses_to_start(tmp_path):
    d = tmp_path / "digits"
    shutil.copytree(EXAMPLES / "digits", d)
    data = bytearray((d / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (d / "model.onnx").write_bytes(bytes(data))
    p = run_fn("--model", str(d), "--port", "0")
    assert p.returncode == 1
    assert b"does not match manifest.json" in p.stderr
    line = json.loads(p.stdout.splitlines()[-1])
    assert line["event"] == "init_error" and line["code"] == "checksum_mismatch"


def test_truncated_model_refuses_to_start(tmp_path):
    d = tmp_path / "digits"
    shutil.copytree(EXAMPLES / "digits", d)
    (d / "model.onnx").write_bytes((EXAMPLES / "digits" / "model.onnx").read_bytes()[:1000])
    p = run_fn("--model", str(d), "--port", "0")
    assert p.returncode == 1
    assert json.loads(p.stdout.splitlines()[-1])["code"] == "checksum_mismatch"


def test_usage_and_missing_model():
    assert run_fn("--help").returncode == 0
    p = run_fn(env={"MODELFN_MODEL": ""})
    assert p.returncode == 2 and b"no model" in p.stderr
    assert run_fn("--model", str(EXAMPLES / "digits"), "--port", "notaport").returncode == 2
    assert run_fn("--bogus").returncode == 2
    p = run_fn("--model", "/nonexistent/model", "--port", "0")
    assert p.returncode == 1 and b"no manifest.json" in p.stderr


def test_env_configuration(start_function):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"MODELFN_MODEL": str(EXAMPLES / "breast_cancer"), "PORT": str(port), "MODELFN_WORKERS": "3"}
    proc = subprocess.Popen([str(FN), "--host", "127.0.0.1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **env})
    try:
        init = json.loads(proc.stdout.readline())
        assert init["event"] == "init" and init["port"] == port and init["workers"] == 3
        assert init["model"] == "breast-cancer"
        r = requests.get(f"http://127.0.0.1:{port}/v2/models/breast-cancer/ready", timeout=10)
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_sigterm_finishes_requests_in_flight(start_function):
    fn = start_function(EXAMPLES / "digits")
    body = json.dumps({"inputs": [[0.5] * 64] * 50}).encode()
    half = len(body) // 2
    # Several requests whose bodies are only half sent when SIGTERM arrives.
    partial = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", fn.port), timeout=10)
        s.sendall(b"POST /v1/infer HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " +
                  str(len(body)).encode() + b"\r\n\r\n" + body[:half])
        partial.append(s)
    # An idle keep-alive connection, which should simply be closed.
    idle = socket.create_connection(("127.0.0.1", fn.port), timeout=10)
    idle.sendall(b"GET /v1/health HTTP/1.1\r\n\r\n")
    assert idle.recv(65536).startswith(b"HTTP/1.1 200")
    # Clients hammering with complete requests while the drain starts.
    stop = threading.Event()
    outcomes = []

    def hammer():
        sess = requests.Session()
        while not stop.is_set():
            try:
                r = sess.post(fn.url + "/v1/infer", data=body, headers={"Content-Type": "application/json"}, timeout=10)
                outcomes.append(r.status_code)
            except requests.ConnectionError:
                outcomes.append("refused")
                time.sleep(0.01)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    fn.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert fn.proc.poll() is None  # still draining: requests are in flight
    assert idle.recv(1) == b""     # idle connection closed by the drain
    for s in partial:
        s.sendall(body[half:])
    replies = []
    for s in partial:
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        replies.append(data)
        s.close()
    stop.set()
    for t in threads:
        t.join()
    assert fn.proc.wait(15) == 0
    for data in replies:
        assert data.startswith(b"HTTP/1.1 200 OK"), data[:200]
        assert b"Connection: close" in data
        assert data.count(b'"label":[') == 1
    # Every request the hammer got an answer for was answered correctly; none got a 5xx.
    assert outcomes and all(o == 200 or o == "refused" for o in outcomes), set(outcomes)
    assert outcomes.count(200) > 0
    assert fn.wait_for(lambda l: l.get("event") == "shutdown", 5) is not None


def make_cpu_cgroup(name, quota_us, period_us=100000):
    """A cgroup v1 cpu group (or v2 cpu.max) with the given quota; None if this machine has none
    we may create."""
    v1 = "/sys/fs/cgroup/cpu"
    v2 = "/sys/fs/cgroup"
    try:
        if os.path.exists(os.path.join(v1, "cpu.cfs_period_us")):
            path = os.path.join(v1, name)
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
                f.write(str(period_us))
            with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(quota_us))
            return path
        if os.path.exists(os.path.join(v2, "cgroup.controllers")):
            path = os.path.join(v2, name)
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "cpu.max"), "w") as f:
                f.write(f"{quota_us} {period_us}")
            return path
    except OSError:
        return None
    return None


@pytest.mark.parametrize("quota_us,workers", [(50000, 1), (100000, 1), (150000, 2)])
def test_workers_follow_the_cgroup_cpu_quota(quota_us, workers):
    path = make_cpu_cgroup(f"modelfn-test-{os.getpid()}-{quota_us}", quota_us)
    if path is None:
        pytest.skip("this machine lets the tests create no cpu cgroup")

    def enter():
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    proc = subprocess.Popen([str(FN), "--model", str(EXAMPLES / "digits"), "--port", "0", "--host", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=enter)
    try:
        init = json.loads(proc.stdout.readline())
        assert init["event"] == "init"
        assert init["cpu_quota"] == pytest.approx(quota_us / 100000)
        assert init["workers"] == min(workers, os.cpu_count())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        os.rmdir(path)

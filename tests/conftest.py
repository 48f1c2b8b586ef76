"""Black-box test fixtures: start the real modelfn-fn on a free loopback port and talk to it."""
import json
import os
import pathlib
import signal
import subprocess
import threading
import time

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # no ONNX Runtime telemetry from the reference checks
import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("MODELFN_BUILD_DIR", ROOT / "build"))
FN = BUILD / "modelfn-fn"
CLI = BUILD / "modelfn"
EXAMPLES = ROOT / "examples"
MODELS = ROOT / "tests" / "models"


class LogLines:
    """JSON log lines of a child process: a thread drains its stdout, so a chatty child never
    blocks on a full pipe, and wait_for() finds a line."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"event": "unparsed", "raw": raw.decode(errors="replace")}
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_for(self, pred, timeout=10):
        """The first log line matching pred, waiting up to timeout seconds; None if none came."""
        deadline = time.monotonic() + timeout
        with self.cond:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if pred(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    return None
                self.cond.wait(min(left, 0.2))

    def terminate(self, timeout=15):
        """SIGTERM, then SIGKILL after `timeout` s; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.proc.returncode


class Function(LogLines):
    """A running modelfn-fn process."""

    def __init__(self, model_dir, env=None, args=(), port=0):
        full_env = dict(os.environ)
        full_env.update(env or {})
        super().__init__(subprocess.Popen([str(FN), "--model", str(model_dir), "--port", str(port),
                                           "--host", "127.0.0.1", *args], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=full_env))
        self.init = self.wait_for(lambda l: l.get("event") in ("init", "init_error"), 30)
        if self.init is None or self.init["event"] != "init":
            self.proc.kill()
            raise RuntimeError(f"modelfn-fn did not start: {self.lines} "
                               f"{self.proc.stderr.read().decode()}")
        self.port = self.init["port"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.session = requests.Session()

    def requests_logged(self, count, timeout=10):
        """Waits until `count` request log lines exist and returns them all."""
        self.wait_for(lambda _: sum(1 for l in self.lines if l.get("event") == "request") >= count,
                      timeout)
        with self.cond:
            return [l for l in self.lines if l.get("event") == "request"]

    def post(self, path, payload=None, **kw):
        if payload is not None:
            kw["data"] = json.dumps(payload)
            kw.setdefault("headers", {})["Content-Type"] = "application/json"
        return self.session.post(self.url + path, timeout=30, **kw)

    def get(self, path, **kw):
        return self.session.get(self.url + path, timeout=30, **kw)

    def healthy(self):
        r = self.get("/v1/health")
        return r.status_code == 200 and r.json()["ready"] is True



@pytest.fixture
def start_function():
    started = []

    def start(model_dir, env=None, args=()):
        f = Function(model_dir, env, args)
        started.append(f)
        return f

    yield start
    for f in started:
        f.terminate()


@pytest.fixture(scope="module")
def digits():
    f = Function(EXAMPLES / "digits")
    yield f
    f.terminate()


@pytest.fixture(scope="module")
def cancer():
    f = Function(EXAMPLES / "breast_cancer")
    yield f
    f.terminate()


@pytest.fixture
def up(tmp_path):
    """Starts `modelfn up` with a given modelfn.yaml text (see up_harness.py), each in its own
    folder; stops them all after the test."""
    from up_harness import Up
    started = []

    def start(text, env=None, expect_failure=False):
        d = tmp_path / f"p{len(started)}"
        d.mkdir()
        u = Up(d, text, env, expect_failure)
        started.append(u)
        return u

    yield start
    for u in started:
        u.stop()

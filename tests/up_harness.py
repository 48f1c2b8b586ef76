"""Harness for `modelfn up`: a store folder with pushed models, a modelfn.yaml, the running
platform and helpers to watch its instances through /v1/status."""
import json
import os
import pathlib
import shutil
import subprocess
import time

import requests

from conftest import CLI, EXAMPLES, MODELS, LogLines

WORK_MODEL = MODELS / "work"


def cli(*args, cwd=None, check=True, env=None):
    full = dict(os.environ)
    full.update(env or {})
    r = subprocess.run([str(CLI), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                       timeout=120, env=full)
    if check and r.returncode != 0:
        raise AssertionError(f"modelfn {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def push(store, src, name, version, promote=True):
    """Pushes a model folder (manifest written for `name@version` in a copy) and promotes it."""
    src = pathlib.Path(src)
    tmp = pathlib.Path(store).parent / f".push-{name}-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy(src / "model.onnx", tmp / "model.onnx")
    cli("manifest", tmp / "model.onnx", "--name", name, "--version", version)
    cli("push", tmp, "--name", name, "--version", version, "--store", store)
    if promote:
        cli("promote", name, version, "--store", store)
    shutil.rmtree(tmp)


def work_body(loops=0, alloc=(1, 1), rows=1):
    return {"inputs": {"x": [[1.0, 2.0, 3.0, 4.0]] * rows, "loops": [loops], "alloc": list(alloc)}}


class Up(LogLines):
    """A running `modelfn up -f <dir>/modelfn.yaml` listening on a free loopback port."""

    def __init__(self, directory, config_text, env=None, expect_failure=False):
        self.dir = pathlib.Path(directory)
        self.config = self.dir / "modelfn.yaml"
        self.config.write_text(config_text)
        full = dict(os.environ)
        full.update(env or {})
        super().__init__(subprocess.Popen([str(CLI), "up", "-f", str(self.config)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full))
        self.stderr = b""
        if expect_failure:
            self.proc.wait(60)
            self.stderr = self.proc.stderr.read()
            return
        up = self.wait_for(lambda l: l.get("event") == "up", 60)
        if up is None:
            self.proc.kill()
            raise RuntimeError(f"modelfn up did not start: {self.proc.stderr.read().decode()}")
        self.url = up["url"]
        self.session = requests.Session()

    def post(self, path, payload=None, session=None, **kw):
        if payload is not None:
            kw["data"] = json.dumps(payload)
            kw.setdefault("headers", {})["Content-Type"] = "application/json"
        return (session or requests).post(self.url + path, timeout=60, **kw)

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=30, **kw)

    def status(self, headers=None):
        r = self.get("/v1/status", headers=headers or {})
        assert r.status_code == 200, r.text
        return r.json()

    def function(self, name, headers=None):
        for f in self.status(headers)["functions"]:
            if f["name"] == name:
                return f
        raise KeyError(name)

    def instances(self, name):
        """Live instance records of a function (all versions), stopping ones excluded."""
        out = []
        for v in self.function(name)["versions"]:
            out += [i for i in v["instance_list"] if i["state"] != "stopping"]
        return out

    def wait_until(self, pred, timeout=20, interval=0.05):
        """Polls pred() until it is truthy; returns its value or raises after `timeout` s."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = pred()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout} s (last: {last})")

    def stop(self, timeout=30):
        return self.terminate(timeout)


def fn_config(name="work", model=None, **settings):
    lines = [f"  {name}:"]
    lines.append(f"    model: {model or name}")
    for k, v in settings.items():
        lines.append(f"    {k}: {json.dumps(v) if not isinstance(v, str) else v}")
    return "\n".join(lines) + "\n"


def config(store, functions, gateway="", extra=""):
    return (f"store: {store}\nfunctions:\n" + "".join(functions) +
            "gateway:\n  listen: 127.0.0.1:0\n" + gateway + extra)

"""`modelfn up` for the platform's bench scripts (burst_bench.py, soak.py): a model pushed to a
file store, and one platform with one function on a free port, until stop()."""
import http.client
import json
import os
import pathlib
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("MODELFN_BUILD_DIR", ROOT / "build"))
CLI = BUILD / "modelfn"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def push(model, name, store, version="1.0.0"):
    """Pushes the model folder as name@version and promotes it. A folder without manifest.json
    gets one written first (`modelfn manifest`)."""
    if not (model / "manifest.json").exists():
        subprocess.run([str(CLI), "manifest", str(model / "model.onnx"), "--name", name,
                        "--version", version], check=True, capture_output=True)
    for cmd in (["push", str(model), "--name", name, "--version", version, "--store", str(store)],
                ["promote", name, version, "--store", str(store)]):
        subprocess.run([str(CLI)] + cmd, check=True, capture_output=True)


class Up:
    """`modelfn up` serving one function `name` from `store` with `settings` (its modelfn.yaml
    keys), on a free port; the config and up.log live in `workdir`. Returns once /v1/status
    answers."""

    def __init__(self, workdir, store, name, settings):
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        lines = [f"store: file://{store}", "functions:", f"  {name}:", f"    model: {name}"]
        lines += [f"    {k}: {v}" for k, v in settings.items()]
        lines += ["gateway:", f"  listen: 127.0.0.1:{self.port}"]
        config = workdir / "modelfn.yaml"
        config.write_text("\n".join(lines) + "\n")
        self.log = open(workdir / "up.log", "wb")
        self.proc = subprocess.Popen([str(CLI), "up", "-f", str(config)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.status()
                return
            except (OSError, ValueError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"modelfn up did not start; see {workdir / 'up.log'}")
                time.sleep(0.05)

    def status(self):
        """The function's entry of GET /v1/status."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", "/v1/status")
            return json.loads(c.getresponse().read())["functions"][0]
        finally:
            c.close()

    def instances(self):
        """Every instance not stopping, across versions."""
        return [i for v in self.status()["versions"] for i in v["instance_list"]
                if i["state"] != "stopping"]

    def ready_instances(self):
        return sum(1 for i in self.instances() if i["state"] == "idle")

    def live_instances(self):
        return len(self.instances())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()

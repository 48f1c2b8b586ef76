"""`modelfn package --target azure-functions`: the function app zip unpacked as zip deploy does
and its handler started the way its host.json tells the Functions host to (the executable and
arguments read from it, run from the app root, FUNCTIONS_CUSTOMHANDLER_PORT set), then sent
forwarded HTTP and an invocation payload. The Functions host itself is not available here."""
import json
import os
import subprocess
import zipfile

import requests

from conftest import CLI, EXAMPLES
from servers import free_ports, wait_port

DIGITS_INFER = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())


def unpack(zip_path, dest):
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            z.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(dest / info.filename, mode)


def test_the_app_runs_as_its_host_json_says(tmp_path):
    out = tmp_path / "app.zip"
    p = subprocess.run([str(CLI), "package", "--target", "azure-functions", "--model", str(EXAMPLES / "digits"),
                        "--out", str(out), "--container", "uploads", "--queue", "digits", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["functions"] == ["infer", "BlobInfer", "QueueInfer"]
    app = tmp_path / "app"
    unpack(out, app)

    host = json.loads((app / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert host["customHandler"]["enableForwardingHttpRequest"] is True
    blob = json.loads((app / "BlobInfer" / "function.json").read_text())["bindings"]
    assert [(b["type"], b["direction"]) for b in blob] == [("blobTrigger", "in")]
    assert blob[0]["path"] == "uploads/incoming/{name}"
    queue = json.loads((app / "QueueInfer" / "function.json").read_text())["bindings"]
    assert [(b["type"], b["name"], b["queueName"]) for b in queue] == \
        [("queueTrigger", "request", "digits"), ("queue", "$return", "digits-results")]
    assert (app / "model" / "manifest.json").exists()

    description = host["customHandler"]["description"]
    (port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K_", "AWS_LAMBDA"))}
    env["FUNCTIONS_CUSTOMHANDLER_PORT"] = str(port)
    proc = subprocess.Popen([str(app / description["defaultExecutablePath"]), *description["arguments"]],
                            cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_port(port, 60, proc)
        base = f"http://127.0.0.1:{port}"
        r = requests.post(f"{base}/api/infer", json=DIGITS_INFER, timeout=30)
        assert r.status_code == 200, r.text
        assert len(r.json()["outputs"]["label"]) == len(DIGITS_INFER["inputs"])
        payload = {"Data": {"request": json.dumps(DIGITS_INFER)}, "Metadata": {"Id": "q-1", "DequeueCount": 1}}
        r = requests.post(f"{base}/QueueInfer", json=payload, timeout=30)
        assert r.status_code == 200, r.text
        assert "outputs" in json.loads(r.json()["ReturnValue"])
    finally:
        proc.terminate()
        proc.wait(15)
    init = json.loads(proc.stdout.readline())
    assert (init["event"], init["face"]) == ("init", "azure")

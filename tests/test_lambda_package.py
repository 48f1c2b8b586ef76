"""The Lambda zip from `modelfn package`, unpacked into an otherwise empty root and run under AWS's
Runtime Interface Emulator inside a chroot: nothing from the host can be on its library path."""
import base64
import json
import os
import shutil
import signal
import subprocess
import zipfile

import pytest
import requests

from conftest import CLI, EXAMPLES
from servers import TOOLS, free_ports, wait_port, write_big_onnx

IMAGE_LIBS = {"lib/libjpeg.so.62", "lib/libpng16.so.16", "lib/libwebp.so.7"}


def package(model_dir, out, check=True):
    p = subprocess.run([str(CLI), "package", "--target", "aws-lambda-zip", "--model", str(model_dir), "--out", str(out),
                        "--json"], capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
    return p


class ChrootLambda:
    """An empty root holding only the unpacked package at /var/task and a static aws-lambda-rie,
    with /proc, /dev/null and /dev/urandom: as close to an empty provided.al2023 as this machine
    gets without a container engine."""

    def __init__(self, zip_path, root):
        self.root = root
        task = root / "var" / "task"
        task.mkdir(parents=True)
        for d in ("tmp", "proc", "dev"):
            (root / d).mkdir()
        (root / "dev" / "null").touch()
        (root / "dev" / "urandom").touch()
        with zipfile.ZipFile(zip_path) as z:
            for info in z.infolist():
                z.extract(info, task)
                os.chmod(task / info.filename, (info.external_attr >> 16) & 0o777)
        shutil.copy(TOOLS / "bin" / "aws-lambda-rie", root / "aws-lambda-rie")
        self.port, api = free_ports(2)
        script = (f"mount -t proc proc {root}/proc && mount --bind /dev/null {root}/dev/null && "
                  f"mount --bind /dev/urandom {root}/dev/urandom && exec chroot {root} /aws-lambda-rie "
                  f"--runtime-interface-emulator-address 127.0.0.1:{self.port} "
                  f"--runtime-api-address 127.0.0.1:{api} /var/task/bootstrap")
        self.log = open(root.parent / "rie.log", "wb")
        self.proc = subprocess.Popen(["unshare", "--mount", "--fork", "sh", "-c", script],
                                     env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LAMBDA_TASK_ROOT": "/var/task",
                                          "TMPDIR": "/tmp"},
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, 30, self.proc)

    def invoke(self, payload):
        return requests.post(f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
                             data=json.dumps(payload), timeout=60)

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def digits_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("zip") / "function.zip"
    report = json.loads(package(EXAMPLES / "digits", out).stdout)
    return out, report


def test_package_contents_and_sizes(digits_zip):
    path, report = digits_zip
    assert report["zipped_bytes"] == path.stat().st_size <= report["zip_limit"] == 50 * 1024 * 1024
    assert report["unzipped_bytes"] <= report["unzipped_limit"] == 250 * 1024 * 1024
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert {"bootstrap", "bin/modelfn-fn", "lib/ld-linux-x86-64.so.2", "lib/libc.so.6",
                "lib/libonnxruntime.so.1", "model/manifest.json", "model/model.onnx"} <= names
        assert IMAGE_LIBS <= names  # modelfn-fn decodes a pipeline's image inputs
        assert (z.getinfo("bootstrap").external_attr >> 16) & 0o777 == 0o755
        boot = z.read("bootstrap")
        assert boot[:4] == b"\x7fELF" and b"#!" not in boot[:2]  # a program, not a shell script
    manifest = json.loads((EXAMPLES / "digits" / "manifest.json").read_text())
    with zipfile.ZipFile(path) as z:
        import hashlib
        assert hashlib.sha256(z.read("model/model.onnx")).hexdigest() == manifest["files"][0]["sha256"]


def test_zip_runs_in_an_empty_root_under_rie(digits_zip, tmp_path):
    fn = ChrootLambda(digits_zip[0], tmp_path / "root")
    try:
        body = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())
        expected = json.loads((EXAMPLES / "digits" / "expected.json").read_text())
        r = fn.invoke(body)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"]["label"] == expected["label"]
        event = {"version": "2.0", "rawPath": "/v1/infer", "rawQueryString": "",
                 "headers": {"content-type": "application/json"},
                 "requestContext": {"http": {"method": "POST", "path": "/v1/infer"}},
                 "body": base64.b64encode(json.dumps(body).encode()).decode(), "isBase64Encoded": True}
        resp = fn.invoke(event).json()
        assert resp["statusCode"] == 200 and json.loads(resp["body"])["outputs"]["label"] == expected["label"]
        err = fn.invoke({"inputs": [[1]]}).json()
        assert err["errorType"] == "shape_mismatch"
        # The root holds nothing but the package and the emulator: every library came from lib/.
        top = sorted(p.name for p in (tmp_path / "root").iterdir())
        assert top == ["aws-lambda-rie", "dev", "proc", "tmp", "var"]
    finally:
        fn.stop()


def check_serves_images(fn):
    """A packaged colors model (test_pipeline_image.py) answers images sent directly and through
    an API Gateway event with a raw image body: the bundled image libraries load and decode."""
    from test_pipeline_image import LABELS, b64, picture
    for fmt, k in (("JPEG", 0), ("PNG", 1), ("WEBP", 2)):
        r = fn.invoke({"inputs": b64(picture(fmt, k)), "outputs": ["logits"]})
        assert r.status_code == 200, r.text
        assert r.json()["outputs"]["logits"]["label"] == LABELS[k], r.text
    event = {"version": "2.0", "rawPath": "/v1/infer", "rawQueryString": "",
             "headers": {"content-type": "image/png"},
             "requestContext": {"http": {"method": "POST", "path": "/v1/infer"}},
             "body": b64(picture("PNG", 2)), "isBase64Encoded": True}
    resp = fn.invoke(event).json()
    assert resp["statusCode"] == 200, resp
    assert json.loads(resp["body"])["outputs"]["logits"]["label"] == "blue"
    bad = fn.invoke({"inputs": b64(b"GIF89a......")}).json()
    assert bad["errorType"] == "image_unsupported"


def test_zip_serves_images_in_an_empty_root(tmp_path):
    from test_pipeline_image import make_version
    out = tmp_path / "f.zip"
    package(make_version(tmp_path), out)
    fn = ChrootLambda(out, tmp_path / "root")
    try:
        check_serves_images(fn)
    finally:
        fn.stop()


def test_package_over_the_limit_fails_clearly(tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    write_big_onnx(big / "model.onnx", 15 * 1024 * 1024, incompressible=True)  # 60 MB of noise
    m = subprocess.run([str(CLI), "manifest", str(big / "model.onnx"), "--name", "big", "--version", "1"],
                       capture_output=True, text=True, timeout=120)
    assert m.returncode == 0, m.stderr
    p = package(big, tmp_path / "f.zip", check=False)
    assert p.returncode == 1 and "52428800 zipped" in p.stderr and "--model s3://" in p.stderr
    assert not (tmp_path / "f.zip").exists()


def test_tampered_model_is_not_packaged(tmp_path):
    d = tmp_path / "digits"
    shutil.copytree(EXAMPLES / "digits", d)
    (d / "model.onnx").write_bytes((d / "model.onnx").read_bytes()[:-10])
    p = package(d, tmp_path / "f.zip", check=False)
    assert p.returncode == 1 and "does not match manifest.json" in p.stderr


def test_image_is_a_valid_oci_image_that_runs(tmp_path):
    out = tmp_path / "img"
    p = subprocess.run([str(CLI), "package", "--target", "aws-lambda-image", "--model", str(EXAMPLES / "digits"),
                        "--out", str(out), "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["image_bytes"] < 50 * 1024 * 1024
    context = out / "context"
    assert "FROM public.ecr.aws/lambda/provided:al2023" in (context / "Dockerfile").read_text()
    assert "FROM scratch" in (context / "Dockerfile.scratch").read_text()
    assert (context / "bootstrap").stat().st_mode & 0o111
    # Third-party OCI tools read it: skopeo inspects the archive, umoci unpacks the layout.
    inspect = json.loads(subprocess.run(["skopeo", "inspect", f"oci-archive:{report['image']}"], capture_output=True,
                                        text=True, timeout=120, check=True).stdout)
    assert inspect["Digest"] == report["manifest_digest"] and inspect["Architecture"] == "amd64"
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{out / 'oci'}:latest", str(bundle)], capture_output=True,
                   text=True, timeout=120, check=True)
    rootfs = bundle / "rootfs"
    assert (rootfs / "var" / "task" / "bootstrap").stat().st_mode & 0o111
    # The unpacked image's filesystem, and nothing else, runs the function under the emulator.
    for d in ("tmp", "proc", "dev"):
        (rootfs / d).mkdir(exist_ok=True)
    (rootfs / "dev" / "null").touch()
    (rootfs / "dev" / "urandom").touch()
    shutil.copy(TOOLS / "bin" / "aws-lambda-rie", rootfs / "aws-lambda-rie")
    port, api = free_ports(2)
    script = (f"mount -t proc proc {rootfs}/proc && mount --bind /dev/null {rootfs}/dev/null && "
              f"mount --bind /dev/urandom {rootfs}/dev/urandom && exec chroot {rootfs} /aws-lambda-rie "
              f"--runtime-interface-emulator-address 127.0.0.1:{port} --runtime-api-address 127.0.0.1:{api} "
              "/var/task/bootstrap")
    proc = subprocess.Popen(["unshare", "--mount", "--fork", "sh", "-c", script],
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LAMBDA_TASK_ROOT": "/var/task"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, 30, proc)
        body = json.loads((EXAMPLES / "digits" / "requests" / "infer_named.json").read_text())
        r = requests.post(f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations", data=json.dumps(body),
                          timeout=60)
        assert r.json()["outputs"]["label"] == [2]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

"""`modelfn package --arch arm64`: the cross-built function (scripts/build.sh --arch arm64) in a
self-contained arm64 zip, run in an otherwise empty root under AWS's Runtime Interface Emulator,
the arm64 code emulated by qemu-user through binfmt_misc (registered here when missing)."""
import json
import os
import pathlib
import subprocess
import zipfile

import pytest

from conftest import BUILD, CLI, EXAMPLES, ROOT
from test_lambda_package import IMAGE_LIBS, ChrootLambda, check_serves_images

ARM64 = ROOT / "build" / "arm64"  # cross-built by scripts/build.sh --arch arm64
BINFMT = pathlib.Path("/proc/sys/fs/binfmt_misc")
QEMU_CONF = pathlib.Path("/usr/lib/binfmt.d/qemu-aarch64.conf")
EM_AARCH64 = 183


def elf_machine(data):
    assert data[:4] == b"\x7fELF", "not an ELF file"
    return int.from_bytes(data[18:20], "little")


def ensure_binfmt():
    """Registers qemu-user-static for aarch64 ELF files (flags OPF: the interpreter is opened now,
    so it also works inside the chroot)."""
    if not (BINFMT / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    if not (BINFMT / "qemu-aarch64").exists():
        (BINFMT / "register").write_text(QEMU_CONF.read_text().strip())
    assert (BINFMT / "qemu-aarch64").read_text().startswith("enabled")


def package_arm64(model_dir, out):
    assert (ARM64 / "modelfn-fn").exists(), "scripts/build.sh --arch arm64 builds build/arm64/"
    p = subprocess.run([str(CLI), "package", "--target", "aws-lambda-zip", "--arch", "arm64",
                        "--runtime", str(ARM64 / "modelfn-fn"), "--bootstrap",
                        str(ARM64 / "modelfn-bootstrap"), "--model", str(model_dir),
                        "--out", str(out), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return out, json.loads(p.stdout)


@pytest.fixture(scope="module")
def arm64_zip(tmp_path_factory):
    return package_arm64(EXAMPLES / "digits", tmp_path_factory.mktemp("arm64") / "function.zip")


def test_arm64_zip_holds_only_arm64_code(arm64_zip):
    path, report = arm64_zip
    assert report["zipped_bytes"] <= 50 * 1024 * 1024
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert {"bootstrap", "bin/modelfn-fn", "lib/ld-linux-aarch64.so.1", "lib/libc.so.6",
                "lib/libonnxruntime.so.1", "lib/libcurl.so.4", "model/model.onnx"} <= names
        assert IMAGE_LIBS <= names
        assert not any("x86-64" in n for n in names)
        elves = [n for n in names if n.startswith(("lib/", "bin/")) or n == "bootstrap"]
        for n in elves:
            assert elf_machine(z.read(n)[:64]) == EM_AARCH64, n
        boot = z.read("bootstrap")
        assert b"ld-linux-aarch64.so.1" in boot  # the static launcher names the arm64 loader


def test_arm64_package_refuses_binaries_of_another_arch(tmp_path):
    p = subprocess.run([str(CLI), "package", "--target", "aws-lambda-zip", "--arch", "arm64",
                        "--runtime", str(BUILD / "modelfn-fn"), "--model", str(EXAMPLES / "digits"),
                        "--out", str(tmp_path / "f.zip")], capture_output=True, text=True)
    assert p.returncode == 1
    assert "is built for x86_64, not arm64" in p.stderr
    assert not (tmp_path / "f.zip").exists()


def test_arm64_zip_runs_under_rie_in_an_empty_root(arm64_zip, tmp_path):
    ensure_binfmt()
    fn = ChrootLambda(arm64_zip[0], tmp_path / "root")
    try:
        body = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())
        expected = json.loads((EXAMPLES / "digits" / "expected.json").read_text())
        r = fn.invoke(body)
        assert r.status_code == 200, r.text + (tmp_path / "rie.log").read_text()[-3000:]
        assert r.json()["outputs"]["label"] == expected["label"]
        err = fn.invoke({"inputs": [[1]]}).json()
        assert err["errorType"] == "shape_mismatch"
        top = sorted(p.name for p in (tmp_path / "root").iterdir())
        assert top == ["aws-lambda-rie", "dev", "proc", "tmp", "var"]
        log = (tmp_path / "rie.log").read_text()
        assert '"event":"init"' in log
    finally:
        fn.stop()


def test_arm64_zip_serves_images_under_rie(tmp_path):
    from test_pipeline_image import make_version
    ensure_binfmt()
    out, _ = package_arm64(make_version(tmp_path), tmp_path / "f.zip")
    fn = ChrootLambda(out, tmp_path / "root")
    try:
        check_serves_images(fn)
    finally:
        fn.stop()


def test_arm64_image_is_an_arm64_oci_image(tmp_path):
    out = tmp_path / "img"
    p = subprocess.run([str(CLI), "package", "--target", "aws-lambda-image", "--arch", "arm64",
                        "--runtime", str(ARM64 / "modelfn-fn"), "--bootstrap",
                        str(ARM64 / "modelfn-bootstrap"), "--model", str(EXAMPLES / "digits"),
                        "--out", str(out), "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    info = json.loads(subprocess.run(["skopeo", "inspect", f"oci-archive:{out / 'image.tar'}"],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["Architecture"] == "arm64" and info["Os"] == "linux"

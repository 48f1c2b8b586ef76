"""Attacks through a local (file://) model store: whoever can write to the store's folder is a
pusher, and may read no file outside it. Each test replays the store an attacker would leave and
asserts the safe outcome against the real modelfn-fn."""
import hashlib
import json
import os
import shutil
import struct
import subprocess

import pytest

from conftest import CLI, FN, MODELS

SECRET = struct.pack("<12f", *[1000 + i for i in range(12)])  # as many bytes as extdata's W


def cli(*args):
    p = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p


def poisoned_store(tmp_path, place):
    """Pushes tests/models/extdata as x@1, then lets `place(path)` put something else where its
    weights.bin was, and rewrites manifest.json and current.json to match the secret's bytes, as a
    pusher who learnt its sha256 would."""
    src = tmp_path / "src"
    shutil.copytree(MODELS / "extdata", src)
    (src / "manifest.json").unlink()
    cli("manifest", src / "model.onnx", "--name", "x", "--version", "1")
    store = tmp_path / "store"
    cli("push", src, "--name", "x", "--version", "1", "--store", store)
    cli("promote", "x", "1", "--store", store)
    version = store / "x" / "versions" / "1"
    (version / "weights.bin").unlink()
    place(version / "weights.bin")
    manifest = json.loads((version / "manifest.json").read_text())
    for f in manifest["files"]:
        if f["path"] == "weights.bin":
            f["sha256"], f["size"] = hashlib.sha256(SECRET).hexdigest(), len(SECRET)
    data = json.dumps(manifest).encode()
    (version / "manifest.json").write_bytes(data)
    pointer = json.loads((store / "x" / "current.json").read_text())
    pointer["sha256"] = hashlib.sha256(data).hexdigest()
    (store / "x" / "current.json").write_text(json.dumps(pointer))
    return store


def start(tmp_path, store):
    env = dict(os.environ, MODELFN_CACHE_DIR=str(tmp_path / "cache"))
    p = subprocess.run([str(FN), "--model", f"file://{store}/x", "--port", "0", "--host",
                        "127.0.0.1"], capture_output=True, text=True, timeout=30, env=env)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return p, lines


def link_out(tmp_path):
    def place(path):
        secret = tmp_path / "secret.bin"
        secret.write_bytes(SECRET)
        os.symlink(secret, path)
    return place


def dir_link_out(tmp_path):
    def place(path):
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "weights.bin").write_bytes(SECRET)
        version = path.parent
        # The whole version folder becomes a link out of the store.
        moved = version.parent / "moved"
        version.rename(moved)
        for f in moved.iterdir():
            shutil.copy(f, outside / f.name)
        shutil.rmtree(moved)
        os.symlink(outside, version)
    return place


def fifo(tmp_path):
    def place(path):
        os.mkfifo(path)
    return place


@pytest.mark.parametrize("how", [link_out, dir_link_out, fifo])
def test_a_store_object_that_is_not_a_file_inside_the_store_is_refused(tmp_path, how):
    # Before the fix the symlinked weights were copied into the cache, verified against the
    # pusher's manifest and loaded: the model served the bytes of a file outside the store (any
    # file the process could read) as its outputs; a FIFO hung the instance's start for ever.
    store = poisoned_store(tmp_path, how(tmp_path))
    if how is dir_link_out:
        (tmp_path / "outside" / "manifest.json").write_bytes(
            (store / "x" / "versions" / "1" / "manifest.json").read_bytes())
    p, lines = start(tmp_path, store)
    assert p.returncode != 0, p.stdout
    errors = [l for l in lines if l.get("event") == "init_error"]
    assert errors and errors[0]["code"] == "unsafe_store_object", p.stdout + p.stderr
    assert not any(l.get("event") == "init" for l in lines)

"""What a new user trips on at the command line: every binary says its version (and the build it
came from), errors are JSON under --json, and the status's percentiles are latencies that were
seen (never above the slowest request)."""
import json
import subprocess
import time

import pytest

from conftest import BUILD, CLI, FN, ROOT
from up_harness import WORK_MODEL, config, fn_config, push, work_body


def run(*args, env=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60,
                          env=env)


@pytest.mark.parametrize("binary", ["modelfn", "modelfn-fn", "modelfn-image-prep",
                                    "modelfn-tokenize"])
def test_every_binary_says_its_version_and_build(binary):
    path = BUILD / binary
    if not path.exists():
        pytest.fail(f"{path} was not built")
    text = run(path, "--version")
    assert text.returncode == 0, text.stderr
    doc = json.loads(run(path, "--version", "--json").stdout)
    assert doc["binary"] == binary and doc["version"] == "0.1.0"
    assert text.stdout.startswith(f"{binary} {doc['version']} (git {doc['git_revision']}, "
                                  f"{doc['build_type']}")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode == 0:  # built from this tree: the revision is its HEAD (dirty or not)
        assert doc["git_revision"].removesuffix("-dirty") == head.stdout.strip()
    if binary in ("modelfn", "modelfn-fn"):  # the two that embed ONNX Runtime name its version
        assert doc["onnxruntime"].count(".") == 2 and "ONNX Runtime" in text.stdout


def test_errors_are_json_under_json(tmp_path):
    store = tmp_path / "models"
    cases = [
        (["show", "nope", "--store", store, "--json"], 1, "not_found"),
        (["push", tmp_path / "missing", "--name", "a", "--version", "1", "--store", store,
          "--json"], 1, "not_found"),
        (["list", "--bogus", "--json"], 2, "usage_error"),
        (["status", "-f", tmp_path / "none.yaml", "--json"], 1, None),
    ]
    for args, rc, code in cases:
        r = run(CLI, *args)
        assert r.returncode == rc, (args, r.stdout, r.stderr)
        err = json.loads(r.stdout)["error"]  # one JSON document on stdout, nothing else
        assert err["exit_code"] == rc and err["detail"] and err["title"]
        if code:
            assert err["code"] == code, (args, err)
        assert err["detail"] in r.stderr  # the message is still on stderr for a person
    # Without --json, stdout stays empty on an error.
    r = run(CLI, "show", "nope", "--store", store)
    assert r.returncode == 1 and r.stdout == "" and "nope" in r.stderr


def test_status_percentiles_are_never_above_the_slowest_request(up, tmp_path):
    store = tmp_path / "models"
    push(store, WORK_MODEL, "work", "1.0.0")
    u = up(config(store, [fn_config(concurrency=2, mode="http")]))
    slowest = 0.0
    for i in range(40):
        loops = 2000 if i % 10 == 9 else 0  # a few slow ones (tens of ms) make the tail
        t0 = time.monotonic()
        r = u.post("/v1/models/work/infer", work_body(loops=loops))
        slowest = max(slowest, (time.monotonic() - t0) * 1000)
        assert r.status_code == 200, r.text
    f = u.function("work")
    assert f["requests"] == 40
    assert 0 < f["p50_ms"] <= f["p95_ms"] <= f["p99_ms"] <= slowest, (f, slowest)
    # The CLI prints the same numbers.
    r = run(CLI, "status", "-f", u.config, "--json")
    st = [x for x in json.loads(r.stdout)["functions"] if x["name"] == "work"][0]
    assert st["p99_ms"] <= slowest


def test_the_next_step_a_message_gives_is_a_command_that_works(up, tmp_path):
    """A model pushed but never promoted: modelfn up's refusal names the promote to run, and
    running it (as written) lets the platform start."""
    import re
    import shlex
    store = tmp_path / "models"
    r = run(CLI, "push", ROOT / "examples" / "digits", "--name", "digits", "--version", "1.0.0",
            "--store", store)
    assert r.returncode == 0, r.stderr
    text = config(store, [fn_config("digits", model="digits")])
    d = tmp_path / "p"
    d.mkdir()
    (d / "modelfn.yaml").write_text(text)
    r = run(CLI, "up", "-f", d / "modelfn.yaml")
    assert r.returncode == 1
    commands = re.findall(r"`(modelfn [^`]+)`", r.stderr)
    assert commands and commands[0].startswith("modelfn promote digits 1.0.0"), r.stderr
    args = shlex.split(commands[0])
    done = run(CLI, *args[1:])
    assert done.returncode == 0, done.stderr
    u = up(text)
    assert u.post("/v1/models/digits/infer",
                  json.loads((ROOT / "examples/digits/requests/infer.json").read_text())).status_code == 200


def test_progress_of_a_large_push_is_json_lines_under_json_and_silent_on_a_pipe(tmp_path):
    from servers import write_big_onnx
    model = tmp_path / "big"
    model.mkdir()
    write_big_onnx(model / "model.onnx", 16 << 20)  # 64 MiB of weights
    r = run(CLI, "push", model, "--name", "big", "--version", "1", "--store", tmp_path / "s1",
            "--json")
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)  # stdout: the one result document
    steps = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    assert [s["event"] for s in steps] == ["progress"] * len(steps) and len(steps) >= 3
    assert [s["percent"] for s in steps] == sorted(s["percent"] for s in steps)
    assert steps[-1]["percent"] == 100 and steps[-1]["done_bytes"] == steps[-1]["total_bytes"]
    assert steps[-1]["total_bytes"] > 50 << 20
    quiet = run(CLI, "push", model, "--name", "big", "--version", "1", "--store", tmp_path / "s2")
    assert quiet.returncode == 0 and "%" not in quiet.stderr and "progress" not in quiet.stderr


@pytest.mark.parametrize("template", ["digits", "sentiment", "image"])
def test_init_makes_a_project_that_modelfn_up_runs_as_it_is(template, tmp_path):
    from up_harness import Up
    d = tmp_path / "project"
    r = run(CLI, "init", d, "--template", template, "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    text = (d / "modelfn.yaml").read_text()
    assert "listen: 127.0.0.1:8080" in text and (d / "README.md").exists()
    # As it is, but on a free port (tests run side by side).
    u = Up(d, text.replace("127.0.0.1:8080", "127.0.0.1:0"))
    try:
        req = (d / made["request"]).read_bytes()
        ctype = "image/png" if template == "image" else "application/json"
        r = requests_post(u.url + f"/v1/models/{made['function']}/infer", req, ctype)
        assert r.status_code == 200, r.text
        out = r.json()["outputs"]
        if template == "digits":
            want = json.loads((ROOT / "examples/digits/expected.json").read_text())["label"]
            assert out["label"] == want
        elif template == "sentiment":
            assert out["logits"][0]["label"] == "positive"  # "I loved this film"
        else:
            assert "Sneaker" in json.dumps(out)
    finally:
        u.stop()
    # Never over a folder that holds something.
    again = run(CLI, "init", d)
    assert again.returncode == 1 and "not empty" in again.stderr


def requests_post(url, body, ctype):
    import requests
    return requests.post(url, data=body, headers={"Content-Type": ctype}, timeout=60)

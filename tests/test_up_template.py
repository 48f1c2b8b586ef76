"""`modelfn up` with template instances: instances forked from a template process per function
version (docs/platform.md, "Template instances"), falling back to exec when the template cannot
serve. Real modelfn-fn processes behind the gateway, on loopback."""
import concurrent.futures
import json
import os
import signal

import pytest

from conftest import EXAMPLES
from up_harness import cli, config, fn_config, push, work_body, WORK_MODEL

SLOW = 6000  # loops of the work model: several hundred ms on one core


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = tmp_path_factory.mktemp("up-template-store") / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    push(s, EXAMPLES / "digits", "digits", "1.0.0")
    return s


def fn_log(u, name="work"):
    """The JSON lines of the function's log (its template's and instances' output)."""
    path = u.dir / ".modelfn" / "logs" / f"{name}.log"
    out = []
    if path.exists():
        for raw in path.read_text().splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                pass
    return out


def inits(u, name="work"):
    """Instances' init lines (the template logs one of its own, "mode":"template")."""
    return [l for l in fn_log(u, name)
            if l.get("event") == "init" and "start" in l and l.get("mode") != "template"]


def template(u, name="work", version=0):
    return u.function(name)["versions"][version].get("template", "")


def answer(u, mode_body):
    path, body = mode_body
    r = u.post(path, body)
    assert r.status_code == 200, r.text
    return r


DIGITS = ("/v1/models/digits/infer", {"inputs": {"pixels": [[0.0] * 64]}})


@pytest.mark.parametrize("mode", ["http", "lambda"])
def test_scale_from_zero_forks_and_answers_as_exec_does(up, store, mode):
    body = DIGITS
    fork = up(config(store, [fn_config("digits", mode=mode, start="fork")]))
    fork.wait_until(lambda: template(fork, "digits") == "ready", timeout=30)
    assert fork.instances("digits") == []
    r_fork = answer(fork, body)
    assert r_fork.headers["X-Modelfn-Cold-Start"] == "true"
    [i] = fork.instances("digits")
    assert i["start"] == "fork"
    line = fork.wait_until(lambda: inits(fork, "digits"), timeout=10)[0]
    assert line["start"] == "fork" and line["template_pid"] > 0, line

    exe = up(config(store, [fn_config("digits", mode=mode, start="exec")]))
    r_exec = answer(exe, body)
    [i] = exe.instances("digits")
    assert i["start"] == "exec"
    assert "template" not in exe.function("digits")["versions"][0]
    assert exe.wait_until(lambda: inits(exe, "digits"), timeout=10)[0]["start"] == "exec"
    assert r_fork.content == r_exec.content
    assert r_fork.headers["Content-Type"] == r_exec.headers["Content-Type"]


def test_template_that_cannot_serve_falls_back_to_exec(up, store):
    # More than one ONNX Runtime thread: the template refuses to fork (template_threads).
    u = up(config(store, [fn_config(env={"MODELFN_ORT_INTRA_OP_THREADS": "2"})]))
    state = u.wait_until(lambda: template(u) if template(u).startswith("failed") else None,
                         timeout=30)
    assert "template_threads" in state
    assert u.wait_for(lambda l: l.get("level") == "warn" and "exec'd" in l.get("msg", ""), 10)
    r = u.post("/v1/models/work/infer", work_body())
    assert r.status_code == 200, r.text
    [i] = u.instances("work")
    assert i["start"] == "exec"


def test_global_start_exec_turns_templates_off(up, store):
    u = up(config(store, [fn_config()], extra="start: exec\n"))
    assert u.post("/v1/models/work/infer", work_body()).status_code == 200
    assert [i["start"] for i in u.instances("work")] == ["exec"]
    assert "template" not in u.function("work")["versions"][0]


def test_killing_the_template_spares_instances_and_a_new_one_starts(up, store):
    u = up(config(store, [fn_config(max_instances=3, idle_ttl_s=120)]))
    u.wait_until(lambda: template(u) == "ready", timeout=30)
    assert u.post("/v1/models/work/infer", work_body()).status_code == 200
    first = u.wait_until(lambda: inits(u), timeout=10)[0]
    assert first["start"] == "fork"
    os.kill(first["template_pid"], signal.SIGKILL)
    # The running instance still answers.
    r = u.post("/v1/models/work/infer", work_body())
    assert r.status_code == 200 and r.headers["X-Modelfn-Cold-Start"] == "false"
    # The next scale-up finds the template gone: it is exec'd and a new template starts.
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        rs = list(ex.map(lambda _: u.post("/v1/models/work/infer", work_body(loops=SLOW)),
                         range(2)))
    assert [x.status_code for x in rs] == [200, 200]
    assert len(u.instances("work")) == 2
    u.wait_until(lambda: template(u) == "ready", timeout=30)
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        rs = list(ex.map(lambda _: u.post("/v1/models/work/infer", work_body(loops=SLOW)),
                         range(3)))
    assert [x.status_code for x in rs] == [200] * 3
    starts = sorted(i["start"] for i in u.instances("work"))
    assert starts == ["exec", "fork", "fork"], starts
    pids = {l["template_pid"] for l in inits(u) if l["start"] == "fork"}
    assert len(pids) == 2 and first["template_pid"] in pids


def test_promote_starts_a_template_for_the_new_version(up, tmp_path):
    s = tmp_path / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    push(s, WORK_MODEL, "work", "2.0.0", promote=False)
    u = up(config(s, [fn_config(max_instances=3, idle_ttl_s=120)]))
    u.wait_until(lambda: template(u) == "ready", timeout=30)
    r = u.post("/v1/models/work/infer", work_body())
    assert r.status_code == 200 and r.headers["X-Modelfn-Version"] == "1.0.0"
    cli("promote", "work", "2.0.0", "--store", s)
    u.wait_until(lambda: u.function("work")["versions"][0]["version"] == "2.0.0", timeout=30)
    # The instance replacing the old one waited for the new template and was forked from it, as
    # is the next scale-up.
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        rs = list(ex.map(lambda _: u.post("/v1/models/work/infer", work_body(loops=SLOW)),
                         range(2)))
    assert [(x.status_code, x.headers["X-Modelfn-Version"]) for x in rs] == [(200, "2.0.0")] * 2
    news = [l for l in inits(u) if l["version"] == "2.0.0"]
    olds = [l for l in inits(u) if l["version"] == "1.0.0"]
    assert [l["start"] for l in news] == ["fork", "fork"], news
    assert len({l["template_pid"] for l in news}) == 1
    assert news[0]["template_pid"] != olds[0]["template_pid"]


def test_changing_start_needs_a_restart(up, store):
    text = config(store, [fn_config()])
    u = up(text)
    u.config.write_text(text + "start: exec\n")
    u.proc.send_signal(signal.SIGHUP)
    line = u.wait_for(lambda l: l.get("event") == "reload_refused", 20)
    assert line is not None and "functions.work.start" in line["error"], line
    # Still forking: the running configuration is kept.
    u.wait_until(lambda: template(u) == "ready", timeout=30)
    assert u.post("/v1/models/work/infer", work_body()).status_code == 200
    assert [i["start"] for i in u.instances("work")] == ["fork"]

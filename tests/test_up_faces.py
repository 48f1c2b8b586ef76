"""`face:` in modelfn.yaml: `modelfn up` runs each function's instances with the environment the
named cloud gives them, so requests take that cloud's code path in modelfn-fn (its face), forked
from the template or exec'd alike."""
import json

import pytest

from conftest import EXAMPLES
from up_harness import config, fn_config, push

DIGITS = {"inputs": {"pixels": [[0.0] * 64, [1.0] * 64]}}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = tmp_path_factory.mktemp("faces-store") / "models"
    push(s, EXAMPLES / "digits", "digits", "1.0.0")
    return s


def fn_log(u, name):
    path = u.dir / ".modelfn" / "logs" / f"{name}.log"
    out = []
    for raw in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(raw))
        except ValueError:
            pass
    return out


def instance_inits(u, name):
    return [l for l in fn_log(u, name)
            if l.get("event") == "init" and l.get("mode") not in (None, "template")]


@pytest.mark.parametrize("start", ["fork", "exec"])
def test_each_face_answers_through_its_own_code_path(up, store, start):
    fns = [fn_config(f"d_{face}", model="digits", face=face, start=start)
           for face in ("lambda", "http", "cloudevents", "azure")]
    u = up(config(f"file://{store}", fns))
    want = None
    for face in ("lambda", "http", "cloudevents", "azure"):
        name = f"d_{face}"
        r = u.post(f"/v1/models/{name}/infer", DIGITS)
        assert r.status_code == 200, (face, r.text)
        # The same model answers the same numbers whichever face carried the request.
        want = want or r.json()
        assert r.json() == want, face
        v2 = u.post(f"/v2/models/{name}/infer", {"inputs": [
            {"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]})
        assert v2.status_code == 200, (face, v2.text)
        f = u.function(name)
        assert f["face"] == face
        assert f["mode"] == ("lambda" if face == "lambda" else "http")
        inits = u.wait_until(lambda: instance_inits(u, name), timeout=10)
        assert {l.get("face") for l in inits} == {face}, inits
        assert all(l.get("start") == ("fork" if start == "fork" else "exec") for l in inits), inits


def test_a_face_that_contradicts_the_mode_is_refused_at_start(up, store):
    u = up(config(f"file://{store}", [fn_config("d", model="digits", face="azure", mode="lambda")]),
           expect_failure=True)
    assert u.proc.returncode != 0
    assert b"functions.d.face: the azure face runs in http mode" in u.stderr

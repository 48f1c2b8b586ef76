"""/openapi.json: valid OpenAPI 3.1 built from the functions' manifests, and schemathesis driving
every operation it describes finds no 5xx."""
import json
import subprocess

import pytest
from openapi_spec_validator import validate

from conftest import EXAMPLES, MODELS, ROOT
from up_harness import Up, config, fn_config, push


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    root = tmp_path_factory.mktemp("openapi")
    s = root / "models"
    push(s, EXAMPLES / "digits", "digits", "1.0.0")
    push(s, MODELS / "add2", "add2", "1.0.0")
    push(s, MODELS / "dtypes", "dtypes", "1.0.0")
    d = root / "platform"
    d.mkdir()
    u = Up(d, config(s, [fn_config("digits", max_instances=2),
                         fn_config("add2", mode="http", concurrency=4, max_instances=1),
                         fn_config("dtypes", max_instances=1)]))
    yield u
    u.stop()


def test_openapi_is_valid_3_1_with_the_manifests_schemas(platform):
    doc = platform.get("/openapi.json").json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    ops = {p for p in doc["paths"]}
    assert {"/v1/models/digits/infer", "/v1/models/add2/batch", "/v1/models/dtypes/infer"} <= ops
    req = doc["components"]["schemas"]["InferRequest_add2"]["properties"]["inputs"]
    assert req["required"] == ["a", "b"]
    a = req["properties"]["a"]
    assert a["type"] == "array" and a["items"]["minItems"] == 3 and a["items"]["maxItems"] == 3
    assert a["items"]["items"]["type"] == "number"
    out = doc["components"]["schemas"]["InferResponse_add2"]["properties"]["outputs"]
    assert out["properties"]["count"]["items"]["type"] == "integer"
    dt = doc["components"]["schemas"]["InferRequest_dtypes"]["properties"]["inputs"]["properties"]
    assert dt["bool"]["items"]["type"] == "boolean" and dt["bytes"]["items"]["type"] == "string"
    # Every route, not only the per-function ones: ?model=, /v2, async, the Invoke API, the
    # platform's own.
    assert {"/v1/infer", "/v1/batch", "/v2", "/v2/health/live", "/v2/health/ready",
            "/v2/models/{model}", "/v2/models/{model}/ready", "/v2/models/{model}/infer",
            "/v2/models/{model}/versions/{version}/infer", "/v1/async/{function}",
            "/v1/async/{function}/batch", "/v1/async/{id}",
            "/2015-03-31/functions/{name}/invocations", "/v1/models", "/v1/status", "/metrics",
            "/v1/health"} <= ops
    model = [p for p in doc["paths"]["/v1/infer"]["post"]["parameters"] if p["name"] == "model"][0]
    assert model["in"] == "query" and set(model["schema"]["enum"]) == {"digits", "add2", "dtypes"}
    invoke = doc["paths"]["/2015-03-31/functions/{name}/invocations"]["post"]["parameters"][0]
    assert set(invoke["schema"]["enum"]) == {"digits", "dtypes"}  # the lambda-mode ones
    # And each described route answers as described (not 404) for a plain request.
    assert platform.get("/v2/models/digits/ready").status_code == 200
    assert platform.get("/v2/models/digits/versions/1.0.0").status_code == 200
    r = platform.post("/v1/infer?model=add2",
                      {"inputs": {"a": [[1.0, 2.0, 3.0]], "b": [[1.0, 1.0, 1.0]]}})
    assert r.status_code == 200, r.text


def test_schemathesis_finds_no_server_error(platform, tmp_path):
    report = tmp_path / "junit.xml"
    r = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "schemathesis"), "run", platform.url + "/openapi.json",
         "--checks", "not_a_server_error", "--max-examples", "40", "--generation-deterministic",
         "--request-timeout", "30", "--report", "junit", "--report-junit-path", str(report)],
        # Its crash cache goes to .schemathesis/ in the working folder: keep it out of the repo.
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    # It really exercised the inference operations.
    text = report.read_text()
    assert "infer_digits" in text or "/v1/models/digits/infer" in text, text[:2000]

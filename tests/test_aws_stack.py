"""`modelfn deploy --target aws --config modelfn.yaml`: one SAM template for every function of a
config (REST API routes, API keys and usage plans, CORS, canary, provisioned concurrency, S3
trigger, one role per function, the runtime layer), clean under cfn-lint and `sam validate
--lint`; and `modelfn package --target aws-lambda-layer` run under AWS's Runtime Interface
Emulator with the layer at /opt and a model-only function zip at /var/task, as Lambda lays them
out."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import zipfile

import numpy as np
import onnxruntime as ort
import pytest
import requests

from conftest import CLI, EXAMPLES, ROOT
from servers import TOOLS, free_ports, wait_port
from up_harness import push

CFN_LINT = ROOT / ".venv" / "bin" / "cfn-lint"
# The AWS SAM CLI (PyPI aws-sam-cli) in a virtualenv of its own, where scripts/setup.sh installs it
# (MODELFN_SAM names another).
SAM = pathlib.Path(os.environ.get("MODELFN_SAM", TOOLS / "sam" / "bin" / "sam"))


def config_text(store):
    return f"""store: {store}
functions:
  digits:
    model: digits
    min_instances: 1
    max_instances: 4
    memory_mb: 1024
    timeout_s: 10
    traffic: {{digits@1.0.0: 90, digits@1.1.0: 10}}
  breast-cancer:
    model: cancer
    max_instances: 2
    env: {{MODELFN_LOG_LEVEL: info}}
gateway:
  listen: 127.0.0.1:0
  auth: {{api_keys: true}}
  cors: {{origins: ["https://app.example.com"]}}
plans:
  free: {{rate_per_s: 2, burst: 5, daily_quota: 1000}}
  pro: {{rate_per_s: 50, burst: 100, monthly_quota: 1000000}}
"""


@pytest.fixture(scope="module")
def local_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("aws-stack")
    store = root / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    push(store, EXAMPLES / "digits", "digits", "1.1.0", promote=False)
    push(store, EXAMPLES / "breast_cancer", "cancer", "2.0.0")
    return store


def deploy(out, config, *extra, trigger="breast-cancer"):
    return subprocess.run([str(CLI), "deploy", "--target", "aws", "--config", str(config), "--dry-run", "--out",
                           str(out), "--json", "--trigger-function", trigger, "--trigger-bucket",
                           "modelfn-stack-inputs", *extra], capture_output=True, text=True, timeout=300)


def lint_and_load(path):
    lint = subprocess.run([str(CFN_LINT), str(path)], capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert SAM.exists(), f"{SAM} is missing: run scripts/setup.sh"
    sam = subprocess.run([str(SAM), "validate", "--lint", "--template-file", str(path)], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    assert sam.returncode == 0, sam.stdout + sam.stderr
    from cfnlint.decode import decode
    template, matches = decode(str(path))
    assert not matches, matches
    return template


def statements(t, fn_id):
    role = t["Resources"][fn_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    doc = t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
    return role, {s["Sid"]: s for s in doc["Statement"]}


def test_s3_store_template(tmp_path):
    cfg = tmp_path / "modelfn.yaml"
    cfg.write_text(config_text("s3://models-bucket/prod"))
    p = deploy(tmp_path / "out", cfg)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    t = lint_and_load(report["template"]["path"])
    res = t["Resources"]
    digits, cancer = res["Digits"]["Properties"], res["BreastCancer"]["Properties"]
    # The runtime layer, referenced by every function; each function's zip is only a note.
    assert res["RuntimeLayer"]["Type"] == "AWS::Serverless::LayerVersion"
    assert res["RuntimeLayer"]["Properties"]["ContentUri"] == "layer.zip"
    for fn, name in ((digits, "digits"), (cancer, "breast-cancer")):
        assert fn["Layers"] == [{"Ref": "RuntimeLayer"}]
        assert fn["Runtime"] == "provided.al2023" and fn["AutoPublishAlias"] == "live"
        assert fn["CodeUri"] == f"functions/{name}.zip"
        with zipfile.ZipFile(tmp_path / "out" / "functions" / f"{name}.zip") as z:
            assert z.namelist() == ["MODEL_SOURCE.txt"]
        assert fn["Environment"]["Variables"]["MODELFN_ROUTE_NAME"] == name
    with zipfile.ZipFile(tmp_path / "out" / "layer.zip") as z:
        assert {"bootstrap", "bin/modelfn-fn", "lib/libonnxruntime.so.1"} <= set(z.namelist())
        assert not any(n.startswith("model/") for n in z.namelist())
    # One role per function, its S3 reads limited to its model's prefix.
    digits_role, ds = statements(t, "Digits")
    cancer_role, cs = statements(t, "BreastCancer")
    assert digits_role != cancer_role
    assert ds["ReadModelObjects"]["Resource"] == "arn:aws:s3:::models-bucket/prod/digits/*"
    assert ds["ListModelPrefix"]["Condition"]["StringLike"]["s3:prefix"] == "prod/digits/*"
    assert cs["ReadModelObjects"]["Resource"] == "arn:aws:s3:::models-bucket/prod/cancer/*"
    assert digits["Environment"]["Variables"]["MODELFN_MODEL"] == "s3://models-bucket/prod/digits@1.1.0"
    assert cancer["Environment"]["Variables"]["MODELFN_MODEL"] == "s3://models-bucket/prod/cancer"
    assert cancer["Environment"]["Variables"]["MODELFN_LOG_LEVEL"] == "info"
    for sid in ("ReadTriggerInputs", "WriteTriggerResults"):  # the trigger is breast-cancer's only
        assert sid in cs and sid not in ds
    assert cs["WriteTriggerResults"]["Resource"] == ["arn:aws:s3:::modelfn-stack-inputs/results/*",
                                                     "arn:aws:s3:::modelfn-stack-inputs/failed/*"]
    for sts in (ds, cs):
        actions = {a for s in sts.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert "s3:*" not in actions and not any(a.startswith("iam:") for a in actions)
        assert all(s["Resource"] != "*" for s in sts.values() if s["Sid"] != "Tracing")
    # Routes of the local gateway on one REST API.
    paths = {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in digits["Events"].values()
             if e["Type"] == "Api"}
    assert paths == {("/v1/models/digits/infer", "post"), ("/v1/models/digits/batch", "post"),
                     ("/v2/models/digits", "get"), ("/v2/models/digits/{proxy+}", "any")}
    assert all(e["Properties"]["RestApiId"] == {"Ref": "ModelApi"} for e in digits["Events"].values())
    api = res["ModelApi"]["Properties"]
    assert api["Auth"]["ApiKeyRequired"] is True
    assert api["Cors"]["AllowOrigin"] == "'https://app.example.com'"
    # Usage plans with their limits, one key each.
    free, pro = res["PlanFree"]["Properties"], res["PlanPro"]["Properties"]
    assert free["Throttle"] == {"RateLimit": 2, "BurstLimit": 5} and free["Quota"] == {"Limit": 1000, "Period": "DAY"}
    assert pro["Quota"] == {"Limit": 1000000, "Period": "MONTH"}
    assert res["PlanFreeKeyUse"]["Properties"]["UsagePlanId"] == {"Ref": "PlanFree"}
    assert res["PlanProKeyUse"]["Properties"]["KeyId"] == {"Ref": "PlanProKey"}
    # Canary: the 10% version is deployed, shifted by CodeDeploy; min instances -> provisioned.
    assert digits["DeploymentPreference"]["Type"] == {"Ref": "DigitsCanary"}
    canary = res["DigitsCanary"]["Properties"]["TrafficRoutingConfig"]
    assert canary == {"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 10, "CanaryInterval": 5}}
    assert "DeploymentPreference" not in cancer
    assert digits["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 1}
    assert "ProvisionedConcurrencyConfig" not in cancer
    assert (digits["ReservedConcurrentExecutions"], cancer["ReservedConcurrentExecutions"]) == (4, 2)
    assert (digits["MemorySize"], cancer["MemorySize"], digits["Timeout"]) == (1024, 512, 10)
    # S3 trigger on breast-cancer only.
    event = cancer["Events"]["ObjectCreated"]
    assert event["Type"] == "S3" and event["Properties"]["Bucket"] == {"Ref": "TriggerBucket"}
    assert "ObjectCreated" not in digits["Events"]


def test_local_store_zips_hold_only_the_deployed_model(tmp_path, local_store):
    cfg = tmp_path / "modelfn.yaml"
    cfg.write_text(config_text(local_store))
    p = deploy(tmp_path / "out", cfg)
    assert p.returncode == 0, p.stderr
    t = lint_and_load(json.loads(p.stdout)["template"]["path"])
    assert "MODELFN_MODEL" not in t["Resources"]["Digits"]["Properties"]["Environment"]["Variables"]
    assert "ReadModelObjects" not in statements(t, "Digits")[1]
    with zipfile.ZipFile(tmp_path / "out" / "functions" / "digits.zip") as z:
        assert sorted(z.namelist()) == ["model/manifest.json", "model/model.onnx"]
        assert json.loads(z.read("model/manifest.json"))["version"] == "1.1.0"  # the canary's version
    with zipfile.ZipFile(tmp_path / "out" / "functions" / "breast-cancer.zip") as z:
        assert json.loads(z.read("model/manifest.json"))["name"] == "cancer"


def test_what_aws_cannot_express_is_refused(tmp_path):
    cfg = tmp_path / "modelfn.yaml"
    cfg.write_text(config_text("s3://b/p").replace('["https://app.example.com"]', '["https://a.example", "https://b.example"]'))
    p = deploy(tmp_path / "out", cfg)
    assert p.returncode == 1 and "one origin" in p.stderr
    cfg.write_text(config_text("s3://b/p"))
    p = deploy(tmp_path / "out", cfg, trigger="nope")
    assert p.returncode == 1 and "--trigger-function" in p.stderr
    cfg.write_text(config_text("gs://b/p"))
    p = deploy(tmp_path / "out", cfg)
    assert p.returncode == 1 and "s3://" in p.stderr


class LayeredLambda:
    """An otherwise empty root with the layer's folder bind-mounted at /opt and the function zip's
    at /var/task, as Lambda mounts them, running aws-lambda-rie with no command: like Lambda it
    runs /var/task/bootstrap if there is one, else /opt/bootstrap."""

    def __init__(self, layer_dir, task_dir, root, env):
        for d in ("opt", "var/task", "tmp", "proc", "dev"):
            (root / d).mkdir(parents=True)
        (root / "dev" / "null").touch()
        (root / "dev" / "urandom").touch()
        shutil.copy(TOOLS / "bin" / "aws-lambda-rie", root / "aws-lambda-rie")
        self.port, api = free_ports(2)
        script = (f"mount --bind {layer_dir} {root}/opt && mount --bind {task_dir} {root}/var/task && "
                  f"mount -t proc proc {root}/proc && mount --bind /dev/null {root}/dev/null && "
                  f"mount --bind /dev/urandom {root}/dev/urandom && exec chroot {root} /aws-lambda-rie "
                  f"--runtime-interface-emulator-address 127.0.0.1:{self.port} --runtime-api-address 127.0.0.1:{api}")
        self.log_path = root.parent / "rie.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", script],
                                     env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LAMBDA_TASK_ROOT": "/var/task",
                                          "TMPDIR": "/tmp", **env},
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, 30, self.proc)

    def invoke(self, payload):
        return requests.post(f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
                             data=json.dumps(payload), timeout=60)

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def unpack(zip_path, dest):
    dest.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            z.extract(info, dest)
            os.chmod(dest / info.filename, (info.external_attr >> 16) & 0o777)


def test_layer_and_model_zip_serve_under_the_emulator(tmp_path):
    out = tmp_path / "pkg"
    p = subprocess.run([str(CLI), "package", "--target", "aws-lambda-layer", "--model", str(EXAMPLES / "digits"),
                        "--out", str(out), "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["layer"]["zipped_bytes"] == (out / "layer.zip").stat().st_size
    with zipfile.ZipFile(out / "function.zip") as z:
        assert all(n.startswith("model/") for n in z.namelist())  # no bootstrap: the layer's runs
    unpack(out / "layer.zip", tmp_path / "layer")
    unpack(out / "function.zip", tmp_path / "task")
    fn = LayeredLambda(tmp_path / "layer", tmp_path / "task", tmp_path / "root", {"MODELFN_ROUTE_NAME": "digits-fn"})
    try:
        body = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())
        r = fn.invoke(body)
        assert r.status_code == 200, r.text + fn.log_path.read_text(errors="replace")
        sess = ort.InferenceSession(str(EXAMPLES / "digits" / "model.onnx"))
        label, proba = sess.run(["label", "probabilities"], {"pixels": np.array(body["inputs"], np.float32)})
        assert r.json()["outputs"]["label"] == label.tolist()
        np.testing.assert_allclose(r.json()["outputs"]["probabilities"], proba, rtol=1e-6, atol=1e-7)
        # The API Gateway route of the function, as a REST API (1.0) event forwards it.
        event = {"resource": "/v1/models/digits-fn/infer", "path": "/v1/models/digits-fn/infer", "httpMethod": "POST",
                 "headers": {"Content-Type": "application/json"},
                 "multiValueHeaders": {"Content-Type": ["application/json"]},
                 "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
                 "stageVariables": None,
                 "requestContext": {"resourcePath": "/v1/models/digits-fn/infer", "httpMethod": "POST",
                                    "path": "/api/v1/models/digits-fn/infer", "stage": "api", "requestId": "r",
                                    "identity": {"sourceIp": "203.0.113.1"}},
                 "body": json.dumps(body), "isBase64Encoded": False}
        routed = fn.invoke(event)
        assert routed.status_code == 200, routed.text
        assert routed.json()["statusCode"] == 200, routed.json()
        assert json.loads(routed.json()["body"])["outputs"]["label"] == label.tolist()
    finally:
        fn.stop()

"""`modelfn deploy --target knative --dry-run`: the Knative Service (and Eventing Trigger) it writes,
checked by kubeconform against Knative's own CRD schema from the served knative.dev/serving module
(see kube_schemas.py). The Trigger's group, knative.dev/eventing, is not served by the module proxy
here: it is checked for shape by this test only (apiVersion, kind, broker, filter, subscriber)."""
import json
import subprocess

import pytest
import yaml

from conftest import CLI, EXAMPLES
from kube_schemas import kpodspec, kubeconform

IMAGE = "registry.example.com/modelfn/digits:1"


def deploy(tmp_path, *args):
    out = tmp_path / "kn"
    p = subprocess.run([str(CLI), "deploy", "--target", "knative", "--dry-run", "--json", "--out", str(out),
                        "--image", IMAGE, *args], capture_output=True, text=True, timeout=60)
    return p, out


@pytest.mark.parametrize("args", [
    ["--model", str(EXAMPLES / "digits")],
    ["--model", "gs://models/digits@1.0.0", "--min-scale", "1", "--max-scale", "3", "--concurrency", "2",
     "--target-utilization", "80", "--cpu", "500m", "--memory", "512Mi", "--timeout", "120"],
    ["--model", str(EXAMPLES / "breast_cancer"), "--trigger", "--trigger-bucket", "uploads"],
])
def test_service_passes_knatives_schema(tmp_path, args):
    p, out = deploy(tmp_path, *args)
    assert p.returncode == 0, p.stderr
    svc = yaml.safe_load((out / "service.yaml").read_text())
    c = svc["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == IMAGE
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert "autoscaling.knative.dev/min-scale" in svc["spec"]["template"]["metadata"]["annotations"]
    r = kubeconform([out / "service.yaml"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["summary"]["valid"] == 1
    r = kpodspec([out / "service.yaml"])
    assert r.returncode == 0, r.stderr


def test_options_land_where_knative_reads_them(tmp_path):
    p, out = deploy(tmp_path, "--model", "gs://models/digits@1.0.0", "--min-scale", "0", "--max-scale", "4",
                    "--concurrency", "3", "--target-utilization", "60", "--cpu", "2", "--memory", "2Gi",
                    "--timeout", "90")
    assert p.returncode == 0, p.stderr
    t = yaml.safe_load((out / "service.yaml").read_text())["spec"]["template"]
    a = t["metadata"]["annotations"]
    assert (a["autoscaling.knative.dev/min-scale"], a["autoscaling.knative.dev/max-scale"],
            a["autoscaling.knative.dev/target-utilization-percentage"]) == ("0", "4", "60")
    assert t["spec"]["containerConcurrency"] == 3 and t["spec"]["timeoutSeconds"] == 90
    c = t["spec"]["containers"][0]
    assert c["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert {"name": "MODELFN_MODEL", "value": "gs://models/digits@1.0.0"} in c["env"]


def test_trigger_delivers_object_events_to_the_service(tmp_path):
    p, out = deploy(tmp_path, "--model", str(EXAMPLES / "digits"), "--trigger-bucket", "uploads",
                    "--broker", "default")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["trigger"].endswith("trigger.yaml") and len(report["commands"]) == 2
    t = yaml.safe_load((out / "trigger.yaml").read_text())
    assert (t["apiVersion"], t["kind"]) == ("eventing.knative.dev/v1", "Trigger")
    assert t["spec"]["broker"] == "default"
    assert t["spec"]["filter"]["attributes"] == {
        "type": "google.cloud.storage.object.v1.finalized",
        "source": "//storage.googleapis.com/projects/_/buckets/uploads"}
    assert t["spec"]["subscriber"]["ref"] == {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                             "name": "digits"}


def test_the_checker_fails_a_broken_service(tmp_path):
    p, out = deploy(tmp_path, "--model", str(EXAMPLES / "digits"))
    assert p.returncode == 0, p.stderr
    good = yaml.safe_load((out / "service.yaml").read_text())
    broken = []
    bad = json.loads(json.dumps(good))
    bad["spec"]["template"]["spec"]["containerConcurrency"] = "eight"  # wrong type
    broken.append(bad)
    bad = json.loads(json.dumps(good))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProb"] = {}  # unknown field
    broken.append(bad)
    bad = json.loads(json.dumps(good))
    del bad["spec"]["template"]["spec"]["containers"]  # required by the CRD
    broken.append(bad)
    for i, doc in enumerate(broken):
        f = tmp_path / f"broken{i}.yaml"
        f.write_text(yaml.safe_dump(doc))
        r = kubeconform([f])
        assert r.returncode != 0, f"{doc} passed: {r.stdout}"
        r = kpodspec([f])
        assert r.returncode == 1 and str(f) in r.stderr, f"{doc} passed kpodspec"
    # Kubernetes' quantity parser and Knative's scale bounds, checked by kpodspec.
    for i, change in enumerate([
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(memory="1 GB"),
            lambda d: d["spec"]["template"]["metadata"]["annotations"].update(
                {"autoscaling.knative.dev/min-scale": "5", "autoscaling.knative.dev/max-scale": "2"})]):
        bad = json.loads(json.dumps(good))
        change(bad)
        f = tmp_path / f"broken-k8s{i}.yaml"
        f.write_text(yaml.safe_dump(bad))
        r = kpodspec([f])
        assert r.returncode == 1 and str(f) in r.stderr, f"{bad} passed kpodspec"


@pytest.mark.parametrize("args,why", [
    (["--name", "Not_A_Label"], "DNS label"),
    (["--min-scale", "5", "--max-scale", "2"], "--min-scale"),
    (["--memory", "lots"], "quantities"),
    (["--trigger", "--output-prefix", "incoming/x/"], "loop"),
])
def test_bad_options_are_refused_clearly(tmp_path, args, why):
    p, out = deploy(tmp_path, "--model", str(EXAMPLES / "digits"), *args)
    assert p.returncode == 1 and why in p.stderr
    assert not (out / "service.yaml").exists()


@pytest.mark.parametrize("target", ["gcp", "knative"])
def test_each_target_has_its_usage(target):
    p = subprocess.run([str(CLI), "deploy", "--target", target, "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and f"--target {target}" in p.stdout


def test_an_unknown_target_names_the_ones_there_are():
    p = subprocess.run([str(CLI), "deploy", "--target", "nomad", "--model", str(EXAMPLES / "digits")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "aws, gcp and knative" in p.stderr

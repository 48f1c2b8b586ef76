"""`modelfn package --target cloud-run` and `modelfn deploy --target gcp --dry-run`: the image read
by skopeo and umoci and its unpacked root run as Cloud Run runs a container (its config's
entrypoint and environment, PORT and K_SERVICE set, nothing from the host), answering a request and
a CloudEvent; the Cloud Run service YAML checked against Knative's Service schema (Cloud Run's
YAML is serving.knative.dev/v1, see kube_schemas.py) and the gcloud commands it prints."""
import json
import os
import shlex
import signal
import subprocess

import pytest
import requests
import yaml

from conftest import CLI, EXAMPLES
from kube_schemas import kpodspec, kubeconform
from servers import free_ports, wait_port
from test_gcp_events import DIGITS_INFER, pubsub_event, send

IMAGE = "europe-west1-docker.pkg.dev/my-project/modelfn/digits:1"


@pytest.mark.parametrize("model", ["inside", "store"])
def test_cloud_run_image_is_an_oci_image_with_the_right_config(tmp_path, model):
    out = tmp_path / "img"
    src = str(EXAMPLES / "digits") if model == "inside" else "gs://my-models/models/digits@1.0.0"
    p = subprocess.run([str(CLI), "package", "--target", "cloud-run", "--model", src, "--out", str(out), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    cfg = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{report['image']}"],
                                    capture_output=True, text=True, timeout=120, check=True).stdout)
    assert cfg["config"]["Entrypoint"] == ["/app/bootstrap"]
    want = "/app/model" if model == "inside" else src
    assert f"MODELFN_MODEL={want}" in cfg["config"]["Env"]
    assert f"ENV MODELFN_MODEL={want}" in (out / "context" / "Dockerfile").read_text()
    assert (out / "context" / "model").exists() == (model == "inside")


def test_cloud_run_image_root_serves_http_and_cloudevents_on_port(tmp_path):
    out = tmp_path / "img"
    p = subprocess.run([str(CLI), "package", "--target", "cloud-run", "--model", str(EXAMPLES / "digits"),
                        "--out", str(out), "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{out / 'oci'}:latest", str(bundle)], capture_output=True,
                   text=True, timeout=120, check=True)
    config = json.loads((bundle / "config.json").read_text())["process"]
    rootfs = bundle / "rootfs"
    for d in ("tmp", "proc", "dev"):
        (rootfs / d).mkdir(exist_ok=True)
    (rootfs / "dev" / "null").touch()
    (rootfs / "dev" / "urandom").touch()
    assert not (rootfs / "bin").exists() and not (rootfs / "usr").exists()
    (port,) = free_ports(1)
    # As Cloud Run starts it: the image's entrypoint and environment plus PORT and K_SERVICE.
    env = [*config["env"], f"PORT={port}", "K_SERVICE=digits", "K_REVISION=digits-00001",
           "K_CONFIGURATION=digits"]
    # Only the image's environment (env -i), the root being the unpacked image and nothing else.
    script = (f"mount -t proc proc {rootfs}/proc && mount --bind /dev/null {rootfs}/dev/null && "
              f"mount --bind /dev/urandom {rootfs}/dev/urandom && "
              f"exec env -i {shlex.join(env)} chroot {rootfs} {shlex.join(config['args'])}")
    proc = subprocess.Popen(["unshare", "--mount", "--fork", "sh", "-c", script],
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_port(port, 30, proc)
        # It listens once the model is loaded: the probe path of the service YAMLs answers ready.
        assert requests.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5).status_code == 200
        r = requests.post(f"http://127.0.0.1:{port}/v1/infer", json=DIGITS_INFER, timeout=60)
        assert r.status_code == 200 and "outputs" in r.json(), r.text
        r = send(f"http://127.0.0.1:{port}/", pubsub_event(json.dumps(DIGITS_INFER).encode()), "binary")
        assert r.status_code == 200 and "outputs" in r.json(), r.text
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def deploy(tmp_path, *args):
    out = tmp_path / "gcp"
    p = subprocess.run([str(CLI), "deploy", "--target", "gcp", "--dry-run", "--json", "--out", str(out),
                        "--project", "my-project", "--region", "europe-west1", "--image", IMAGE, *args],
                       capture_output=True, text=True, timeout=60)
    return p, out


def test_service_yaml_has_what_cloud_run_reads_and_passes_knatives_schema(tmp_path):
    p, out = deploy(tmp_path, "--model", "gs://my-models/models/digits@1.0.0", "--min-instances", "1",
                    "--max-instances", "5", "--concurrency", "4", "--cpu", "2", "--memory", "2048")
    assert p.returncode == 0, p.stderr
    svc = yaml.safe_load((out / "service.yaml").read_text())
    t = svc["spec"]["template"]
    a = t["metadata"]["annotations"]
    assert (a["autoscaling.knative.dev/minScale"], a["autoscaling.knative.dev/maxScale"]) == ("1", "5")
    assert a["run.googleapis.com/startup-cpu-boost"] == "true"
    assert t["spec"]["containerConcurrency"] == 4
    assert t["spec"]["serviceAccountName"] == "digits-fn@my-project.iam.gserviceaccount.com"
    c = t["spec"]["containers"][0]
    assert c["image"] == IMAGE and c["resources"]["limits"] == {"cpu": "2", "memory": "2048Mi"}
    assert {"name": "MODELFN_MODEL", "value": "gs://my-models/models/digits@1.0.0"} in c["env"]
    r = kubeconform([out / "service.yaml"])
    assert r.returncode == 0, r.stdout + r.stderr
    r = kpodspec([out / "service.yaml"])
    assert r.returncode == 0, r.stderr
    report = json.loads(p.stdout)
    cmds = report["commands"]
    grant = [c for c in cmds if "gs://my-models" in c]
    assert len(grant) == 1 and "roles/storage.objectViewer" in grant[0]
    assert 'resource.name.startsWith("projects/_/buckets/my-models/objects/models/digits/")' in grant[0]
    assert any(c.startswith(f"gcloud run services replace '{out}/service.yaml'") for c in cmds)
    assert not any("eventarc" in c for c in cmds) and "trigger" not in report
    # The printed commands are valid sh words (what commands.sh runs).
    for c in cmds:
        shlex.split(c)
    assert (out / "commands.sh").read_text().count("gcloud ") >= len(cmds)


def test_gcs_trigger_adds_eventarc_and_scoped_bucket_access(tmp_path):
    p, out = deploy(tmp_path, "--model", str(EXAMPLES / "digits"), "--trigger-bucket", "uploads")
    assert p.returncode == 0, p.stderr
    t = yaml.safe_load((out / "eventarc-trigger.yaml").read_text())
    assert {"attribute": "type", "value": "google.cloud.storage.object.v1.finalized"} in t["eventFilters"]
    assert {"attribute": "bucket", "value": "uploads"} in t["eventFilters"]
    assert t["destination"]["cloudRun"] == {"service": "digits", "region": "europe-west1", "path": "/"}
    cmds = json.loads(p.stdout)["commands"]
    create = [c for c in cmds if c.startswith("gcloud eventarc triggers create")]
    assert len(create) == 1 and "--event-filters='bucket=uploads'" in create[0]
    grants = [c for c in cmds if "gs://uploads" in c]
    assert all("--condition=" in c for c in grants) and len(grants) == 4
    writes = [c for c in grants if "objectCreator" in c]
    assert {("results/" in c, "failed/" in c) for c in writes} == {(True, False), (False, True)}
    env = {e["name"]: e["value"] for e in
           yaml.safe_load((out / "service.yaml").read_text())["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"MODELFN_GCS_INPUT_PREFIX": "incoming/", "MODELFN_GCS_OUTPUT_PREFIX": "results/",
                   "MODELFN_GCS_FAILURE_PREFIX": "failed/"}
    r = kubeconform([out / "service.yaml"])
    assert r.returncode == 0, r.stdout + r.stderr
    r = kpodspec([out / "service.yaml"])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args,why", [
    (["--model", "s3://b/models/digits"], "gs://"),
    (["--model", str(EXAMPLES / "digits"), "--cpu", "3"], "--cpu"),
    (["--model", str(EXAMPLES / "digits"), "--cpu", "0.5"], "concurrency 1"),
    (["--model", str(EXAMPLES / "digits"), "--min-instances", "4", "--max-instances", "2"], "--min-instances"),
    (["--model", str(EXAMPLES / "digits"), "--trigger-bucket", "u", "--failure-prefix", "incoming/f/"], "loop"),
])
def test_bad_options_are_refused_clearly(tmp_path, args, why):
    p, out = deploy(tmp_path, *args)
    assert p.returncode == 1 and why in p.stderr, p.stderr
    assert not (out / "service.yaml").exists()

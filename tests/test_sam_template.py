"""`modelfn deploy --target aws --dry-run`: SAM templates that pass cfn-lint, for several option
combinations, with a least-privilege role."""
import json
import subprocess
import sys

import pytest

from conftest import CLI, EXAMPLES, ROOT

CFN_LINT = ROOT / ".venv" / "bin" / "cfn-lint"

COMBOS = {
    "zip-model-http-api": ["--model", str(EXAMPLES / "digits")],
    "s3-model-function-url-iam-provisioned": ["--model", "s3://models-bucket/prod/digits", "--api", "url",
                                              "--auth", "iam", "--reserved", "5", "--provisioned", "2"],
    "s3-pinned-jwt-arm64-big": ["--model", "s3://models-bucket/prod/digits@1.0.0", "--auth", "jwt",
                                "--jwt-issuer", "https://issuer.example.com/", "--jwt-audience", "api://modelfn",
                                "--arch", "arm64", "--memory", "4096", "--timeout", "120", "--ephemeral", "4096",
                                "--log-retention-days", "90"],
    "no-api": ["--model", str(EXAMPLES / "breast_cancer"), "--api", "none", "--name", "cancer-batch"],
}


def deploy(out, *args):
    return subprocess.run([str(CLI), "deploy", "--target", "aws", "--dry-run", "--out", str(out), "--json", *args],
                          capture_output=True, text=True, timeout=300)


def load(path):
    from cfnlint.decode import decode
    template, matches = decode(str(path))
    assert not matches, matches
    return template


@pytest.mark.parametrize("name", list(COMBOS))
def test_templates_pass_cfn_lint(tmp_path, name):
    args = COMBOS[name]
    arm64 = "--arch" in args and "arm64" in args
    if arm64:  # the cross-built binaries (scripts/build.sh --arch arm64)
        args = args + ["--runtime", str(ROOT / "build" / "arm64" / "modelfn-fn"),
                       "--bootstrap", str(ROOT / "build" / "arm64" / "modelfn-bootstrap")]
    p = deploy(tmp_path, *args)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    if arm64:
        import zipfile
        with zipfile.ZipFile(out["package"]) as z:
            assert int.from_bytes(z.read("bin/modelfn-fn")[18:20], "little") == 183  # EM_AARCH64
    lint = subprocess.run([str(CFN_LINT), out["template"]], capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    t = load(out["template"])
    fn = t["Resources"]["ModelFunction"]["Properties"]
    assert fn["Runtime"] == "provided.al2023" and fn["Handler"] == "bootstrap" and fn["Tracing"] == "Active"
    assert fn["Architectures"] == (["arm64"] if arm64 else ["x86_64"])
    statements = t["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    actions = sorted(a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    if "s3://" in " ".join(args):
        assert actions == ["logs:CreateLogStream", "logs:PutLogEvents", "s3:GetObject", "s3:ListBucket",
                           "xray:PutTelemetryRecords", "xray:PutTraceSegments"]
        read = next(s for s in statements if s["Sid"] == "ReadModelObjects")
        assert read["Resource"] == "arn:aws:s3:::models-bucket/prod/digits/*"
        assert fn["Environment"]["Variables"]["MODELFN_MODEL"].startswith("s3://models-bucket/prod/digits")
    else:
        assert not any(a.startswith("s3:") for a in actions)
    assert t["Resources"]["FunctionLogGroup"]["Properties"]["RetentionInDays"] in (14, 90)


def test_inconsistent_options_are_refused(tmp_path):
    p = deploy(tmp_path, "--model", str(EXAMPLES / "digits"), "--auth", "jwt")
    assert p.returncode == 1 and "--jwt-issuer" in p.stderr
    p = deploy(tmp_path, "--model", str(EXAMPLES / "digits"), "--reserved", "1", "--provisioned", "3")
    assert p.returncode == 1 and "provisioned" in p.stderr
    p = deploy(tmp_path, "--model", "gs://b/digits")
    assert p.returncode == 1 and "s3://" in p.stderr
    p = subprocess.run([str(CLI), "deploy", "--target", "aws", "--model", str(EXAMPLES / "digits"), "--out",
                        str(tmp_path)], capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 1 and "SAM CLI" in p.stderr  # without --dry-run and without sam installed


def test_s3_trigger_template(tmp_path):
    p = deploy(tmp_path, "--model", "s3://models-bucket/prod/digits", "--trigger-bucket", "modelfn-inputs-test",
               "--input-prefix", "in/", "--output-prefix", "out/", "--failure-prefix", "err/", "--api", "none")
    assert p.returncode == 0, p.stderr
    path = json.loads(p.stdout)["template"]
    lint = subprocess.run([str(CFN_LINT), path], capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    t = load(path)
    event = t["Resources"]["ModelFunction"]["Properties"]["Events"]["ObjectCreated"]
    assert event["Type"] == "S3" and event["Properties"]["Events"] == "s3:ObjectCreated:*"
    assert event["Properties"]["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "in/"}]
    env = t["Resources"]["ModelFunction"]["Properties"]["Environment"]["Variables"]
    assert (env["MODELFN_S3_INPUT_PREFIX"], env["MODELFN_S3_OUTPUT_PREFIX"], env["MODELFN_S3_FAILURE_PREFIX"]) == \
        ("in/", "out/", "err/")
    statements = {s["Sid"]: s for s in
                  t["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["WriteTriggerResults"]["Resource"] == ["arn:aws:s3:::modelfn-inputs-test/out/*",
                                                              "arn:aws:s3:::modelfn-inputs-test/err/*"]
    assert "arn:aws:s3:::modelfn-inputs-test/in/*" in statements["ReadTriggerInputs"]["Resource"]
    looping = deploy(tmp_path / "x", "--model", "s3://b/m/digits", "--trigger-bucket", "b2", "--output-prefix",
                     "incoming/out/")
    assert looping.returncode == 1 and "loop" in looping.stderr

"""`modelfn generate-event` (the clouds' event shapes) and `modelfn invoke` (one cold run of a
function in the Lambda face, or through a running `modelfn up`)."""
import json
import subprocess

from conftest import CLI, EXAMPLES
from up_harness import cli, config, fn_config, push

DIGITS = EXAMPLES / "digits"
INFER = DIGITS / "requests" / "infer.json"


def run(*args, stdin=None):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120,
                          input=stdin)


def test_generate_event_prints_each_clouds_shape():
    s3 = json.loads(cli("generate-event", "s3", "put", "--bucket", "in", "--key", "a b.jsonl",
                        "--size", "12").stdout)
    rec = s3["Records"][0]
    assert rec["eventSource"] == "aws:s3" and rec["s3"]["bucket"]["name"] == "in"
    assert rec["s3"]["object"]["key"] == "a+b.jsonl" and rec["s3"]["object"]["size"] == 12
    sqs = json.loads(cli("generate-event", "sqs", "receive-message", "--body", "{}", "--count",
                         "3").stdout)
    assert len(sqs["Records"]) == 3 and all(r["eventSource"] == "aws:sqs" for r in sqs["Records"])
    assert len({r["messageId"] for r in sqs["Records"]}) == 3
    api = json.loads(cli("generate-event", "apigateway", "http-api", "--body-file", INFER).stdout)
    assert api["version"] == "2.0" and json.loads(api["body"]) == json.loads(INFER.read_text())
    ce = json.loads(cli("generate-event", "cloudevent", "storage", "--bucket", "b", "--object",
                        "x.csv").stdout)
    assert ce["type"] == "google.cloud.storage.object.v1.finalized" and ce["data"]["name"] == "x.csv"
    az = json.loads(cli("generate-event", "azure", "blob", "--container", "c", "--name",
                        "x.csv").stdout)
    assert az["Metadata"]["BlobTrigger"] == "c/x.csv"
    assert run("generate-event", "s3", "delete").returncode == 2
    assert run("generate-event", "s3", "put", "--bucket", "b").returncode == 2
    assert run("generate-event", "s3", "put", "--bucket", "b", "--key", "k",
               "--size", "many").returncode == 2


def test_invoke_runs_one_cold_lambda_and_reports_its_init(start_function):
    r = run("invoke", "--model", DIGITS, "--event", INFER)
    assert r.returncode == 0, r.stderr
    direct = start_function(DIGITS).post("/v1/infer", json.loads(INFER.read_text())).json()
    assert json.loads(r.stdout) == direct
    assert r.stderr.startswith("init ") and "model_load_ms" in r.stderr and "invoke" in r.stderr
    # The event from stdin, as --json: payload, timings and the init line.
    r = run("invoke", "--model", DIGITS, "--event", "-", "--json", stdin=INFER.read_text())
    out = json.loads(r.stdout)
    assert out["payload"] == direct and out["function_error"] is False
    assert out["init_ms"] > 0 and out["init"]["event"] == "init"
    assert out["init"]["face"] == "lambda" and out["init"]["cold_start"] is True
    # An API Gateway event is answered as API Gateway expects.
    event = cli("generate-event", "apigateway", "http-api", "--body-file", INFER).stdout
    r = run("invoke", "--model", DIGITS, "--payload", event)
    assert r.returncode == 0 and json.loads(r.stdout)["statusCode"] == 200


def test_invoke_reports_a_function_error_and_bad_arguments():
    r = run("invoke", "--model", DIGITS, "--payload", '{"inputs": [[1, 2]]}')
    assert r.returncode == 1
    assert json.loads(r.stdout)["errorType"] == "shape_mismatch"
    assert "function error" in r.stderr
    assert run("invoke", "--model", DIGITS).returncode == 2
    assert run("invoke", "--model", DIGITS, "--payload", "{nope").returncode == 1
    assert run("invoke", "--model", "/nonexistent", "--payload", "{}").returncode == 1
    assert run("invoke", "--model", DIGITS, "--payload", "{}", "--memory", "1").returncode == 2
    # A model that cannot start: exit 1 with the platform's reason.
    r = run("invoke", "--model", EXAMPLES, "--payload", "{}")
    assert r.returncode == 1 and "init_failed" in r.stderr + r.stdout


def test_invoke_platform_goes_through_a_running_modelfn_up(up, tmp_path):
    store = tmp_path / "models"
    push(store, DIGITS, "digits", "1.0.0")
    u = up(config(store, [fn_config("digits")]))
    r = run("invoke", "digits", "--platform", "-f", u.config, "--event", INFER)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["outputs"]["label"]
    r = run("invoke", "digits", "--platform", "--url", u.url, "--event", INFER, "--async", "--json")
    out = json.loads(r.stdout)
    assert out["status"] == 202 and len(out["payload"]["id"]) == 32
    r = run("invoke", "nope", "--platform", "--url", u.url, "--event", INFER)
    assert r.returncode == 1


def _peak_rss_invoke(event, env):
    """Runs `modelfn invoke` on an event and returns (exit code, stdout, the peak RSS in KiB of its
    process tree: modelfn invoke and the function it runs)."""
    import sys
    probe = ("import json, resource, subprocess, sys\n"
             "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "print(json.dumps([r.returncode, r.stdout + r.stderr,"
             " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n")
    r = subprocess.run([sys.executable, "-c", probe, str(CLI), "invoke", "--model", str(DIGITS),
                        "--payload", json.dumps(event), "--timeout", "300"],
                       capture_output=True, text=True, env=env, timeout=600)
    return json.loads(r.stdout)


def test_a_large_rows_object_is_scored_in_bounded_memory(tmp_path):
    """A JSON-lines object 64x larger than another is scored row by row: every row has its result,
    and the peak memory of the function grows by far less than the object (it is streamed through
    a temporary file a chunk of rows at a time, never held)."""
    import os
    from servers import SeaweedS3
    rows = json.loads(INFER.read_text())["inputs"]
    block = ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
    s3 = SeaweedS3()
    try:
        bucket = s3.bucket("rows")
        c = s3.client()
        env = {**os.environ, **s3.env(), "TMPDIR": str(tmp_path)}
        # Under AddressSanitizer freed memory waits in a quarantine (256 MB by default) before it
        # is reused, which the RSS would show instead of what is live: keep it small.
        env["ASAN_OPTIONS"] = ":".join(x for x in (os.environ.get("ASAN_OPTIONS", ""),
                                                   "quarantine_size_mb=4") if x)
        peaks = {}
        for mb in (1, 64):
            path = tmp_path / f"in-{mb}.jsonl"
            with open(path, "wb") as f:
                while f.tell() < mb << 20:
                    f.write(block)
            n = path.stat().st_size // len(block) * len(rows)
            key = f"incoming/rows-{mb}.jsonl"
            c.upload_file(str(path), bucket, key)
            path.unlink()
            etag = c.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
            event = json.loads(cli("generate-event", "s3", "put", "--bucket", bucket, "--key", key,
                                   "--etag", etag).stdout)
            rc, out, peaks[mb] = _peak_rss_invoke(event, env)
            assert rc == 0, out
            summary = json.loads(out.splitlines()[0])
            assert summary["processed"] == 1 and summary["rows"] == n and summary["rows_failed"] == 0
            body = c.get_object(Bucket=bucket, Key=f"results/rows-{mb}.jsonl.{etag}.jsonl")["Body"]
            count = 0
            for count, line in enumerate(body.iter_lines(), 1):
                pass
            assert count == n
            assert json.loads(line)["row"] == n - 1
        assert peaks[64] - peaks[1] < 16 * 1024, peaks  # KiB: the 63 MiB more are not in memory
    finally:
        s3.stop()

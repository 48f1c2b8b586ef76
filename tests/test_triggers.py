"""Upload triggers in `modelfn up` against a real S3-compatible server (SeaweedFS): each new object
under the watched prefix reaches the lambda-mode function as an S3 ObjectCreated event, once per
version; its results land in the output prefix, a bad file in the failure prefix with its reason;
a platform killed with SIGKILL and started again delivers nothing twice and loses nothing."""
import json
import os
import signal
import time

import pytest

from conftest import EXAMPLES
from servers import SeaweedS3
from up_harness import Up, config, fn_config, push

ROWS = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())["inputs"]


@pytest.fixture(scope="module")
def s3():
    server = SeaweedS3()
    yield server
    server.stop()


def keys(c, bucket, prefix):
    out = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def wait_for(pred, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.25)


def test_new_objects_are_scored_once_each_through_s3_events(s3, tmp_path):
    c = s3.client()
    bucket = s3.bucket("uploads")
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    for i in range(6):
        body = "\n".join(json.dumps(r) for r in ROWS[i:i + 2]) + "\n"  # a row per line
        c.put_object(Bucket=bucket, Key=f"incoming/batch-{i}.jsonl", Body=body.encode())
    c.put_object(Bucket=bucket, Key="incoming/broken.jsonl", Body=b'[1, 2]\n')
    c.put_object(Bucket=bucket, Key="incoming/notes.txt", Body=b"not watched")
    text = config(store, [fn_config("digits", max_instances=2)], extra=(
        "triggers:\n"
        f"  - {{function: digits, source: 's3://{bucket}/incoming/', suffix: .jsonl,\n"
        "      output: results/, failure: failed/, poll_s: 0.2}\n"))
    d = tmp_path / "platform"
    d.mkdir()
    u = Up(d, text, env=s3.env())
    try:
        results = wait_for(lambda: len(keys(c, bucket, "results/")) == 6 and
                           len(keys(c, bucket, "failed/")) == 1 and keys(c, bucket, "results/"))
        assert all(k.startswith("results/batch-") and k.endswith(".jsonl") for k in results)
        lines = c.get_object(Bucket=bucket, Key=results[0])["Body"].read().decode().splitlines()
        assert [json.loads(x)["row"] for x in lines] == [0, 1]  # a result per input row
        assert all("label" in json.loads(x)["outputs"] for x in lines)
        failed = keys(c, bucket, "failed/")[0]
        assert failed.startswith("failed/broken.jsonl.") and failed.endswith(".error.json")
        record = json.loads(c.get_object(Bucket=bucket, Key=failed)["Body"].read())
        assert record["error"]["code"] == "rows_failed"
        assert record["failed_rows"][0]["code"] == "shape_mismatch"
        trig = u.function("digits")["async"]["trigger"]
        assert trig["delivered"] == 7 and trig["source"] == f"s3://{bucket}/incoming/"
        wait_for(lambda: u.function("digits")["async"]["trigger"]["scans"] >= 3)
        assert u.function("digits")["async"]["trigger"]["delivered"] == 7  # rescans add nothing
    finally:
        os.kill(u.proc.pid, signal.SIGKILL)
        u.proc.wait(30)
    # Started again: the objects already delivered are not delivered again; a new one and a new
    # version of an old one are.
    c.put_object(Bucket=bucket, Key="incoming/batch-new.jsonl",
                 Body=(json.dumps(ROWS[0]) + "\n").encode())
    c.put_object(Bucket=bucket, Key="incoming/batch-0.jsonl",
                 Body=(json.dumps(ROWS[5]) + "\n").encode())
    u2 = Up(d, text, env=s3.env())
    try:
        wait_for(lambda: len(keys(c, bucket, "results/")) == 8)
        wait_for(lambda: u2.function("digits")["async"]["trigger"]["scans"] >= 3)
        trig = u2.function("digits")["async"]["trigger"]
        assert trig["delivered"] == 2 and trig["duplicates"] >= 7
        assert u2.function("digits")["async"]["failed"] == 0
    finally:
        u2.stop()


def test_trigger_mistakes_are_named(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    for trig, want in [
        ("{function: nope, source: 's3://b/in/'}", "triggers[0].function: no function named"),
        ("{function: digits, source: 'ftp://b/in/'}", "triggers[0].source: expected s3://"),
        ("{function: digits, source: '/'}", "triggers[0].source: must be a folder below another"),
        ("{function: digits, source: 'az://c/in/'}",
         "triggers[0].function: an az:// trigger delivers Azure blob invocations"),
        ("{function: digits, source: 's3://b/in/', output: ../../etc/}",
         "triggers[0].output: must be a prefix of the source's bucket"),
        ("{function: digits, source: 'gs://b/in/'}",
         "triggers[0].function: a gs:// trigger delivers CloudEvents"),
        ("{function: digits, source: 's3://b/in/', output: 's3://other/out/'}",
         "triggers[0].output: must be in the source's bucket"),
        ("{function: digits, source: 's3://b/in/', output: in/}",
         "triggers[0].output: must be a prefix other than the source's"),
    ]:
        u = up(config(store, [fn_config("digits")], extra=f"triggers:\n  - {trig}\n"),
               expect_failure=True)
        assert want in u.stderr.decode(), u.stderr


def test_new_objects_in_cloud_storage_reach_a_cloudevents_function(tmp_path):
    from servers import FakeGcs
    gcs = FakeGcs()
    try:
        bucket = gcs.bucket("uploads")
        b = gcs.client().bucket(bucket)
        for i in range(4):
            b.blob(f"incoming/part-{i}.jsonl").upload_from_string(
                "\n".join(json.dumps(r) for r in ROWS[i:i + 2]) + "\n")
        b.blob("incoming/broken.jsonl").upload_from_string("[1, 2]\n")
        store = tmp_path / "models"
        push(store, EXAMPLES / "digits", "digits", "1.0.0")
        text = config(store, [fn_config("digits", face="cloudevents", concurrency=4)], extra=(
            "triggers:\n"
            f"  - {{function: digits, source: 'gs://{bucket}/incoming/', output: results/,\n"
            "      failure: failed/, poll_s: 0.2}\n"))
        d = tmp_path / "platform"
        d.mkdir()
        u = Up(d, text, env=gcs.env())
        try:
            def names(prefix):
                return sorted(x.name for x in gcs.client().list_blobs(bucket, prefix=prefix))
            wait_for(lambda: len(names("results/")) == 4 and len(names("failed/")) == 1)
            assert all(n.startswith("results/part-") for n in names("results/"))
            assert "shape_mismatch" in b.blob(names("failed/")[0]).download_as_text()
            trig = u.function("digits")["async"]["trigger"]
            assert trig["source"] == f"gs://{bucket}/incoming/" and trig["delivered"] == 5
        finally:
            u.stop()
    finally:
        gcs.stop()


def test_new_blobs_in_azurite_reach_an_azure_function(tmp_path):
    """az://: each new blob reaches a `face: azure` function as the blob trigger invocation the
    Functions host would post to its custom handler, which scores it into results/."""
    from servers import Azurite
    az = Azurite()
    try:
        container = az.bucket("uploads")
        cc = az.client().get_container_client(container)
        for i in range(3):
            cc.upload_blob(f"incoming/part-{i}.jsonl",
                           "\n".join(json.dumps(r) for r in ROWS[i:i + 2]) + "\n")
        cc.upload_blob("incoming/broken.jsonl", "[1, 2]\n")
        store = tmp_path / "models"
        push(store, EXAMPLES / "digits", "digits", "1.0.0")
        text = config(store, [fn_config("digits", face="azure", concurrency=4)], extra=(
            "triggers:\n"
            f"  - {{function: digits, source: 'az://{container}/incoming/', output: results/,\n"
            "      failure: failed/, poll_s: 0.2}\n"))
        d = tmp_path / "platform"
        d.mkdir()
        u = Up(d, text, env=az.env())
        try:
            def names(prefix):
                return sorted(b.name for b in cc.list_blobs(name_starts_with=prefix))
            wait_for(lambda: len(names("results/")) == 3 and len(names("failed/")) == 1)
            first = cc.download_blob(names("results/")[0]).readall().decode().splitlines()
            assert [json.loads(x)["row"] for x in first] == [0, 1]
            record = json.loads(cc.download_blob(names("failed/")[0]).readall())
            assert record["input"] == "incoming/broken.jsonl"
            assert record["failed_rows"][0]["code"] == "shape_mismatch"
            trig = u.function("digits")["async"]["trigger"]
            assert trig["source"] == f"az://{container}/incoming/" and trig["delivered"] == 4
            assert u.function("digits")["async"]["failed"] == 0  # every invocation answered
        finally:
            u.stop()
    finally:
        az.stop()


def test_new_files_in_a_folder_are_scored_in_every_format(tmp_path):
    """A folder source: its parent is the bucket (results/ and failed/ beside it), and the event is
    the function's face's: an S3 event for a lambda-mode function, a CloudEvent for a cloudevents
    one. JSON lines, CSV and .npy files get results of their own family; a platform killed with
    SIGKILL and started again delivers only what is new."""
    import io

    import numpy as np
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    d = tmp_path / "platform"
    inbox = d / "uploads" / "incoming"
    inbox.mkdir(parents=True)
    (d / "photos" / "new").mkdir(parents=True)
    (inbox / "a.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS[:3]) + "\n")
    (inbox / "b.csv").write_text(",".join(f"p{i}" for i in range(64)) + "\n" +
                                 "\n".join(",".join(str(v) for v in r) for r in ROWS[3:5]) + "\n" +
                                 "1,2,3\n")
    buf = io.BytesIO()
    np.save(buf, np.array(ROWS[5:8], np.float32))
    (inbox / "c.npy").write_bytes(buf.getvalue())
    (d / "photos" / "new" / "d.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    text = config(store, [fn_config("digits"), fn_config("events", model="digits", face="cloudevents")],
                  extra=("triggers:\n"
                         "  - {function: digits, source: ./uploads/incoming, output: results, "
                         "failure: failed, poll_s: 0.2}\n"
                         "  - {function: events, source: ./photos/new/, output: done/, poll_s: 0.2}\n"))
    u = Up(d, text)
    try:
        results = d / "uploads" / "results"
        wait_for(lambda: results.is_dir() and len(list(results.iterdir())) == 3)
        got = {p.name.split(".")[0]: p for p in results.iterdir()}
        assert got["a"].name.endswith(".jsonl") and got["b"].name.endswith(".csv")
        assert got["c"].name.endswith(".npz")
        assert len(got["a"].read_text().splitlines()) == 3
        csv_lines = got["b"].read_text().splitlines()
        assert csv_lines[0].startswith('row,"label","probabilities_0"') and len(csv_lines) == 4
        assert csv_lines[3].startswith("2,,") and "invalid_request" in csv_lines[3]  # 3 fields
        npz = np.load(got["c"])
        assert npz["label"].shape == (3,) and npz["row_ok"].all()
        failed = list((d / "uploads" / "failed").iterdir())
        assert len(failed) == 1 and json.loads(failed[0].read_text())["rows_failed"] == 1
        wait_for(lambda: (d / "photos" / "done").is_dir() and
                 len(list((d / "photos" / "done").iterdir())) == 1)
        assert u.function("digits")["async"]["trigger"]["source"].startswith("file://")
    finally:
        os.kill(u.proc.pid, signal.SIGKILL)
        u.proc.wait(30)
    (inbox / "e.jsonl").write_text(json.dumps(ROWS[1]) + "\n")
    u2 = Up(d, text)
    try:
        wait_for(lambda: len(list(results.iterdir())) == 4)
        wait_for(lambda: u2.function("digits")["async"]["trigger"]["scans"] >= 3)
        trig = u2.function("digits")["async"]["trigger"]
        assert trig["delivered"] == 1 and trig["duplicates"] >= 3
    finally:
        u2.stop()


def test_a_store_the_function_cannot_reach_delays_deliveries_and_loses_none(tmp_path):
    """The function's way to the bucket is cut (a proxy refusing connections) while the platform
    still lists it: each delivery fails without a failure record and is delivered again, past
    max_retries, until the store is back; then every object has its one result."""
    from servers import TcpProxy
    s3 = SeaweedS3()
    proxy = TcpProxy(s3.s3)
    try:
        c = s3.client()
        bucket = s3.bucket("outage")
        store = tmp_path / "models"
        push(store, EXAMPLES / "digits", "digits", "1.0.0")
        proxy.down()
        n = 8
        for i in range(n):
            c.put_object(Bucket=bucket, Key=f"incoming/o-{i}.jsonl",
                         Body=(json.dumps(ROWS[i]) + "\n").encode())
        fn = fn_config("digits", env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"},
                       **{"async": {"max_retries": 1, "retry_base_s": 0.2, "retry_cap_s": 1}})
        text = config(store, [fn], extra=(
            "triggers:\n"
            f"  - {{function: digits, source: 's3://{bucket}/incoming/', output: results/,\n"
            "      failure: failed/, poll_s: 0.2}\n"))
        d = tmp_path / "platform"
        d.mkdir()
        u = Up(d, text, env=s3.env())
        try:
            # Every delivery queued and retried past max_retries while the store is cut off.
            wait_for(lambda: u.function("digits")["async"]["retried"] >= 2 * n)
            a = u.function("digits")["async"]
            assert a["failed"] == 0 and a["succeeded"] == 0, a
            assert keys(c, bucket, "results/") == [] and keys(c, bucket, "failed/") == []
            proxy.up()
            wait_for(lambda: len(keys(c, bucket, "results/")) == n)
            a = u.function("digits")["async"]
            wait_for(lambda: u.function("digits")["async"]["succeeded"] == n)
            assert u.function("digits")["async"]["failed"] == 0
            assert keys(c, bucket, "failed/") == []
        finally:
            u.stop()
    finally:
        proxy.down()
        s3.stop()


def test_objects_uploaded_across_kills_and_a_store_outage_each_get_one_result():
    """bench/trigger_soak.py at CI size (docs/events.md has the 1,000-object figure): objects
    uploaded while the platform is killed with SIGKILL twice and started again, then the bucket's
    server killed and started again while the backlog is scored; every object ends with exactly
    one result and no failure record (the script checks and exits 1 otherwise)."""
    import subprocess
    import sys
    root = EXAMPLES.parent
    r = subprocess.run([sys.executable, str(root / "bench" / "trigger_soak.py"), "--n", "120",
                        "--kills", "2", "--outage-s", "3", "--rows", "50"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "every object has exactly one result, none failed" in r.stdout

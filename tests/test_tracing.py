"""Traces of requests through `modelfn up`, exported with OTLP over HTTP to a real Jaeger (v2, built
from the Go module proxy by scripts/setup.sh) and read back from its query API: one trace per
request, the gateway's spans and the instance's, with the cold start's init under the first."""
import json
import time

import pytest
import requests

from conftest import EXAMPLES
from servers import Jaeger
from up_harness import config, fn_config, push

INFER = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"


@pytest.fixture(scope="module")
def jaeger():
    j = Jaeger()
    yield j
    j.stop()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = tmp_path_factory.mktemp("tracing") / "models"
    push(s, EXAMPLES / "digits", "digits", "1.0.0")
    return s


def wait_trace(jaeger, trace_id, want_spans, timeout=30):
    deadline = time.monotonic() + timeout
    spans = {}
    while time.monotonic() < deadline:
        spans = jaeger.trace(trace_id)
        if len(spans) >= want_spans:
            return spans
        time.sleep(0.2)
    raise AssertionError(f"trace {trace_id}: {len(spans)} spans, wanted {want_spans}: {spans}")


def by_name(spans, service, name):
    found = [(sid, s) for sid, s in spans.items() if s[0] == service and s[1] == name]
    assert len(found) == 1, (service, name, spans)
    return found[0]


@pytest.mark.parametrize("mode", ["lambda", "http"])
def test_a_cold_request_is_one_trace_from_the_gateway_to_the_run(up, store, jaeger, mode):
    trace_id = CLIENT_TRACE[:-2] + ("01" if mode == "lambda" else "02")
    u = up(config(store, [fn_config("digits", mode=mode, start="exec")]),
           env={"MODELFN_OTLP_ENDPOINT": jaeger.otlp_endpoint})
    r = u.post("/v1/models/digits/infer", INFER,
               headers={"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"})
    assert r.status_code == 200, r.text
    assert r.headers["X-Modelfn-Cold-Start"] == "true"
    spans = wait_trace(jaeger, trace_id, 12)
    root_id, root = by_name(spans, "modelfn-gateway", "POST /v1/models/digits/infer")
    assert root[2] == CLIENT_SPAN  # under the client's span
    assert root[3]["http.response.status_code"] == 200
    assert root[3]["modelfn.request_id"] == r.headers["X-Request-Id"]
    stages_id, stages = by_name(spans, "modelfn-gateway", "gateway stages")
    fwd_id, fwd = by_name(spans, "modelfn-gateway", "forward")
    assert stages[2] == root_id and fwd[2] == root_id
    assert fwd[3]["faas.coldstart"] is True
    _, wait = by_name(spans, "modelfn-gateway", "queue wait")
    assert wait[2] == fwd_id
    # The instance's spans, under the forward (through traceparent, or Lambda's X-Ray header).
    server_id, server = by_name(spans, "digits", "POST /v1/infer")
    assert server[2] == fwd_id
    assert server[3]["faas.coldstart"] is True and server[3]["modelfn.model"] == "digits"
    for name in ("decode", "run", "encode"):
        assert by_name(spans, "digits", name)[1][2] == server_id
    assert by_name(spans, "digits", "run")[1][3]["modelfn.batch_rows"] == len(INFER["inputs"])
    init_id, init = by_name(spans, "digits", "init")
    assert init[2] == server_id
    phases = {s[1] for s in spans.values() if s[2] == init_id}
    assert {"session", "warmup"} <= phases, phases  # an exec'd instance reports its init phases
    fetch = [s for s in spans.values() if s[1] == "model fetch"]
    assert all(s[3]["modelfn.cache"] in ("hit", "miss", "offline") for s in fetch), fetch
    # The instance's request log line names the trace.
    log = (u.dir / ".modelfn" / "logs" / "digits.log").read_text().splitlines()
    req = [json.loads(x) for x in log if '"event":"request"' in x]
    assert req[0]["trace_id"] == trace_id
    # A warm request: its own trace, no init.
    warm_id = CLIENT_TRACE[:-2] + ("11" if mode == "lambda" else "12")
    r = u.post("/v1/models/digits/infer", INFER,
               headers={"traceparent": f"00-{warm_id}-{CLIENT_SPAN}-01"})
    assert r.headers["X-Modelfn-Cold-Start"] == "false"
    warm = wait_trace(jaeger, warm_id, 8)
    assert not [s for s in warm.values() if s[1] == "init"]
    assert by_name(warm, "modelfn-gateway", "forward")[1][3]["faas.coldstart"] is False


def test_the_gateway_starts_a_trace_and_honours_the_sampling(up, store, jaeger):
    # No traceparent: the gateway starts the trace; find it by the request id.
    u = up(config(store, [fn_config("digits", mode="http", concurrency=2)]),
           env={"MODELFN_OTLP_ENDPOINT": jaeger.otlp_endpoint})
    r = u.post("/v1/models/digits/infer", INFER)
    rid = r.headers["X-Request-Id"]
    deadline = time.monotonic() + 30
    found, services = [], set()
    # Each process exports its own spans: wait for both to be in the trace.
    while services != {"modelfn-gateway", "digits"} and time.monotonic() < deadline:
        found = jaeger.traces_of("modelfn-gateway", {"modelfn.request_id": rid})
        services = {p["serviceName"] for t in found for p in t["processes"].values()}
        time.sleep(0.2)
    assert len(found) == 1
    assert services == {"modelfn-gateway", "digits"}
    # A client that says "not sampled" is obeyed, at every hop.
    unsampled = "1" * 32
    r = u.post("/v1/models/digits/infer", INFER,
               headers={"traceparent": f"00-{unsampled}-{CLIENT_SPAN}-00"})
    assert r.status_code == 200
    # Sampling 0: the gateway starts no sampled trace and nothing reaches Jaeger.
    v = up(config(store, [fn_config("digits", mode="http")]),
           env={"MODELFN_OTLP_ENDPOINT": jaeger.otlp_endpoint, "MODELFN_TRACE_SAMPLE": "0"})
    r0 = v.post("/v1/models/digits/infer", INFER)
    rid0 = r0.headers["X-Request-Id"]
    # A sampled request after both, through the first platform: once it is in Jaeger, whatever
    # the other two would have sent is too (one exporter per process, sent in order).
    marker = "2" * 32
    u.post("/v1/models/digits/infer", INFER, headers={"traceparent": f"00-{marker}-{CLIENT_SPAN}-01"})
    wait_trace(jaeger, marker, 8)
    v.stop()  # its exporters flush at exit
    assert jaeger.trace(unsampled) == {}
    assert jaeger.traces_of("modelfn-gateway", {"modelfn.request_id": rid0}) == []


def test_an_asynchronous_invocation_runs_in_the_trace_that_submitted_it(up, store, jaeger):
    trace_id = "3" * 32
    u = up(config(store, [fn_config("digits", mode="http")]),
           env={"MODELFN_OTLP_ENDPOINT": jaeger.otlp_endpoint})
    r = requests.post(f"{u.url}/v1/async/digits", data=json.dumps(INFER), timeout=30,
                      headers={"Content-Type": "application/json",
                               "traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"})
    assert r.status_code == 202, r.text
    spans = wait_trace(jaeger, trace_id, 2)
    deadline = time.monotonic() + 30
    while not [s for s in spans.values() if s[0] == "digits" and s[1] == "POST /v1/infer"]:
        assert time.monotonic() < deadline, spans
        time.sleep(0.2)
        spans = jaeger.trace(trace_id)
    submit_id, submit = by_name(spans, "modelfn-gateway", "POST /v1/async/digits")
    assert submit[2] == CLIENT_SPAN
    run_id, run = by_name(spans, "digits", "POST /v1/infer")
    assert run[2] == submit_id  # the later run hangs under the submission


def test_metrics_carry_trace_ids_as_openmetrics_exemplars(up, store, jaeger):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    trace_id = "4" * 32
    u = up(config(store, [fn_config("digits", mode="http")]),
           env={"MODELFN_OTLP_ENDPOINT": jaeger.otlp_endpoint})
    assert u.post("/v1/models/digits/infer", INFER,
                  headers={"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"}).status_code == 200
    r = u.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}  # the strict parser
    buckets = [s for s in families["modelfn_gateway_request_duration_seconds"].samples
               if s.name.endswith("_bucket") and s.exemplar is not None]
    assert [s.exemplar.labels["trace_id"] for s in buckets] == [trace_id]
    assert 0 < buckets[0].exemplar.value < 60
    assert families["modelfn_gateway_requests"].type == "counter"
    # Without asking: the Prometheus text format, which has no exemplars.
    plain = u.get("/metrics")
    assert plain.headers["Content-Type"].startswith("text/plain") and "# {" not in plain.text


def test_each_object_a_trigger_delivers_is_a_trace_with_its_runs(up, store, jaeger, tmp_path):
    """A folder trigger: the platform starts a trace per delivered object (its span names the
    object), and the instance's scoring of it (each chunk's Runs) hangs under it."""
    d = tmp_path / "p"
    inbox = d / "uploads" / "incoming"
    inbox.mkdir(parents=True)
    (inbox / "a.jsonl").write_text("\n".join(json.dumps(r) for r in INFER["inputs"]) + "\n")
    from up_harness import Up
    text = config(store, [fn_config("digits", mode="lambda")], extra=(
        "triggers:\n  - {function: digits, source: ./uploads/incoming/, output: results/, "
        "poll_s: 0.2}\n"))
    u = Up(d, text, env={"MODELFN_OTLP_ENDPOINT": jaeger.otlp_endpoint})
    try:
        deadline = time.monotonic() + 30
        found = []
        while time.monotonic() < deadline:
            found = [t for t in jaeger.traces_of("modelfn-gateway")
                     if any(s["operationName"].startswith("trigger file://") and
                            s["operationName"].endswith("/incoming/a.jsonl") for s in t["spans"])
                     and any(t["processes"][s["processID"]]["serviceName"] == "digits"
                             for s in t["spans"])]
            if found:
                break
            time.sleep(0.3)
        assert found, "no trace of the delivery"
        spans = jaeger.trace(found[0]["traceID"])
        trig_id = [sid for sid, s in spans.items() if s[1].startswith("trigger ")][0]
        runs = [s for s in spans.values() if s[0] == "digits" and s[1] == "POST /v1/batch"]
        assert runs and all(s[2] == trig_id for s in runs)  # the chunks' Runs, under the object
        assert runs[0][3]["modelfn.request_id"].startswith("s3:incoming/a.jsonl")
    finally:
        u.stop()

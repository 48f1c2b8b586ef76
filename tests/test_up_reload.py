"""Graceful reload of modelfn.yaml on SIGHUP: new settings for new requests, requests in flight
finish under the settings they started with, and a configuration that is invalid (or changes
what only a restart can) is refused with the running one kept."""
import signal
import threading

import requests
import pytest

from up_harness import WORK_MODEL, config, fn_config, push, work_body

VERY_SLOW = 60000  # loops of the work model: seconds on one core


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = tmp_path_factory.mktemp("reload-store") / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    push(s, WORK_MODEL, "work", "2.0.0", promote=False)
    return s


def reload(u, text, event):
    """Writes the new modelfn.yaml, sends SIGHUP and returns the log line the reload produced."""
    seen = len(u.lines)
    u.config.write_text(text)
    u.proc.send_signal(signal.SIGHUP)
    line = u.wait_for(lambda l: l.get("event") == event and u.lines.index(l) >= seen, 20)
    assert line is not None, f"no {event} line after SIGHUP"
    return line


def preflight(u, origin):
    return requests.options(u.url + "/v1/models/work/infer", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})


def test_sighup_applies_new_settings_to_new_requests_only(up, store):
    def text(origin, weights):
        return config(store, [fn_config(traffic={"work@1.0.0": weights[0], "work@2.0.0": weights[1]},
                                        max_instances=2, timeout_s=120)],
                      gateway=f"  cors: {{origins: [{origin}]}}\n")

    u = up(text("https://a.example", (100, 0)))
    assert preflight(u, "https://a.example").status_code == 204
    assert preflight(u, "https://b.example").status_code == 403
    versions = {u.post("/v1/models/work/infer", work_body()).headers["X-Modelfn-Version"]
                for _ in range(5)}
    assert versions == {"1.0.0"}

    # A request under way when the reload lands.
    in_flight = {}

    def slow():
        in_flight["r"] = u.post("/v1/models/work/infer", work_body(loops=VERY_SLOW),
                                headers={"Origin": "https://a.example"})

    t = threading.Thread(target=slow)
    t.start()
    u.wait_until(lambda: any(i["state"] == "busy" for i in u.instances("work")), timeout=30)

    reload(u, text("https://b.example", (0, 100)), "reload")
    assert preflight(u, "https://b.example").status_code == 204
    assert preflight(u, "https://a.example").status_code == 403
    versions = {u.post("/v1/models/work/infer", work_body()).headers["X-Modelfn-Version"]
                for _ in range(5)}
    assert versions == {"2.0.0"}
    weights = {v["version"]: v["weight"] for v in u.function("work")["versions"]}
    assert weights == {"1.0.0": 0, "2.0.0": 100}

    assert "r" not in in_flight, "the slow request finished before the reload; make it slower"
    t.join(120)
    r = in_flight["r"]
    assert r.status_code == 200, r.text
    assert r.headers["X-Modelfn-Version"] == "1.0.0"
    # It finished under the settings it started with.
    assert r.headers["Access-Control-Allow-Origin"] == "https://a.example"


def test_invalid_or_restart_only_config_is_refused_and_the_old_one_kept(up, store):
    good = config(store, [fn_config(max_instances=2)],
                  gateway="  cors: {origins: [https://a.example]}\n")
    u = up(good)
    line = reload(u, good.replace("max_instances: 2", "max_instances: oops"), "reload_refused")
    assert "max_instances" in line["error"] and line["level"] == "error"
    line = reload(u, "store: [unclosed\n", "reload_refused")
    assert line["level"] == "error"
    line = reload(u, good.replace("max_instances: 2", "max_instances: 3")
                  .replace("a.example", "b.example"), "reload_refused")
    assert "functions.work.max_instances" in line["error"] and "restart" in line["error"]
    # Nothing of the refused files applies: the running configuration is served.
    assert preflight(u, "https://a.example").status_code == 204
    assert preflight(u, "https://b.example").status_code == 403
    assert u.function("work")["max_instances"] == 2
    assert u.post("/v1/models/work/infer", work_body()).status_code == 200
    # And a valid reload after refusals still applies.
    reload(u, good.replace("a.example", "b.example"), "reload")
    assert preflight(u, "https://b.example").status_code == 204

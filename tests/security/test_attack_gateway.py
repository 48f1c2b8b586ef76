"""Attacks on the gateway found by replaying requests against the hardened build: each test
replays the request and asserts the safe outcome."""
import http.client
import json
import urllib.parse

import pytest

from up_harness import WORK_MODEL, Up, cli, config, fn_config, push, work_body


@pytest.fixture(scope="module")
def keyed_lambda(tmp_path_factory):
    """A platform with API keys and one lambda-mode function; yields (Up, a valid key)."""
    store = tmp_path_factory.mktemp("atk-gw-store") / "models"
    push(store, WORK_MODEL, "work", "1.0.0")
    d = tmp_path_factory.mktemp("atk-gw")
    u = Up(d, config(store, [fn_config("work", mode="lambda")],
                     gateway="  auth: {api_keys: true}\n"))
    key = json.loads(cli("keys", "create", "--name", "k", "--json", "-f", u.config).stdout)["key"]
    yield u, key
    u.stop()


@pytest.mark.parametrize("field", ["Accept", "User-Agent", "Inference-Header-Content-Length"])
def test_a_repeated_forwarded_field_does_not_break_a_lambda_function(keyed_lambda, field):
    # Repeated fields are legal HTTP (RFC 9110 section 5.3). The lambda event used to carry
    # each as its own key, so the runtime refused the event as JSON with a duplicate key and the
    # client got 502 function_error for a valid request.
    u, key = keyed_lambda
    body = json.dumps(work_body()).encode()
    headers = [("X-Api-Key", key), ("Content-Type", "application/json"), (field, "1"),
               (field, "2")]
    p = urllib.parse.urlparse(u.url)
    c = http.client.HTTPConnection(p.hostname, p.port, timeout=30)
    c.putrequest("POST", "/v1/models/work/infer", skip_accept_encoding=True)
    for k, v in headers:
        c.putheader(k, v)
    c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    assert r.status == 200, text
    assert json.loads(text)["outputs"]["y"] == [[1, 2, 3, 4]]

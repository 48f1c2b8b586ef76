"""The live dashboard in Debian's Chromium (headless, driven by Playwright): it renders the
instances the platform really runs, and its charts follow traffic."""
import json
import os
import shutil

import pytest

from up_harness import WORK_MODEL, Up, cli, config, fn_config, push, work_body

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def platform(tmp_path):
    s = tmp_path / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    d = tmp_path / "p"
    d.mkdir()
    u = Up(d, config(s, [fn_config(min_instances=1, max_instances=3)]))
    yield u
    u.stop()


def test_dashboard_shows_instances_and_follows_traffic(platform, tmp_path):
    from playwright.sync_api import sync_playwright
    assert os.path.exists(CHROMIUM), "Debian's chromium is installed by scripts/setup.sh"
    platform.wait_until(lambda: platform.instances("work") and
                        platform.instances("work")[0]["state"] == "idle")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(platform.url + "/dashboard")
            page.wait_for_selector("#instances tbody tr", timeout=15000)
            rows = page.locator("#instances tbody tr")
            assert rows.count() == 1
            assert "work-1.0.0-1" in rows.first.inner_text()
            assert rows.first.locator(".state").inner_text() == "idle"
            for _ in range(5):
                assert platform.post("/v1/models/work/infer", work_body()).status_code == 200
            page.wait_for_function(
                "document.getElementById('summary').textContent.includes('5 requests')",
                timeout=15000)
            points = int(page.evaluate("document.body.dataset.points"))
            page.wait_for_function(f"Number(document.body.dataset.points) > {points}",
                                   timeout=15000)
            # The latency chart drew something: non-blank pixels in its canvas.
            drawn = page.evaluate("""() => {
                const c = document.getElementById('latency-chart');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                return n; }""")
            assert drawn > 100, drawn
            assert "work" in page.locator("#latency-legend").inner_text()
            page.screenshot(path=os.environ.get("MODELFN_DASHBOARD_PNG", str(tmp_path / "dashboard.png")))
            assert errors == []
        finally:
            browser.close()


@pytest.fixture
def keyed_platform(tmp_path):
    s = tmp_path / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    d = tmp_path / "p"
    d.mkdir()
    u = Up(d, config(s, [fn_config(min_instances=1, max_instances=2)],
                     gateway="  auth: {api_keys: true}\n"))
    u.key = json.loads(cli("keys", "create", "--name", "ops", "--json", "-f", u.config).stdout)["key"]
    yield u
    u.stop()


def test_dashboard_with_auth_asks_for_a_key_and_keeps_it_out_of_urls(keyed_platform):
    from playwright.sync_api import sync_playwright
    u = keyed_platform
    u.wait_until(lambda: u.function("work", {"X-Api-Key": u.key})["instances"] >= 1)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            status_calls = []
            page.on("request", lambda r: status_calls.append((r.url, r.headers))
                    if "/v1/status" in r.url else None)
            seen_urls = []
            page.on("request", lambda r: seen_urls.append(r.url))
            page.goto(u.url + "/dashboard")
            # Without credentials the page asks for them (the data routes answer 401).
            page.wait_for_selector("#login:not([hidden])", timeout=15000)
            assert "401" in page.locator("#updated").inner_text()
            assert page.locator("#instances tbody tr").count() == 0
            page.fill("#api-key", "mfn_wrong_" + "0" * 32)
            page.click("#login button[type=submit]")
            page.wait_for_function("document.getElementById('updated').textContent.includes('HTTP 401')",
                                   timeout=15000)
            page.fill("#api-key", u.key)
            page.click("#login button[type=submit]")
            page.wait_for_selector("#instances tbody tr", timeout=15000)
            assert "work-1.0.0-1" in page.locator("#instances tbody tr").first.inner_text()
            assert page.locator("#login").is_hidden()
            assert page.evaluate("sessionStorage.getItem('modelfn.api_key')") == u.key
            # A reload in the same tab keeps working from session storage.
            page.reload()
            page.wait_for_selector("#instances tbody tr", timeout=15000)
            calls_before = len(status_calls)
            page.wait_for_function(
                "Number(document.body.dataset.points) >= 2", timeout=15000)
            assert len(status_calls) > calls_before
            # Every fetch after login carried the key as a header; no URL ever held it.
            with_key = [h for _, h in status_calls if h.get("x-api-key") == u.key]
            assert len(with_key) >= 2
            assert all(u.key not in url for url in seen_urls + [page.url])
            assert errors == []
        finally:
            browser.close()


def test_dashboard_with_jwt_sends_a_bearer_token(tmp_path):
    import base64
    import time

    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from playwright.sync_api import sync_playwright
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = key.public_key().public_numbers().n
    jwks = {"keys": [{"kty": "RSA", "kid": "r1", "alg": "RS256", "e": "AQAB",
                      "n": base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big"))
                      .rstrip(b"=").decode()}]}
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    s = tmp_path / "models"
    push(s, WORK_MODEL, "work", "1.0.0")
    d = tmp_path / "p"
    d.mkdir()
    u = Up(d, config(s, [fn_config(min_instances=1)],
                     gateway=f"  auth: {{jwt: {{jwks: {tmp_path / 'jwks.json'}}}}}\n"))
    token = pyjwt.encode({"sub": "ops", "exp": int(time.time()) + 600}, key, algorithm="RS256",
                         headers={"kid": "r1"})
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM,
                                         args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            try:
                page = browser.new_page()
                auth_headers = []
                page.on("request", lambda r: auth_headers.append(r.headers.get("authorization"))
                        if "/v1/status" in r.url else None)
                page.goto(u.url + "/dashboard")
                page.wait_for_selector("#login:not([hidden])", timeout=15000)
                page.fill("#jwt", token)
                page.click("#login button[type=submit]")
                page.wait_for_selector("#instances tbody tr", timeout=15000)
                assert page.evaluate("sessionStorage.getItem('modelfn.jwt')") == token
                assert "Bearer " + token in auth_headers
                assert token not in page.url
            finally:
                browser.close()
    finally:
        u.stop()

"""The served /widget.js: one IIFE within the size budget, cached and compressed right.

These need no browser or database: the static routes alone, in a bare Starlette app.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from server.http import static

BUDGET = 15 * 1024


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(Starlette(routes=static.routes()))


def test_widget_within_gzip_budget(client: TestClient) -> None:
    r = client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    served = r.content  # httpx decodes; measure the bytes as they cross the wire too
    assert len(gzip.compress(served, 9)) <= BUDGET
    assert int(r.headers["content-length"]) <= BUDGET


def test_widget_headers_etag_and_identity(client: TestClient) -> None:
    plain = client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "max-age" in plain.headers["cache-control"]
    assert plain.headers["vary"] == "Accept-Encoding"
    again = client.get(
        "/widget.js",
        headers={"Accept-Encoding": "identity", "If-None-Match": plain.headers["etag"]},
    )
    assert again.status_code == 304
    zipped = client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["etag"] != plain.headers["etag"]


def test_widget_is_one_iife_loading_nothing_else(client: TestClient) -> None:
    body = client.get("/widget.js").text
    assert body.count("(function(){") == 1
    assert body.rstrip().endswith("})();")
    # Nothing from other hosts: no absolute URLs besides the SVG namespace, no imports.
    for needle in ("import(", "importScripts", "//cdn", "googleapis", "<link"):
        assert needle not in body
    assert "innerHTML" not in body and "insertAdjacentHTML" not in body
    assert "document.write" not in body


@pytest.mark.skipif(shutil.which("node") is None and not os.environ.get("CI"),
                    reason="node is not installed (under CI this test runs and fails instead)")
@pytest.mark.parametrize("path", ["/widget.js", "/console.js"])
def test_bundles_parse(client: TestClient, path: str, tmp_path: Path) -> None:
    target = tmp_path / "bundle.js"
    target.write_bytes(client.get(path).content)
    done = subprocess.run(["node", "--check", str(target)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("node") is None and not os.environ.get("CI"),
                    reason="node is not installed (under CI this test runs and fails instead)")
def test_backoff_is_steady_after_a_restart_then_exponential() -> None:
    """widget/shared/backoff.js: after 1012 ten tries 0.25-1.25 s apart, then full-jitter
    exponential from the fourth step; otherwise exponential from 0.5 s."""
    source = (static.WIDGET_DIR / "shared" / "backoff.js").read_text()
    script = source + """
    Math.random = () => 0.999;  // the top of every jitter window
    const restarted = createBackoff(500, 30000);
    restarted.restarting();
    const fresh = createBackoff(500, 30000);
    const take = (b, n) => Array.from({length: n}, () => Math.round(b.next()));
    console.log(JSON.stringify([take(restarted, 12), take(fresh, 3)]));
    """
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    restarted, fresh = json.loads(done.stdout)
    assert restarted == [1249] * 10 + [3996, 7992]
    assert fresh == [500, 999, 1998]


def test_pages_escape_query_values(client: TestClient) -> None:
    evil = '"><script>alert(1)</script>'
    r = client.get("/try", params={"site_key": evil, "title": evil, "color": evil})
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text
    assert "&quot;&gt;&lt;script&gt;" in r.text
    demo = client.get("/", params={"site_key": evil})
    assert "<script>alert(1)" not in demo.text


def test_demo_without_site_key_shows_a_note(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert "No demo organisation" in r.text
    assert "widget.js" not in r.text.split("<main>")[1].split("Optional attributes")[0]


def test_console_page_is_locked_down(client: TestClient) -> None:
    r = client.get("/console")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert client.get("/console.js").status_code == 200
    assert client.get("/console.css").status_code == 200

"""`clienta widget build`: a static folder for a CDN whose widget talks to the API origin
it was built for (or to the tag's data-server), from a page on another origin."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.async_api import expect

from server.embedded import free_port
from server.http.static import WIDGET_CACHE
from tests.browser.drivers import Visitor
from tests.support.api import OrgHandle
from tests.support.processes import ROOT

API = "https://api.example.com"


def build(out: Path, server: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "widget", "build", "--server", server,
         "--out", str(out), *extra], cwd=ROOT, capture_output=True, text=True, timeout=60)


def headers_of(config: dict, source: str) -> dict[str, str]:
    rule = next(r for r in config["headers"] if r["source"] == source)
    return {h["key"]: h["value"] for h in rule["headers"]}


def test_build_writes_the_folder_for_the_given_origin(tmp_path: Path) -> None:
    out = tmp_path / "site"
    done = build(out, API, "--site-key", "sk_demo")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {
        "widget.js", "console.js", "console.css", "console.html", "index.html", "vercel.json"}
    widget = (out / "widget.js").read_text()
    assert f'var CLIENTA_SERVER="{API}";' in widget
    assert '<meta name="clienta-server" content="https://api.example.com">' in (
        out / "console.html").read_text()
    assert 'data-site-key="sk_demo"' in (out / "index.html").read_text()
    config = json.loads((out / "vercel.json").read_text())
    assert headers_of(config, "/widget.js")["Cache-Control"] == WIDGET_CACHE
    for page in ("/console", "/"):
        csp = headers_of(config, page)["Content-Security-Policy"]
        assert f"connect-src 'self' {API} wss://api.example.com" in csp
        assert "frame-ancestors 'none'" in csp
    assert config["rewrites"] == [{"source": "/v1/:path*", "destination": f"{API}/v1/:path*"}]
    refused = build(tmp_path / "bad", "https://api.example.com/v1")
    assert refused.returncode == 2 and "origin only" in refused.stderr
    assert not (tmp_path / "bad").exists()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def cdn(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A tiny static server on another port (so another origin) serving tmp_path/cdn."""
    root = tmp_path / "cdn"
    root.mkdir()
    Quiet = functools.partial(QuietHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.browser
async def test_widget_from_a_cdn_talks_to_the_api(org: OrgHandle, new_context,
                                                  cdn: tuple[Path, str]) -> None:
    root, cdn_url = cdn
    # the folder is the site's root, as on Vercel
    assert build(root, org.base_url, "--site-key", org.site_key).returncode == 0
    # a build for another API, overridden by the tag's data-server
    assert build(root / "other", "https://api.invalid").returncode == 0
    (root / "other" / "page.html").write_text(
        f'<!doctype html><title>shop</title><script src="widget.js" '
        f'data-site-key="{org.site_key}" data-server="{org.base_url}" async></script>')
    for path in ("", "other/page.html"):
        page = await (await new_context()).new_page()
        v = Visitor(page, org.base_url, org.site_key)
        sockets: list[str] = []
        page.on("websocket", lambda ws, into=sockets: into.append(ws.url))
        await page.goto(f"{cdn_url}/{path}")
        await expect(v.launcher).to_be_visible()
        await v.open()
        await v.say("hello from a CDN page")
        await expect(v.bubbles("visitor")).to_have_count(1)
        await expect(v.bubbles("visitor").locator(".meta")).to_have_count(0)  # acked
        # the page is on the CDN's origin; its widget's socket on the API's
        assert sockets and all(url.startswith(org.base_url.replace("http", "ws", 1) + "/")
                               for url in sockets), sockets
        assert v.rec.errors == []

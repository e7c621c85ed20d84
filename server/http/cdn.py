"""`clienta widget build`: the widget, the agent console and the demo page as a static
folder for a CDN (Vercel), talking to an API served elsewhere, with a `vercel.json` that
sets their cache headers and CSPs and forwards the console's /v1/ calls to the API."""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import urlsplit

from server.http.static import (
    CONSOLE_SOURCES,
    REVALIDATE,
    WIDGET_CACHE,
    WIDGET_DIR,
    WIDGET_SOURCES,
    OmiseBrowser,
    bundle,
    embed_tag,
    minify_css,
    with_omise,
)


def api_origin(server: str) -> str:
    """`https://api.example.com` from what was given; refuses anything but an origin."""
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("--server must be an http(s) origin, like https://api.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("--server must be an origin only: no path, query or credentials")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def socket_origin(origin: str) -> str:
    return ("wss://" if origin.startswith("https:") else "ws://") + urlsplit(origin).netloc


def _headers(csp: str | None, cache: str, **extra: str) -> list[dict[str, str]]:
    out = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff", **extra}
    if csp:
        out |= {"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer"}
    return [{"key": key, "value": value} for key, value in out.items()]


def vercel_config(origin: str, omise: OmiseBrowser | None = None) -> dict:
    """Omise.js is allowed on the console only when the build was given it (OMISE_PUBLIC_KEY
    set where `clienta widget build` ran)."""
    connect = f"connect-src 'self' {origin} {socket_origin(origin)}"
    console_csp = with_omise("default-src 'none'; script-src 'self'; style-src 'self'; "
                             f"{connect}; img-src 'self' data:; base-uri 'none'; "
                             "form-action 'none'; frame-ancestors 'none'", omise)
    demo_csp = (f"default-src 'self'; style-src 'self' 'unsafe-inline'; {connect}; "
                "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'")
    widget = _headers(None, WIDGET_CACHE, **{
        # any site embeds it; sites that isolate themselves (COEP) too
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin"})
    return {
        "$schema": "https://openapi.vercel.sh/vercel.json",
        "cleanUrls": True,
        # the console's HTTP calls stay same-origin (its session cookie, its CSRF
        # check); its socket goes straight to the API, named in console.html
        "rewrites": [{"source": "/v1/:path*", "destination": f"{origin}/v1/:path*"}],
        "headers": [
            {"source": "/widget.js", "headers": widget},
            {"source": "/console", "headers": _headers(console_csp, REVALIDATE)},
            {"source": "/console.html", "headers": _headers(console_csp, REVALIDATE)},
            {"source": "/console.js", "headers": _headers(None, REVALIDATE)},
            {"source": "/console.css", "headers": _headers(None, REVALIDATE)},
            {"source": "/", "headers": _headers(demo_csp, "no-cache")},
            {"source": "/index.html", "headers": _headers(demo_csp, "no-cache")},
        ],
    }


def build(out: Path, server: str, *, site_key: str = "", root: Path = WIDGET_DIR,
          omise: OmiseBrowser | None = None) -> list[Path]:
    """Write the folder; return the files written."""
    origin = api_origin(server)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "widget.js": bundle(root, WIDGET_SOURCES, (root / "src/style.css").read_text("utf-8"),
                            server=origin),
        "console.js": bundle(root, CONSOLE_SOURCES),
        "console.css": minify_css((root / "console/console.css").read_text("utf-8")).encode(),
    }
    page = (root / "console/console.html").read_text("utf-8")
    meta = f'<meta name="clienta-server" content="{html.escape(origin)}">'
    files["console.html"] = page.replace("<head>", "<head>\n" + meta, 1).encode()
    if site_key:
        tag = embed_tag(site_key, {})
        embed = tag + f"\n<pre><code>{html.escape(tag)}</code></pre>"
    else:
        embed = ('<p class="note">Build with <code>--site-key</code> to embed an '
                 "organisation's widget here.</p>")
    demo = (root / "pages/demo.html").read_text("utf-8").replace("{{embed}}", embed)
    files["index.html"] = demo.encode()
    files["vercel.json"] = (json.dumps(vercel_config(origin, omise), indent=2) + "\n").encode()
    written = []
    for name, body in files.items():
        (out / name).write_bytes(body)
        written.append(out / name)
    return written

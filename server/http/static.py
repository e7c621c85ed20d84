"""Static side of the server: GET /widget.js, the demo page, /try and the agent console.

Everything under widget/ is read and bundled once, when routes() is called while the
app is built; requests only pick prebuilt bytes (identity or gzip) and compare ETags.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

WIDGET_DIR = Path(__file__).resolve().parents[2] / "widget"

# Concatenation order is the dependency order: each fragment only uses names from
# fragments above it (or calls them later, at run time). config.js goes first as it
# reads document.currentScript, which exists only while the script first runs.
WIDGET_SOURCES = (
    "src/config.js",
    "shared/codes.js",
    "shared/backoff.js",
    "shared/protocol.js",
    "shared/connection.js",
    "shared/format.js",
    "src/i18n.js",
    "src/store.js",
    "src/view.js",
    "src/privacy.js",
    "src/chat.js",
    "src/api.js",
)
CONSOLE_SOURCES = (
    "shared/codes.js",
    "shared/backoff.js",
    "shared/protocol.js",
    "shared/connection.js",
    "shared/format.js",
    "console/i18n.js",
    "console/http.js",
    "console/state.js",
    "console/view.js",
    "console/audit.js",
    "console/billing.js",
    "console/kb.js",
    "console/kb_ask.js",
    "console/team.js",
    "console/google.js",
    "console/history.js",
    "console/insights.js",
    "console/privacy.js",
    "console/policy.js",
    "console/auth.js",
    "console/settings_form.js",
    "console/settings.js",
    "console/prefs.js",
    "console/onboarding.js",
    "console/main.js",
)

JS = "text/javascript; charset=utf-8"
HTML = "text/html; charset=utf-8"
CSS_TYPE = "text/css; charset=utf-8"

# Short max-age: the embed URL is unversioned, so a release must reach sites within
# minutes; the ETag makes each revalidation a 304.
WIDGET_CACHE = "public, max-age=300, stale-while-revalidate=86400"
REVALIDATE = "no-cache"

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# Omise.js's address and its vault's (settings.billing.omise_browser): the billing page
# loads the script only when card payments by Omise are on, and the CSP allows it only then
OmiseBrowser = tuple[str, str]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _allow(csp: str, directive: str, source: str) -> str:
    """`csp` with `source` added to `directive` (the directive added if absent)."""
    rules = [r.strip() for r in csp.split(";")]
    for i, rule in enumerate(rules):
        if rule.split(" ", 1)[0] == directive:
            rules[i] = f"{rule} {source}"
            return "; ".join(rules)
    return "; ".join([*rules, f"{directive} {source}"])


def with_omise(csp: str, omise: OmiseBrowser | None) -> str:
    """The console's CSP, opened for Omise.js when the billing page may tokenize cards: the
    script's origin, and the vault the card goes to (Omise.js talks to it from a frame of
    the vault's, or calls it directly). Never our origin: the number never reaches us."""
    if omise is None:
        return csp
    script, vault = _origin(omise[0]), _origin(omise[1])
    for directive, source in (("script-src", script), ("frame-src", vault),
                              ("connect-src", vault)):
        csp = _allow(csp, directive, source)
    return csp


DEMO_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def minify_js(source: str) -> str:
    """Drops comment-only lines, blank lines and indentation.

    Safe because the sources keep to one rule: no string literal spans lines (the
    CSS, the only multi-line text, is injected separately as a JSON string).
    """
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(s for s in lines if s and not s.startswith("//"))


def minify_css(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r"\s+", " ", source)
    return re.sub(r"\s*([{};,>])\s*", r"\1", source).strip()


def bundle(root: Path, sources: tuple[str, ...], css: str | None = None,
           server: str = "") -> bytes:
    """One IIFE: the fragments share its scope and leak nothing but what they assign
    to window themselves (the widget: the Clienta global). The widget's `server` is the
    API origin a static build bakes in (empty: the origin it is served from)."""
    parts = ['/*! Clienta | AGPL-3.0-or-later */\n(function(){"use strict";']
    if css is not None:
        parts.append("var WIDGET_CSS=" + json.dumps(minify_css(css)) + ";")
        parts.append("var CLIENTA_SERVER=" + json.dumps(server) + ";")
    parts.extend(minify_js((root / name).read_text("utf-8")) for name in sources)
    parts.append("})();\n")
    return "\n".join(parts).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Asset:
    """Prebuilt bytes of one response, with a gzip twin and a strong ETag for each."""

    body: bytes
    gzipped: bytes
    etag: str
    media_type: str
    cache_control: str
    csp: str | None = None

    @classmethod
    def of(cls, body: bytes, media_type: str, cache_control: str, csp: str | None = None) -> Asset:
        digest = hashlib.sha256(body).hexdigest()[:24]
        zipped = gzip.compress(body, compresslevel=9, mtime=0)
        return cls(body, zipped, digest, media_type, cache_control, csp)

    def response(self, request: Request) -> Response:
        wants_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
        # Each encoding is its own representation, so each gets its own strong ETag.
        etag = f'"{self.etag}-gz"' if wants_gzip else f'"{self.etag}"'
        headers = {
            "ETag": etag,
            "Cache-Control": self.cache_control,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
            # Lets sites that isolate themselves (COEP) still embed the widget.
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        if self.csp:
            headers["Content-Security-Policy"] = self.csp
            headers["Referrer-Policy"] = "no-referrer"
        if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=headers)
        body = self.body
        if wants_gzip:
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=self.media_type, headers=headers)


def _param(request: Request, name: str, limit: int = 128) -> str:
    return request.query_params.get(name, "")[:limit].strip()


def _omise_browser(request: Request) -> OmiseBrowser | None:
    for holder in (request.app.state, request.state):
        services = getattr(holder, "services", None)
        if services is not None:
            return services.settings.billing.omise_browser
    return None


def _demo_site_key(request: Request) -> str | None:
    # Services live on app.state; lifespan state (request.state) is the fallback.
    for holder in (request.app.state, request.state):
        services = getattr(holder, "services", None)
        if services is not None:
            return getattr(services, "demo_site_key", None)
    return None


def embed_tag(site_key: str, attrs: dict[str, str]) -> str:
    """The one-line embed of contract §4, every value attribute-escaped."""
    extra = "".join(
        f' data-{name}="{html.escape(value)}"' for name, value in attrs.items() if value
    )
    key = html.escape(site_key)
    return f'<script src="/widget.js" data-site-key="{key}"{extra} async></script>'


class StaticSite:
    """The widget bundle, console bundle and page templates, read once from widget/."""

    def __init__(self, root: Path) -> None:
        self.widget = Asset.of(
            bundle(root, WIDGET_SOURCES, (root / "src/style.css").read_text("utf-8")),
            JS,
            WIDGET_CACHE,
        )
        self.console_js = Asset.of(bundle(root, CONSOLE_SOURCES), JS, REVALIDATE)
        self.console_css = Asset.of(
            minify_css((root / "console/console.css").read_text("utf-8")).encode(),
            CSS_TYPE,
            REVALIDATE,
        )
        self.console_page = Asset.of(
            (root / "console/console.html").read_bytes(), HTML, REVALIDATE, CONSOLE_CSP
        )
        self._console_pages: dict[OmiseBrowser, Asset] = {}  # one: settings do not change
        self.demo_template = (root / "pages/demo.html").read_text("utf-8")
        self.try_template = (root / "pages/try.html").read_text("utf-8")

    def page(self, template: str, request: Request, csp: str | None, **values: str) -> Response:
        text = template
        for name, value in values.items():
            text = text.replace("{{" + name + "}}", value)
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        if csp:
            headers["Content-Security-Policy"] = csp
        return Response(text, media_type=HTML, headers=headers)

    async def console(self, request: Request) -> Response:
        omise = _omise_browser(request)
        if omise is None:
            return self.console_page.response(request)
        page = self._console_pages.get(omise)
        if page is None:
            page = replace(self.console_page, csp=with_omise(CONSOLE_CSP, omise))
            self._console_pages[omise] = page
        return page.response(request)

    async def demo(self, request: Request) -> Response:
        key = _param(request, "site_key") or _demo_site_key(request) or ""
        if key:
            tag = embed_tag(key, {})
            embed = tag + f"\n<pre><code>{html.escape(tag)}</code></pre>"
        else:
            embed = (
                '<p class="note">No demo organisation on this server. Start it with '
                "<code>make run</code>, or open <code>/?site_key=YOUR_SITE_KEY</code>.</p>"
            )
        return self.page(self.demo_template, request, DEMO_CSP, embed=embed)

    async def try_page(self, request: Request) -> Response:
        key = _param(request, "site_key")
        attrs = {n: _param(request, n, 80) for n in ("locale", "color", "position", "title")}
        embed = (
            embed_tag(key, attrs)
            if key
            else '<p class="note">Add <code>?site_key=YOUR_SITE_KEY</code> to the address.</p>'
        )
        # No CSP here on purpose: a plain customer site, so nothing but the widget's
        # own care stands between a hostile chat message and this page.
        return self.page(self.try_template, request, None, embed=embed)

    def routes(self) -> list[BaseRoute]:
        def serve(asset: Asset) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return asset.response(request)

            return endpoint

        return [
            Route("/widget.js", serve(self.widget), methods=["GET"]),
            Route("/console", self.console, methods=["GET"]),
            Route("/console.js", serve(self.console_js), methods=["GET"]),
            Route("/console.css", serve(self.console_css), methods=["GET"]),
            Route("/try", self.try_page, methods=["GET"]),
            Route("/", self.demo, methods=["GET"]),
        ]


def routes(widget_dir: Path | None = None) -> list[BaseRoute]:
    """Reads and bundles widget/ now (app start-up); the routes hold the result."""
    return StaticSite(widget_dir or WIDGET_DIR).routes()

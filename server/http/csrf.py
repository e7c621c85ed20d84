"""Cross-site request forgery defence beyond SameSite: a write (POST, PUT, PATCH, DELETE)
authenticated by the session cookie must carry the `X-Clienta-CSRF` header and, when the
browser names one, come from this server's own origin. Otherwise 403.

Browsers attach cookies to requests other sites start; they never attach an Authorization
header, and a cross-site page can add a custom header only after a CORS preflight this
server never grants. So a request with an Authorization header (never cookie-authenticated,
see `auth.bearer_token`) or with no session cookie is let through untouched."""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from server.domain.origins import same_host
from server.http.auth import CSRF_HEADER, SESSION_COOKIE
from server.http.errors import error_response

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WANTED = frozenset({b"authorization", b"cookie", b"origin", b"referer", b"host",
                     CSRF_HEADER.encode()})


def refusal(method: str, headers: dict[bytes, bytes]) -> str | None:
    """Why this request is refused as a possible forgery, or None."""
    if method not in UNSAFE or b"authorization" in headers:
        return None
    cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
    if not cookies.get(SESSION_COOKIE):
        return None
    if not headers.get(CSRF_HEADER.encode()):
        return f"a write authenticated by the session cookie needs the {CSRF_HEADER} header"
    source = headers.get(b"origin") or headers.get(b"referer")
    host = headers.get(b"host", b"").decode("latin-1")
    if source is not None and not same_host(source.decode("latin-1"), host):
        return "a write authenticated by the session cookie must come from this site"
    return None


class CsrfGuard:
    """Pure ASGI, so a refused request costs no body read and no routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE:
            headers = {k: v for k, v in scope["headers"] if k in _WANTED}
            reason = refusal(scope["method"], headers)
            if reason is not None:
                await error_response(403, "forbidden", reason)(scope, receive, send)
                return
        await self.app(scope, receive, send)

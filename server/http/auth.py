"""Bearer authentication for HTTP: the Authorization header or the HttpOnly session cookie."""

from __future__ import annotations

from collections.abc import Set

from starlette.requests import HTTPConnection

from server.http.errors import ApiError
from server.services.accounts import Principal

SESSION_COOKIE = "clienta_session"
# what a page sends to show a cookie-authenticated write is its own (http/csrf.py): a
# cross-site form cannot add a header, and a cross-site fetch with one needs a CORS
# preflight that this server never grants
CSRF_HEADER = "x-clienta-csrf"


def bearer_token(request: HTTPConnection) -> str | None:
    """The Authorization header whenever one is sent (even a malformed one: then nothing),
    else the session cookie. `http.csrf` relies on this: a request with the header is
    never cookie-authenticated."""
    header = request.headers.get("authorization")
    if header is not None:
        return header[7:].strip() if header[:7].lower() == "bearer " else None
    return request.cookies.get(SESSION_COOKIE)


async def authenticate(request: HTTPConnection, roles: Set[str] | None = None) -> Principal:
    token = bearer_token(request)
    principal = await request.app.state.services.accounts.authenticate(token or "")
    if principal is None:
        raise ApiError(401, "unauthorized", "a valid bearer token is required")
    if roles is not None and principal.role not in roles:
        raise ApiError(403, "forbidden", "your role does not allow this")
    return principal

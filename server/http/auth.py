"""Bearer authentication for HTTP: the Authorization header or the HttpOnly session cookie."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from server.http.errors import ApiError
from server.services.accounts import Principal

SESSION_COOKIE = "clienta_session"


def bearer_token(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


async def authenticate(request: HTTPConnection, roles: set[str] | None = None) -> Principal:
    token = bearer_token(request)
    principal = await request.app.state.services.accounts.authenticate(token or "")
    if principal is None:
        raise ApiError(401, "unauthorized", "a valid bearer token is required")
    if roles is not None and principal.role not in roles:
        raise ApiError(403, "forbidden", "your role does not allow this")
    return principal

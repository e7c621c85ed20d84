"""Request body limits at the ASGI edge, per route: a declared Content-Length over the limit
is answered 413 before the app runs; a body without one is counted as the app reads it."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.http.errors import ApiError, error_response


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """A larger limit for the routes under `path` taking one of `methods` (uploads)."""

    methods: frozenset[str]
    path: str
    max_bytes: int

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and (
            path == self.path or path.startswith(self.path + "/"))


@dataclass(frozen=True, slots=True)
class BodyPolicy:
    default_bytes: int
    routes: tuple[RouteLimit, ...] = ()

    def limit_for(self, method: str, path: str) -> int:
        for route in self.routes:
            if route.matches(method, path):
                return route.max_bytes
        return self.default_bytes


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "too_large", f"the body is larger than the limit of {limit} bytes")


_CLOSE = (b"connection", b"close")


class BodyLimits:
    """Pure ASGI: no task or queue per request, and the body is never buffered here."""

    def __init__(self, app: ASGIApp, policy: BodyPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.policy.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None:
            if declared > limit:
                await _refuse(scope, receive, send, BodyTooLarge(limit))
                return
            # the HTTP parser delivers no more than a declared length: nothing to count
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if exceeded:
                    # the rest of the body is still coming: close rather than read it
                    message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            await send(message)

        try:
            await self.app(scope, counting_receive, closing_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _refuse(scope, receive, send, exc)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # the HTTP parser has already refused a malformed, repeated or overflowing one;
            # a non-numeric one is counted instead, and 20+ digits is over any limit
            if not value.isdigit():
                return None
            return int(value) if len(value) < 20 else 1 << 64
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: ApiError) -> None:
    response = error_response(exc.status, exc.code, exc.message)
    response.headers["connection"] = "close"  # the unread body is not worth reading
    await response(scope, receive, send)

"""The contract's error shape: {"error": {"code", "message"}} with a fitting status."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("clienta.http")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
            403: "forbidden"}.get(exc.status_code, "bad_request")
    return error_response(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # the route's template, not the path: a path is whatever the client sent
    route = request.scope.get("route")
    log.exception("unhandled error", extra={"route": getattr(route, "path", None)})
    return error_response(500, "internal", "something went wrong on our side")


async def _client_gone(request: Request, exc: Exception) -> Response:
    # the client hung up mid-body, or its body stalled and the transport answered 408:
    # nobody is there to read an answer, and nothing went wrong on our side
    return Response(status_code=400)


def exception_handlers() -> dict[Any, Any]:
    return {ApiError: _api_error, HTTPException: _http_error,
            ClientDisconnect: _client_gone, Exception: _unexpected}

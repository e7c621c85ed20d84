"""The contract's error shape: {"error": {"code", "message"}} with a fitting status."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
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
    log.exception("unhandled error", extra={"path": request.url.path})
    return error_response(500, "internal", "something went wrong on our side")


def exception_handlers() -> dict[Any, Any]:
    return {ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected}


async def json_body(request: Request, max_bytes: int = 256 * 1024) -> dict[str, Any]:
    body = await request.body()
    if len(body) > max_bytes:
        raise ApiError(413, "too_large", f"the body is larger than {max_bytes} bytes")
    try:
        import json

        value = json.loads(body or b"null")
    except ValueError as exc:
        raise ApiError(400, "bad_request", "the body must be JSON") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return value


def require_str(body: dict[str, Any], name: str, *, max_len: int = 256, min_len: int = 1,
                optional: bool = False) -> str | None:
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not min_len <= len(value) <= max_len:
        raise ApiError(422, "bad_request",
                       f"{name} must be a string of {min_len}-{max_len} characters")
    return value

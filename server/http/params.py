"""Request parsing at the HTTP edge: JSON bodies, text fields and query parameters. Hostile
input (deep nesting, NUL, lone surrogates, out-of-range integers) gets a 4xx, never a 500."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request

from server.http.errors import ApiError

BIGINT_MAX = 2**63 - 1  # Postgres bigint: a larger integer would fail in the query
DEFAULT_JSON_DEPTH = 32


def clean_text(value: str, name: str) -> str:
    """The text as given, if Postgres and argon2 can take it: no NUL (Postgres text refuses
    it) and no lone surrogate (it has no UTF-8 encoding)."""
    if "\x00" in value:
        raise ApiError(422, "bad_request", f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(422, "bad_request",
                       f"{name} must be valid Unicode text (no lone surrogates)") from exc
    return value


def _nesting_within(value: Any, limit: int) -> bool:
    """Iterative, so a deep document cannot exhaust the stack here either."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _max_depth(request: Request) -> int:
    services = getattr(request.app.state, "services", None)
    settings = getattr(services, "settings", None)
    return getattr(settings, "max_json_depth", DEFAULT_JSON_DEPTH)


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object. Its size is bounded before it is read (BodyLimits)."""
    body = await request.body()
    try:
        value = json.loads(body or b"null")
    except RecursionError as exc:
        raise ApiError(400, "bad_request", "the JSON body is nested too deeply") from exc
    except ValueError as exc:  # UnicodeDecodeError and too many digits included
        raise ApiError(400, "bad_request", "the body must be JSON") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    depth = _max_depth(request)
    if not _nesting_within(value, depth):
        raise ApiError(400, "bad_request",
                       f"the JSON body is nested more than {depth} levels deep")
    return value


def require_str(body: dict[str, Any], name: str, *, max_len: int = 256, min_len: int = 1,
                optional: bool = False) -> str | None:
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not min_len <= len(value) <= max_len:
        raise ApiError(422, "bad_request",
                       f"{name} must be a string of {min_len}-{max_len} characters")
    return clean_text(value, name)


def query_int(request: Request, name: str, default: int, lo: int, hi: int = BIGINT_MAX) -> int:
    """An integer query parameter in [lo, hi]; anything else is refused, not clamped."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # ASCII digits only: int() also takes "1_000", " 7 " and other scripts' digits
    text = raw[1:] if raw[:1] == "-" else raw
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not lo <= int(raw) <= hi:
        raise ApiError(422, "bad_request", f"{name} must be an integer from {lo} to {hi}")
    return int(raw)


def query_text(request: Request, name: str, *, max_len: int) -> str | None:
    """A text query parameter, stripped; None when absent or empty."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    if len(raw) > max_len:
        raise ApiError(422, "bad_request", f"{name} must be at most {max_len} characters")
    return clean_text(raw, name)


def query_date(request: Request, name: str) -> date | None:
    """A `YYYY-MM-DD` query parameter; None when absent or empty."""
    raw = query_text(request, name, max_len=10)
    if raw is None:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "bad_request", f"{name} must be a date (YYYY-MM-DD)") from None


def day_start(day: date) -> datetime:
    """The first instant of a UTC day."""
    return datetime.combine(day, datetime.min.time(), UTC)

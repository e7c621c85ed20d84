"""What may leave for an error reporter: Sentry events and breadcrumbs without tokens,
cookies, passwords, emails, IP addresses or message text. The rules are server/logs.py's
(an exception is its type and schema names, never its message), plus a pattern pass."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from server.logs import describe

FILTERED = "[Filtered]"
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}

# request headers that say nothing about a person or a secret; the rest are dropped
# (Authorization, Cookie, Set-Cookie, X-Forwarded-For, Forwarded, User-Agent, Referer...)
SAFE_HEADERS = frozenset({"accept", "accept-encoding", "accept-language", "connection",
                          "content-length", "content-type", "host", "upgrade",
                          "sec-websocket-protocol", "sec-websocket-version"})
# what an event may carry at its top level; `user`, unknown keys and `_meta` are dropped
_EVENT_KEYS = frozenset({"event_id", "timestamp", "start_timestamp", "level", "logger",
                         "platform", "release", "environment", "dist", "server_name", "sdk",
                         "modules", "contexts", "tags", "transaction", "transaction_info",
                         "type", "spans", "measurements", "exception", "threads",
                         "breadcrumbs", "logentry", "message", "request", "extra",
                         "fingerprint", "debug_meta"})
# describe()'s keys that name the schema or the system's own error, never a value
_SAFE_FACTS = ("sqlstate", "schema", "table", "column", "data_type", "constraint", "errno",
               "reason")
_MAX_TEXT = 300
_MAX_DEPTH = 6

_EMAIL = re.compile(r"[^\s@<>\"'(),;:\[\]]+@[^\s@<>\"'(),;:\[\]]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_SCHEME = re.compile(r"(?i)\b(bearer|basic|token|digest)(\s+)[^\s,;\"']+")
_ASSIGNED = re.compile(
    r"(?i)\b([\w-]*(?:password|passwd|secret|token|api[_-]?key|authorization|cookie|session"
    r"|dsn|email)[\w-]*)(\"?'?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s&,;]+)")
# ours (bearer ct_, site key sk_, visitor v1.) and anybody's: long mixed-case, digit-bearing
_OUR_TOKEN = re.compile(r"\b(?:ct_|sk_|v1\.)[A-Za-z0-9_-]{8,}")
_RUN = re.compile(r"[A-Za-z0-9_-]{20,}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_TRACEBACK = "Traceback (most recent call last):"


def _ip(match: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(match[0])
    except ValueError:
        return match[0]
    return FILTERED


def _token_run(match: re.Match[str]) -> str:
    run = match[0]
    if _UUID.fullmatch(run):
        return run
    mixed = (any(c.isupper() for c in run) and any(c.islower() for c in run)
             and any(c.isdigit() for c in run))
    return FILTERED if mixed else run


def redact(text: str) -> str:
    """The text with emails, IP addresses, credentials and token-like runs filtered."""
    text = _EMAIL.sub(FILTERED, text)
    text = _SCHEME.sub(lambda m: f"{m[1]}{m[2]}{FILTERED}", text)
    text = _ASSIGNED.sub(lambda m: f"{m[1]}{m[2]}{FILTERED}", text)
    text = _OUR_TOKEN.sub(FILTERED, text)
    text = _RUN.sub(_token_run, text)
    text = _IPV4.sub(_ip, text)
    return _IPV6.sub(_ip, text)


def _value(value: Any, depth: int = 0) -> Any:
    """Any JSON-ish value with its strings redacted (bounded depth and length)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value[:_MAX_TEXT])
    if isinstance(value, BaseException):
        return describe(value, frames=False)
    if depth >= _MAX_DEPTH:
        return FILTERED
    if isinstance(value, Mapping):
        return {str(k): _value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(v, depth + 1) for v in value]
    return f"<{type(value).__name__}>"  # an object's repr may hold anything


def record_text(record: logging.LogRecord) -> str:
    """A log record's template, never its arguments: those may be values (logs.py formats
    them; an error report carries less)."""
    msg = record.msg
    if isinstance(msg, BaseException):
        return describe(msg, frames=False)["type"]
    text = str(msg) if isinstance(msg, str) else f"<{type(msg).__name__}>"
    if _TRACEBACK in text:
        text = text.split(_TRACEBACK, 1)[0].rstrip()
    if record.name == "asyncio":  # its handler appends reprs of tasks and arguments
        text = re.split(r"[(<\n]", text, maxsplit=1)[0].rstrip()
    return redact(text[:_MAX_TEXT])


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """A log record's `extra=` fields as logs.py writes them: ids and codes; exceptions as
    their type and schema names."""
    return {k: _value(v) for k, v in record.__dict__.items()
            if k not in _STANDARD and not k.startswith("_") and k != "color_message"}


def _url(url: str) -> str:
    parts = urlsplit(url)
    query = _query(parts.query)
    base = f"{parts.scheme}://{parts.hostname or ''}" if parts.scheme else ""
    if parts.port:
        base += f":{parts.port}"
    return redact(base + parts.path)[:_MAX_TEXT] + (f"?{query}" if query else "")


def _query(query: str) -> str:
    """Names kept, every value filtered (site keys, visitor tokens, search text)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{redact(name)[:64]}={FILTERED}" for name, _ in pairs[:32])


def _request(request: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(request.get("method"), str):
        out["method"] = request["method"][:16]
    if isinstance(request.get("url"), str):
        out["url"] = _url(request["url"])
    query = request.get("query_string")
    if isinstance(query, str) and query:
        out["query_string"] = _query(query)
    headers = request.get("headers")
    if isinstance(headers, Mapping):
        out["headers"] = {k: _value(v) for k, v in headers.items()
                          if isinstance(k, str) and k.lower() in SAFE_HEADERS}
    # data (the body), cookies and env (REMOTE_ADDR) never leave
    return out


def safe_exception_value(exc: BaseException) -> str:
    """What an exception may say in a report: schema names and codes, or the message of
    one of our own types known to carry only our words (logs.describe decides)."""
    facts = describe(exc, frames=False)
    if "message" in facts:
        return str(facts["message"])[:_MAX_TEXT]
    return " ".join(f"{k}={facts[k]}" for k in _SAFE_FACTS if k in facts)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    queue = [exc] if exc is not None else []
    while queue and len(seen) < 32:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            queue.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                queue.append(linked)


def _exceptions(values: list[Any], exc: BaseException | None) -> list[dict[str, Any]]:
    """Each value's message replaced by what its exception may say; matched to the hint's
    exception chain by type (a value with no match says nothing)."""
    chain = list(_chain(exc))
    out = []
    for item in values:
        if not isinstance(item, Mapping):
            continue
        entry = {k: item[k] for k in ("type", "module", "mechanism") if k in item}
        # the SDK names a builtin's module None
        match = next((e for e in chain if type(e).__name__ == item.get("type")
                      and (item.get("module") or "builtins") == type(e).__module__), None)
        if match is not None:
            chain.remove(match)
        entry["value"] = safe_exception_value(match) if match is not None else ""
        if isinstance(item.get("stacktrace"), Mapping):
            entry["stacktrace"] = _stacktrace(item["stacktrace"])
        out.append(entry)
    return out


def _stacktrace(stacktrace: Mapping[str, Any]) -> dict[str, Any]:
    """Frames are our code and libraries': kept, without local variables."""
    frames = stacktrace.get("frames")
    if not isinstance(frames, list):
        return {}
    return {"frames": [{k: v for k, v in f.items() if k != "vars"}
                       for f in frames if isinstance(f, Mapping)]}


def _exc_from(hint: Mapping[str, Any]) -> BaseException | None:
    exc_info = hint.get("exc_info")
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    return None


def scrub_breadcrumb(crumb: Mapping[str, Any], hint: Mapping[str, Any]) -> dict[str, Any]:
    """A breadcrumb as it may be reported: a log breadcrumb says its record's template and
    extras (logs.py's rules); any other has its strings redacted and URLs' queries filtered."""
    out: dict[str, Any] = {k: crumb[k] for k in ("type", "level", "category", "timestamp")
                           if k in crumb}
    record = hint.get("log_record")
    if isinstance(record, logging.LogRecord):
        out["message"] = record_text(record)
        out["data"] = record_extras(record)
        return out
    if isinstance(crumb.get("message"), str):
        out["message"] = redact(crumb["message"][:_MAX_TEXT])
    data = crumb.get("data")
    if isinstance(data, Mapping):
        out["data"] = {k: _url(v) if k == "url" and isinstance(v, str) else _value(v)
                       for k, v in data.items() if k not in ("http.query", "body")}
    return out


def _breadcrumbs(value: Any) -> dict[str, Any]:
    values = value.get("values") if isinstance(value, Mapping) else value
    if not isinstance(values, list):
        return {"values": []}
    return {"values": [scrub_breadcrumb(c, {}) for c in values if isinstance(c, Mapping)]}


def _spans(spans: Any) -> list[dict[str, Any]]:
    if not isinstance(spans, list):
        return []
    out = []
    for span in spans:
        if isinstance(span, Mapping):
            clean = {k: _value(v) if k in ("description", "data", "tags") else v
                     for k, v in span.items()}
            out.append(clean)
    return out


def scrub_event(event: dict[str, Any], hint: Mapping[str, Any]) -> dict[str, Any]:
    """`before_send` and `before_send_transaction`: the event as it may leave."""
    out = {k: v for k, v in event.items() if k in _EVENT_KEYS}
    record = hint.get("log_record")
    if isinstance(record, logging.LogRecord):
        text = record_text(record)
        out["logentry"] = {"message": text, "formatted": text, "params": []}
        out["extra"] = record_extras(record)
    else:
        entry = event.get("logentry")
        if isinstance(entry, Mapping):
            text = redact(str(entry.get("message", ""))[:_MAX_TEXT])
            out["logentry"] = {"message": text, "formatted": text, "params": []}
        if "extra" in out:
            out["extra"] = _value(out["extra"])
    if isinstance(out.get("message"), str):
        out["message"] = redact(out["message"][:_MAX_TEXT])
    exception = event.get("exception")
    if isinstance(exception, Mapping) and isinstance(exception.get("values"), list):
        out["exception"] = {"values": _exceptions(exception["values"], _exc_from(hint))}
    threads = event.get("threads")
    if isinstance(threads, Mapping) and isinstance(threads.get("values"), list):
        out["threads"] = {"values": [
            {**{k: v for k, v in t.items() if k != "stacktrace"},
             "stacktrace": _stacktrace(t.get("stacktrace") or {})}
            for t in threads["values"] if isinstance(t, Mapping)]}
    if isinstance(event.get("request"), Mapping):
        out["request"] = _request(event["request"])
    if "breadcrumbs" in out:
        out["breadcrumbs"] = _breadcrumbs(out["breadcrumbs"])
    for key in ("contexts", "tags"):
        if key in out:
            out[key] = _value(out[key])
    if isinstance(out.get("transaction"), str):
        out["transaction"] = redact(out["transaction"][:_MAX_TEXT])
    if "spans" in out:
        out["spans"] = _spans(out["spans"])
    return out

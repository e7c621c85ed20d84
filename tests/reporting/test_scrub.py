"""The error-report scrubber, as tables: what goes in (events and breadcrumbs shaped as the
sentry-sdk builds them) and what may come out."""

from __future__ import annotations

import json
import logging

import pytest

from server.domain.modes import TransitionError
from server.reporting.scrub import (
    FILTERED,
    record_extras,
    redact,
    safe_exception_value,
    scrub_breadcrumb,
    scrub_event,
)

EMAIL = "alice.visitor@example.com"
BEARER = "ct_" + "Zx9" * 14
VISITOR = "v1." + "Ab3_" * 16
SITE_KEY = "sk_" + "Qw7e" * 6
IP4, IP6 = "203.0.113.77", "2001:db8::17"
TEXT = "my card was charged twice, please call me"


@pytest.mark.parametrize(("text", "kept", "gone"), [
    (f"mail {EMAIL} now", "mail", EMAIL),
    (f"Bearer {BEARER}", "Bearer", BEARER),
    ("authorization: Basic dXNlcjpwYXNz", "authorization", "dXNlcjpwYXNz"),
    (f"resume with {VISITOR}", "resume with", VISITOR),
    (f"site {SITE_KEY}", "site", SITE_KEY),
    (f"from {IP4} and {IP6}", "from", IP4),
    (f"from {IP6}", "from", IP6),
    ("password=hunter2hunter2&x=1", "password=", "hunter2hunter2"),
    ('{"api_key": "abc"}', "api_key", "abc"),
    ("key sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12", "key", "Ab12Cd34Ef56Gh78Ij90Kl12"),
])
def test_redact_filters_what_names_a_person_or_a_secret(text: str, kept: str,
                                                         gone: str) -> None:
    out = redact(text)
    assert gone not in out and kept in out and FILTERED in out


@pytest.mark.parametrize("text", [
    "frame failed", "session failed", "conversation 6f1c8a52-3f44-4a55-9bd1-2d7e4f1a0b9c",
    "server/transport/socket.py:147 failed", "asyncpg.exceptions.UniqueViolationError",
    "12:30:45", "trace 7ee464d2625b42f98e1792860ffa7ed2", "clienta@0.1.0",
    "test_a_unique_violation_is_logged_by_sqlstate",
])
def test_redact_keeps_ids_codes_and_names(text: str) -> None:
    assert redact(text) == text


def _record(msg: str, args: tuple = (), exc: BaseException | None = None,
            name: str = "clienta.ws", **extra: object) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_a_log_event_keeps_its_template_and_ids_not_its_arguments_or_message() -> None:
    exc = _raised(ValueError(f"{TEXT} {EMAIL} {BEARER}"))
    record = _record("frame %s failed for %s", ("msg", EMAIL), exc, conn_id=7, kind="visitor",
                     error=exc, peer=IP4)
    event = {
        "level": "error", "logger": "clienta.ws",
        "logentry": {"message": "frame %s failed for %s", "params": ["msg", EMAIL],
                     "formatted": f"frame msg failed for {EMAIL}"},
        "extra": {"conn_id": 7, "error": repr(exc), "peer": IP4},
        "exception": {"values": [{
            "type": "ValueError", "module": None, "value": str(exc),
            "mechanism": {"type": "logging", "handled": True},
            "stacktrace": {"frames": [{"function": "run", "module": "server.x", "lineno": 3,
                                       "vars": {"text": TEXT}}]}}]},
        "user": {"ip_address": IP4, "email": EMAIL},
        "server_name": "host-1", "release": "clienta@1", "environment": "production",
    }
    out = scrub_event(event, {"log_record": record, "exc_info": record.exc_info})
    text = json.dumps(out)
    for secret in (TEXT, EMAIL, BEARER, IP4):
        assert secret not in text
    assert out["logentry"]["formatted"] == "frame %s failed for %s"
    assert out["extra"] == {"conn_id": 7, "kind": "visitor", "error": {"type": "ValueError"},
                            "peer": FILTERED}
    value = out["exception"]["values"][0]
    assert value["type"] == "ValueError" and value["value"] == ""
    assert value["stacktrace"]["frames"] == [{"function": "run", "module": "server.x",
                                              "lineno": 3}]
    assert "user" not in out
    assert (out["release"], out["environment"], out["server_name"]) == \
        ("clienta@1", "production", "host-1")


class _DbError(Exception):
    """Shaped as an asyncpg error: the message quotes a value, the attributes name schema."""

    sqlstate = "23505"
    table_name = "users"
    constraint_name = "users_email_key"


@pytest.mark.parametrize(("exc", "value"), [
    (_DbError(f"Key (email)=({EMAIL}) already exists"),
     "sqlstate=23505 table=users constraint=users_email_key"),
    (TransitionError("bot", "bot"), str(TransitionError("bot", "bot"))),
    (RuntimeError(TEXT), ""),
    (OSError(111, "Connection refused"), "errno=111 reason=Connection refused"),
])
def test_an_exception_says_only_its_schema_names_and_codes(exc: BaseException,
                                                           value: str) -> None:
    assert safe_exception_value(exc) == value


def test_a_chain_is_matched_by_type_and_each_link_says_only_its_own_facts() -> None:
    try:
        try:
            raise _DbError(f"Key (email)=({EMAIL})")
        except _DbError as inner:
            raise RuntimeError(TEXT) from inner
    except RuntimeError as caught:
        outer = caught
    values = [{"type": "_DbError", "module": __name__, "value": "Key (email)=..."},
              {"type": "RuntimeError", "module": None, "value": TEXT}]
    out = scrub_event({"exception": {"values": values}},
                      {"exc_info": (RuntimeError, outer, outer.__traceback__)})
    assert [v["value"] for v in out["exception"]["values"]] == \
        ["sqlstate=23505 table=users constraint=users_email_key", ""]


def test_an_event_without_a_hint_still_says_no_exception_message() -> None:
    out = scrub_event({"exception": {"values": [{"type": "KeyError", "value": TEXT}]}}, {})
    assert out["exception"]["values"][0]["value"] == ""


def test_a_request_keeps_its_method_path_and_harmless_headers_only() -> None:
    event = {"request": {
        "method": "POST", "url": f"http://api.example.com/v1/canned?visitor_token={VISITOR}",
        "query_string": f"site_key={SITE_KEY}&visitor_token={VISITOR}&limit=5",
        "headers": {"Authorization": f"Bearer {BEARER}", "Cookie": f"clienta_session={BEARER}",
                    "Set-Cookie": f"clienta_session={BEARER}", "X-Forwarded-For": IP4,
                    "X-Real-IP": IP4, "Forwarded": f"for={IP4}", "User-Agent": "Mozilla/5.0",
                    "Referer": f"https://shop.example/?email={EMAIL}",
                    "Content-Type": "application/json", "X-Clienta-CSRF": "1"},
        "cookies": {"clienta_session": BEARER}, "data": {"text": TEXT, "email": EMAIL},
        "env": {"REMOTE_ADDR": IP4, "SERVER_NAME": "api"},
    }}
    out = scrub_event(event, {})
    text = json.dumps(out)
    for secret in (TEXT, EMAIL, BEARER, VISITOR, SITE_KEY, IP4, "Mozilla"):
        assert secret not in text
    assert out["request"] == {
        "method": "POST", "url": "http://api.example.com/v1/canned?visitor_token=[Filtered]",
        "query_string": "site_key=[Filtered]&visitor_token=[Filtered]&limit=[Filtered]",
        "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize(("crumb", "hint", "expected"), [
    # a log record: its template and extras, as logs.py would write them
    ({"type": "log", "level": "info", "category": "clienta.http",
      "message": f"login for {EMAIL} from {IP4}", "data": {"who": EMAIL}},
     {"log_record": _record("login for %s from %s", (EMAIL, IP4), name="clienta.http",
                            who=EMAIL, org_id="6f1c8a52-3f44-4a55-9bd1-2d7e4f1a0b9c")},
     {"type": "log", "level": "info", "category": "clienta.http",
      "message": "login for %s from %s",
      "data": {"who": FILTERED, "org_id": "6f1c8a52-3f44-4a55-9bd1-2d7e4f1a0b9c"}}),
    # asyncio's handler appends reprs of the task and its exception
    ({"type": "log", "message": "x"},
     {"log_record": _record(f"Task exception was never retrieved\nfuture: <Task {TEXT}>",
                            name="asyncio")},
     {"type": "log", "message": "Task exception was never retrieved", "data": {}}),
    # a traceback some library formatted into its message
    ({"type": "log"},
     {"log_record": _record(f"Exception in ASGI application\nTraceback (most recent call "
                            f"last):\n  File \"x.py\", line 1\nValueError: {TEXT}",
                            name="uvicorn.error")},
     {"type": "log", "message": "Exception in ASGI application", "data": {}}),
    # an outgoing HTTP call (the stdlib integration): the URL's query is filtered
    ({"type": "http", "category": "httplib",
      "data": {"url": f"https://api.openai.com/v1/x?key={BEARER}", "method": "POST",
               "status_code": 500, "http.query": f"key={BEARER}"}}, {},
     {"type": "http", "category": "httplib",
      "data": {"url": "https://api.openai.com/v1/x?key=[Filtered]", "method": "POST",
               "status_code": 500}}),
    # anything else: strings redacted
    ({"category": "custom", "message": f"sent to {EMAIL}", "data": {"n": 1, "to": IP4}}, {},
     {"category": "custom", "message": f"sent to {FILTERED}",
      "data": {"n": 1, "to": FILTERED}}),
])
def test_breadcrumbs(crumb: dict, hint: dict, expected: dict) -> None:
    assert scrub_breadcrumb(crumb, hint) == expected


def test_breadcrumbs_extra_contexts_and_tags_of_an_event_are_scrubbed_again() -> None:
    event = {
        "breadcrumbs": {"values": [{"type": "log", "message": f"hello {EMAIL}",
                                    "data": {"token": BEARER}}]},
        "extra": {"sys.argv": ["clienta", "serve"], "note": f"{EMAIL}", "n": 3},
        "contexts": {"trace": {"trace_id": "7ee464d2625b42f98e1792860ffa7ed2"},
                     "custom": {"auth": f"Bearer {BEARER}"}},
        "tags": {"who": EMAIL}, "transaction": "/v1/conversations/{id}",
        "spans": [{"op": "http.client", "description": f"GET https://x.test/?t={BEARER}",
                   "data": {"email": EMAIL}}],
        "_meta": {"x": 1}, "unknown": TEXT,
    }
    out = scrub_event(event, {})
    text = json.dumps(out)
    for secret in (EMAIL, BEARER, TEXT):
        assert secret not in text
    assert out["extra"]["sys.argv"] == ["clienta", "serve"] and out["extra"]["n"] == 3
    assert out["contexts"]["trace"]["trace_id"] == "7ee464d2625b42f98e1792860ffa7ed2"
    assert out["transaction"] == "/v1/conversations/{id}"
    assert "_meta" not in out and "unknown" not in out


def test_record_extras_say_objects_by_type_only() -> None:
    class Visitor:
        def __repr__(self) -> str:
            return TEXT

    record = _record("x", visitor=Visitor(), n=2, ok=True, color_message=TEXT)
    assert record_extras(record) == {"visitor": "<Visitor>", "n": 2, "ok": True}

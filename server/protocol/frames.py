"""Inbound frame validation as tables: each frame type names its fields and their rules.

`validate(frame, role, limits)` returns the frame with only known fields, or raises
FrameError with the contract's error code. Outbound frames are built by small functions
so their shapes live in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from server.protocol.codes import ErrorCode
from server.protocol.limits import FrameLimits

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
# a JSON "\ud800" escape decodes to a lone surrogate (a valid pair decodes to one code point)
_SURROGATE = re.compile("[\ud800-\udfff]")
# what Postgres stores in a bigint (the widest integer column a frame can reach)
_BIGINT = 2**63


class FrameError(Exception):
    def __init__(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # str | text | id | uuid | int | bool | email | seq | score
    required: bool = False
    max_len: int = 256


TEXT = Field("text", required=True)
CLIENT_ID = Field("id", required=True)
CONV = Field("uuid", required=True)

VISITOR_FRAMES: dict[str, dict[str, Field]] = {
    "hello": {
        "visitor_token": Field("str", max_len=512),
        "conversation_id": Field("uuid"),
        "last_seq": Field("seq"),
        "locale": Field("str", max_len=16),
    },
    "msg": {"id": CLIENT_ID, "text": TEXT},
    "typing": {"on": Field("bool", required=True)},
    "handoff": {},
    "read": {"seq": Field("seq", required=True)},
    "csat": {"score": Field("score", required=True), "comment": Field("str", max_len=2000)},
    "ping": {},
    # extensions (docs/protocol.md): follow-up email, identify from the embed API,
    # and the choice offered to a visitor who waited too long for a person
    "email": {"email": Field("email", required=True)},
    "identify": {"name": Field("str", max_len=200), "email": Field("email")},
    "wait": {"choice": Field("str", required=True, max_len=8)},
    # the conversation's transcript by email (to the address given, or the one left)
    "transcript": {"email": Field("email")},
}

AGENT_FRAMES: dict[str, dict[str, Field]] = {
    "hello": {"token": Field("str", required=True, max_len=512)},
    "join": {"conversation_id": CONV, "last_seq": Field("seq")},
    "leave": {"conversation_id": CONV},
    "claim": {"conversation_id": CONV},
    "release": {"conversation_id": CONV},
    "transfer": {"conversation_id": CONV, "user_id": Field("uuid", required=True)},
    "close": {"conversation_id": CONV},
    "msg": {"conversation_id": CONV, "id": CLIENT_ID, "text": TEXT},
    "note": {"conversation_id": CONV, "id": CLIENT_ID, "text": TEXT},
    "typing": {"conversation_id": CONV, "on": Field("bool", required=True)},
    "read": {"conversation_id": CONV, "seq": Field("seq", required=True)},
    "ping": {},
    "away": {"on": Field("bool", required=True)},
}


def _check(name: str, field: Field, value: Any, limits: FrameLimits) -> Any:
    kind = field.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise FrameError(ErrorCode.BAD_FRAME, f"{name} must be a boolean")
        return value
    if kind in ("seq", "score", "int"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise FrameError(ErrorCode.BAD_FRAME, f"{name} must be an integer")
        if kind == "seq" and not 0 <= value < 2**62:
            raise FrameError(ErrorCode.BAD_FRAME, f"{name} must be a non-negative integer")
        if kind == "score" and not 1 <= value <= 5:
            raise FrameError(ErrorCode.BAD_FRAME, f"{name} must be between 1 and 5")
        if not -_BIGINT <= value < _BIGINT:
            raise FrameError(ErrorCode.BAD_FRAME, f"{name} is out of range")
        return value
    if not isinstance(value, str):
        raise FrameError(ErrorCode.BAD_FRAME, f"{name} must be a string")
    if not _storable(value):
        raise FrameError(ErrorCode.BAD_FRAME,
                         f"{name} must not contain NUL or unpaired surrogate characters")
    if kind == "text":
        if not value.strip():
            raise FrameError(ErrorCode.BAD_FRAME, f"{name} must not be empty")
        if len(value) > limits.max_text_chars:
            raise FrameError(
                ErrorCode.TOO_LONG, f"{name} is longer than {limits.max_text_chars} characters"
            )
        return value
    if kind == "id":
        if not value or len(value) > limits.max_client_id_chars:
            raise FrameError(
                ErrorCode.BAD_FRAME, f"{name} must be 1-{limits.max_client_id_chars} characters"
            )
        return value
    if kind == "uuid":
        if not _UUID.fullmatch(value):
            raise FrameError(ErrorCode.BAD_FRAME, f"{name} must be a UUID")
        return value.lower()
    if kind == "email":
        if len(value) > 320 or not _EMAIL.fullmatch(value):
            raise FrameError(ErrorCode.BAD_FRAME, f"{name} must be an email address")
        return value
    if len(value) > field.max_len:
        raise FrameError(ErrorCode.TOO_LONG, f"{name} is longer than {field.max_len} characters")
    return value


def _storable(value: str) -> bool:
    """Postgres text cannot hold NUL, and a lone surrogate has no UTF-8 (for Postgres,
    argon2 or an HMAC): refused here, never met as an exception mid-session."""
    if "\x00" in value:
        return False
    return value.isascii() or _SURROGATE.search(value) is None


def validate(
    frame: dict[str, Any], table: dict[str, dict[str, Field]], limits: FrameLimits
) -> dict[str, Any]:
    """Return the frame reduced to its known, checked fields; raise FrameError otherwise."""
    t = frame.get("t")
    if not isinstance(t, str):
        raise FrameError(ErrorCode.BAD_FRAME, "a frame needs a string field 't'")
    spec = table.get(t)
    if spec is None:
        raise FrameError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {t[:32]!r}")
    ref = frame.get("id")
    # echoed only when it could be a valid id: it goes back out in the error frame
    if not (isinstance(ref, str) and len(ref) <= limits.max_client_id_chars
            and _storable(ref)):
        ref = None
    out: dict[str, Any] = {"t": t}
    for name, field in spec.items():
        value = frame.get(name)
        if value is None:
            if field.required:
                raise FrameError(ErrorCode.BAD_FRAME, f"{t}.{name} is required", ref)
            continue
        try:
            out[name] = _check(f"{t}.{name}", field, value, limits)
        except FrameError as exc:
            exc.ref = ref
            raise
    return out


# ---- outbound frames -------------------------------------------------------------------


def error(code: ErrorCode | str, message: str, ref: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"t": "error", "code": str(code), "message": message}
    if ref is not None:
        frame["ref"] = ref
    return frame


def ack(client_id: str, seq: int) -> dict[str, Any]:
    return {"t": "ack", "id": client_id, "seq": seq}


def mode(conversation_id: str, value: str, agent: dict[str, Any] | None = None,
         **extra: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"t": "mode", "conversation_id": conversation_id, "mode": value}
    if agent is not None:
        frame["agent"] = agent
    frame.update(extra)
    return frame


def bot_start(stream_id: str, conversation_id: str) -> dict[str, Any]:
    return {"t": "bot.start", "stream_id": stream_id, "conversation_id": conversation_id}


def bot_delta(stream_id: str, text: str, offset: int, conversation_id: str) -> dict[str, Any]:
    return {"t": "bot.delta", "stream_id": stream_id, "text": text, "offset": offset,
            "conversation_id": conversation_id}


def bot_snapshot(stream_id: str, text: str, conversation_id: str) -> dict[str, Any]:
    return {"t": "bot.snapshot", "stream_id": stream_id, "text": text,
            "conversation_id": conversation_id}


def typing(conversation_id: str, author: dict[str, Any], on: bool) -> dict[str, Any]:
    return {"t": "typing", "conversation_id": conversation_id, "author": author, "on": on}


PONG: dict[str, Any] = {"t": "pong"}


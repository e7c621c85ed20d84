"""Close codes and error codes: the one table the widget mirrors (widget/shared/codes.js)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011  # a bug ended the session: reconnect with backoff
    RESTARTING = 1012  # reconnect and resume: server restart, slow consumer, broker resync
    TRY_AGAIN_LATER = 1013  # a dependency (Postgres, Redis) failed at set-up: back off
    UNAUTHORIZED = 4001
    FORBIDDEN = 4003
    POLICY = 4008  # rate or policy violation (repeated bad frames, flooding)


class ErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"
    CONFLICT = "conflict"


SUBPROTOCOL_JSON = "clienta.v1.json"
SUBPROTOCOL_MSGPACK = "clienta.v1.msgpack"

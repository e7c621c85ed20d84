"""Generated frames against the codecs and the frame validator (no I/O): whatever comes
in, only DecodeError or FrameError comes out, and what passes is safe to store."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.protocol.codec import DecodeError, JsonCodec, MsgpackCodec
from server.protocol.frames import AGENT_FRAMES, VISITOR_FRAMES, Field, FrameError, validate
from server.settings import Limits
from tests.fuzz.strategies import any_frames, garbage, json_encoded, msgpack_encoded

LIMITS = Limits()
TABLES = {"visitor": VISITOR_FRAMES, "agent": AGENT_FRAMES}
FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DEPTH = 100_000


def _storable(value: str) -> bool:
    """Postgres text takes neither NUL nor (as UTF-8) a lone surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_field(name: str, field: Field, value: Any) -> None:
    if field.kind == "bool":
        assert isinstance(value, bool), name
        return
    if field.kind in ("seq", "score", "int"):
        assert isinstance(value, int) and not isinstance(value, bool), name
        if field.kind == "seq":
            assert 0 <= value < 2**62, (name, value)
        if field.kind == "score":
            assert 1 <= value <= 5, (name, value)
        return
    assert isinstance(value, str), name
    assert _storable(value), f"{name} passed validation but cannot be stored: {value!r}"
    if field.kind == "uuid":
        UUID(value)  # what the sessions do with it next; must not raise
    elif field.kind == "email":
        # a line break in an address is a mail header injection
        assert value == value.strip() and not {"\r", "\n"} & set(value), (name, value)
    elif field.kind == "text":
        assert value.strip() and len(value) <= LIMITS.max_text_chars, name
    elif field.kind == "id":
        assert 0 < len(value) <= LIMITS.max_client_id_chars, name
    else:
        assert len(value) <= field.max_len, name


def _run(codec: JsonCodec | MsgpackCodec, data: str | bytes,
         table: dict[str, dict[str, Field]]) -> None:
    """Decode and validate like FrameSocket.next_frame; check what passed."""
    try:
        frame = validate(codec.decode(data), table, LIMITS)
    except (DecodeError, FrameError):
        return
    spec = table[frame["t"]]
    assert set(frame) <= {"t", *spec}, frame.keys()
    for name, field in spec.items():
        if name in frame:
            _check_field(name, field, frame[name])
        else:
            assert not field.required, name


@pytest.mark.parametrize("role", sorted(TABLES))
@FAST
@given(data=st.data())
def test_json_frames_raise_only_frame_errors(role: str, data: st.DataObject) -> None:
    table = TABLES[role]
    value = data.draw(any_frames(table))
    encoded = data.draw(json_encoded(value))
    _run(JsonCodec(), encoded, table)
    if isinstance(encoded, str):  # text frames arrive as str, but bytes must be safe too
        _run(JsonCodec(), encoded.encode("utf-8", "surrogatepass"), table)


@pytest.mark.parametrize("role", sorted(TABLES))
@FAST
@given(data=st.data())
def test_msgpack_frames_raise_only_frame_errors(role: str, data: st.DataObject) -> None:
    table = TABLES[role]
    value = data.draw(any_frames(table, wide=False))
    _run(MsgpackCodec(), data.draw(msgpack_encoded(value)), table)


@pytest.mark.parametrize("role", sorted(TABLES))
@FAST
@given(data=garbage())
def test_garbage_raises_only_frame_errors(role: str, data: str | bytes) -> None:
    for codec in (JsonCodec(), MsgpackCodec()):
        _run(codec, data, TABLES[role])


# what a regex's `$` lets through (it matches before a trailing newline), found by the above
EDGES = [
    {"t": "hello", "conversation_id": "6f1c7d3e-8a5b-4c2d-9e0f-1a2b3c4d5e6f\n"},
    {"t": "email", "email": "a@b.co\n"},
    {"t": "identify", "email": "a@b.co\n"},
    {"t": "join", "conversation_id": "6f1c7d3e-8a5b-4c2d-9e0f-1a2b3c4d5e6f\n"},
    {"t": "transfer", "conversation_id": "6f1c7d3e-8a5b-4c2d-9e0f-1a2b3c4d5e6f",
     "user_id": "6f1c7d3e8a5b4c2d9e0f1a2b3c4d5e6f\n"},
    {"t": "msg", "id": "a\x00", "text": "hi"},
    {"t": "msg", "id": "a", "text": "\ud800"},
    {"t": "read", "seq": 2**62},
]


@pytest.mark.parametrize("frame", EDGES, ids=[str(i) for i in range(len(EDGES))])
def test_edge_frames(frame: dict[str, Any]) -> None:
    table = VISITOR_FRAMES if frame["t"] in VISITOR_FRAMES else AGENT_FRAMES
    if frame["t"] in ("join", "transfer"):
        table = AGENT_FRAMES
    _run(JsonCodec(), json.dumps(frame), table)


DEEP_JSON = [
    "[" * DEPTH,
    "[" * DEPTH + "]" * DEPTH,
    '{"t":"msg","id":"a","text":' + "[" * DEPTH + "]" * DEPTH + "}",
    '{"a":' * DEPTH + "1" + "}" * DEPTH,
]
DEEP_MSGPACK = [
    b"\x91" * DEPTH + b"\xc0",  # fixarray of one, nested
    b"\x81\xa1t" * DEPTH + b"\xc0",  # {"t": {"t": ...}}
    b"\x83\xa1t\xa3msg\xa2id\xa1a\xa4text" + b"\x91" * DEPTH + b"\xc0",
]


@pytest.mark.parametrize("data", DEEP_JSON, ids=["open", "closed", "in-field", "maps"])
def test_deeply_nested_json_is_a_decode_error(data: str) -> None:
    with pytest.raises((DecodeError, FrameError)):
        validate(JsonCodec().decode(data), VISITOR_FRAMES, LIMITS)


@pytest.mark.parametrize("data", DEEP_MSGPACK, ids=["arrays", "maps", "in-field"])
def test_deeply_nested_msgpack_is_a_decode_error(data: bytes) -> None:
    with pytest.raises((DecodeError, FrameError)):
        validate(MsgpackCodec().decode(data), VISITOR_FRAMES, LIMITS)

"""Protocol tables: every inbound frame type, both codecs, every validation error."""

from __future__ import annotations

import pytest

from server.protocol import frames
from server.protocol.codec import DecodeError, JsonCodec, MsgpackCodec, negotiate
from server.protocol.codes import ErrorCode
from server.protocol.frames import AGENT_FRAMES, VISITOR_FRAMES, FrameError, validate
from server.protocol.session import EdgePolicy, TokenBucket
from server.settings import Limits

LIMITS = Limits()
CONV = "6f1c7d3e-8a5b-4c2d-9e0f-1a2b3c4d5e6f"

VALID_VISITOR = [
    {"t": "hello"},
    {"t": "hello", "visitor_token": "v1.abc", "conversation_id": CONV, "last_seq": 3,
     "locale": "th"},
    {"t": "msg", "id": "c-1", "text": "hi"},
    {"t": "msg", "id": "x" * 64, "text": "ก" * 4000},
    {"t": "typing", "on": True},
    {"t": "handoff"},
    {"t": "read", "seq": 7},
    {"t": "csat", "score": 5},
    {"t": "csat", "score": 1, "comment": "slow"},
    {"t": "ping"},
    {"t": "email", "email": "a@b.co"},
    {"t": "identify", "name": "Nok", "email": "nok@example.com"},
    {"t": "wait", "choice": "keep"},
]

VALID_AGENT = [
    {"t": "hello", "token": "ct_x"},
    {"t": "join", "conversation_id": CONV},
    {"t": "join", "conversation_id": CONV, "last_seq": 0},
    {"t": "leave", "conversation_id": CONV},
    {"t": "claim", "conversation_id": CONV},
    {"t": "release", "conversation_id": CONV},
    {"t": "transfer", "conversation_id": CONV, "user_id": CONV},
    {"t": "close", "conversation_id": CONV},
    {"t": "msg", "conversation_id": CONV, "id": "a1", "text": "hello"},
    {"t": "note", "conversation_id": CONV, "id": "n1", "text": "private"},
    {"t": "typing", "conversation_id": CONV, "on": False},
    {"t": "read", "conversation_id": CONV, "seq": 1},
    {"t": "ping"},
]

INVALID_VISITOR = [
    ({}, ErrorCode.BAD_FRAME),
    ({"t": 5}, ErrorCode.BAD_FRAME),
    ({"t": "nope"}, ErrorCode.UNKNOWN_TYPE),
    ({"t": "msg", "text": "hi"}, ErrorCode.BAD_FRAME),
    ({"t": "msg", "id": "c", "text": ""}, ErrorCode.BAD_FRAME),
    ({"t": "msg", "id": "c", "text": "   "}, ErrorCode.BAD_FRAME),
    ({"t": "msg", "id": "c", "text": "x" * 4001}, ErrorCode.TOO_LONG),
    ({"t": "msg", "id": "x" * 65, "text": "hi"}, ErrorCode.BAD_FRAME),
    ({"t": "msg", "id": 5, "text": "hi"}, ErrorCode.BAD_FRAME),
    ({"t": "msg", "id": "c", "text": ["hi"]}, ErrorCode.BAD_FRAME),
    ({"t": "typing"}, ErrorCode.BAD_FRAME),
    ({"t": "typing", "on": "yes"}, ErrorCode.BAD_FRAME),
    ({"t": "read", "seq": -1}, ErrorCode.BAD_FRAME),
    ({"t": "read", "seq": True}, ErrorCode.BAD_FRAME),
    ({"t": "csat", "score": 6}, ErrorCode.BAD_FRAME),
    ({"t": "csat", "score": 0}, ErrorCode.BAD_FRAME),
    ({"t": "hello", "conversation_id": "not-a-uuid"}, ErrorCode.BAD_FRAME),
    ({"t": "hello", "last_seq": "3"}, ErrorCode.BAD_FRAME),
    ({"t": "hello", "locale": "x" * 17}, ErrorCode.TOO_LONG),
    ({"t": "email", "email": "not-an-email"}, ErrorCode.BAD_FRAME),
]


@pytest.mark.parametrize("frame", VALID_VISITOR, ids=lambda f: f["t"])
def test_valid_visitor_frames(frame: dict) -> None:
    out = validate(frame, VISITOR_FRAMES, LIMITS)
    assert out["t"] == frame["t"]
    assert {k: v for k, v in frame.items()} == out


@pytest.mark.parametrize("frame", VALID_AGENT, ids=lambda f: f["t"])
def test_valid_agent_frames(frame: dict) -> None:
    assert validate(frame, AGENT_FRAMES, LIMITS) == frame


@pytest.mark.parametrize(("frame", "code"), INVALID_VISITOR)
def test_invalid_visitor_frames(frame: dict, code: ErrorCode) -> None:
    with pytest.raises(FrameError) as info:
        validate(frame, VISITOR_FRAMES, LIMITS)
    assert info.value.code == code


def test_agent_frames_need_conversation() -> None:
    with pytest.raises(FrameError):
        validate({"t": "claim"}, AGENT_FRAMES, LIMITS)
    with pytest.raises(FrameError):
        validate({"t": "hello"}, AGENT_FRAMES, LIMITS)


def test_unknown_fields_are_dropped_and_ref_is_the_client_id() -> None:
    assert validate({"t": "ping", "junk": 1}, VISITOR_FRAMES, LIMITS) == {"t": "ping"}
    with pytest.raises(FrameError) as info:
        validate({"t": "msg", "id": "c9", "text": "x" * 5000}, VISITOR_FRAMES, LIMITS)
    assert info.value.ref == "c9"


@pytest.mark.parametrize("codec", [JsonCodec(), MsgpackCodec()], ids=["json", "msgpack"])
@pytest.mark.parametrize("frame", VALID_VISITOR + VALID_AGENT, ids=lambda f: f["t"])
def test_codecs_round_trip(codec, frame: dict) -> None:
    assert codec.decode(codec.encode(frame)) == frame


@pytest.mark.parametrize(("codec", "data"), [
    (JsonCodec(), "not json"), (JsonCodec(), "[1, 2]"), (JsonCodec(), b"\xff\xfe"),
    (MsgpackCodec(), b"\xc1"), (MsgpackCodec(), "text"), (MsgpackCodec(), b"\x93\x01\x02\x03"),
])
def test_codecs_reject_garbage(codec, data) -> None:
    with pytest.raises(DecodeError):
        codec.decode(data)


def test_negotiation_prefers_offered_order_and_defaults_to_json() -> None:
    assert negotiate([])[0] is None and negotiate([])[1].name == "clienta.v1.json"
    assert negotiate(["x", "clienta.v1.msgpack"])[0] == "clienta.v1.msgpack"
    assert negotiate(["clienta.v1.json", "clienta.v1.msgpack"])[0] == "clienta.v1.json"


def test_outbound_shapes() -> None:
    assert frames.ack("c", 3) == {"t": "ack", "id": "c", "seq": 3}
    assert frames.error("bad_frame", "m", "r") == {"t": "error", "code": "bad_frame",
                                                  "message": "m", "ref": "r"}
    assert frames.bot_delta("s", "hi", 4, CONV)["offset"] == 4
    assert frames.mode(CONV, "agent", {"name": "Ploy"})["agent"] == {"name": "Ploy"}


def test_token_bucket_and_bad_frame_budget() -> None:
    bucket = TokenBucket(2, 1.0)
    t0 = bucket.stamp
    assert bucket.take(t0) and bucket.take(t0) and not bucket.take(t0)
    assert bucket.take(t0 + 1.01)
    policy = EdgePolicy(Limits(max_bad_frames=3))
    for _ in range(2):
        policy.bad_frame()
    assert policy.close_code() is None
    policy.bad_frame()
    assert policy.close_code() == 4008


# ---- hostile input: whatever a frame carries, it is refused with bad_frame -------------

DEEP = 100_000
GOOD = {"str": "ok", "text": "hi", "id": "c1", "email": "a@b.co", "uuid": CONV, "seq": 1,
        "score": 3, "bool": True, "int": 1}
POISONS = {"nul": "\x00", "lone-high-surrogate": "\ud800", "lone-low-surrogate": "\udfff"}


def _string_fields() -> list[tuple[str, dict, str, str]]:
    """(role, frame type, field, poison) for every string field of every frame type."""
    out = []
    for role, table in (("visitor", VISITOR_FRAMES), ("agent", AGENT_FRAMES)):
        for t, spec in table.items():
            for name, field in spec.items():
                if field.kind in ("str", "text", "id", "email", "uuid"):
                    out += [(role, t, name, poison) for poison in POISONS]
    return out


@pytest.mark.parametrize(("role", "t", "name", "poison"), _string_fields(),
                         ids=lambda v: str(v))
def test_nul_and_lone_surrogates_are_bad_frames_in_every_string_field(
        role: str, t: str, name: str, poison: str) -> None:
    table = VISITOR_FRAMES if role == "visitor" else AGENT_FRAMES
    frame = {"t": t, **{n: GOOD[f.kind] for n, f in table[t].items() if f.required}}
    good = GOOD[table[t][name].kind]
    # in the middle (an email keeps its shape: the check is not the email pattern's)
    frame[name] = good[:1] + POISONS[poison] + good[1:]
    validate({**frame, name: good}, table, LIMITS)  # the frame is valid without it
    with pytest.raises(FrameError) as info:
        validate(frame, table, LIMITS)
    assert info.value.code == ErrorCode.BAD_FRAME


@pytest.mark.parametrize("poison", list(POISONS.values()), ids=list(POISONS))
def test_a_poisoned_client_id_is_not_echoed_as_ref(poison: str) -> None:
    # the ref goes back out in the error frame: a lone surrogate there cannot be encoded
    with pytest.raises(FrameError) as info:
        validate({"t": "msg", "id": "c" + poison, "text": "hi"}, VISITOR_FRAMES, LIMITS)
    assert info.value.code == ErrorCode.BAD_FRAME and info.value.ref is None
    with pytest.raises(FrameError) as info:
        validate({"t": "msg", "id": "x" * 65, "text": ""}, VISITOR_FRAMES, LIMITS)
    assert info.value.ref is None


@pytest.mark.parametrize(("frame", "table"), [
    ({"t": "read", "seq": 2**63}, VISITOR_FRAMES),
    ({"t": "read", "seq": 10**40}, VISITOR_FRAMES),
    ({"t": "hello", "last_seq": 2**64}, VISITOR_FRAMES),
    ({"t": "csat", "score": 2**64 + 3}, VISITOR_FRAMES),
    ({"t": "join", "conversation_id": CONV, "last_seq": 2**63}, AGENT_FRAMES),
    ({"t": "read", "conversation_id": CONV, "seq": -(2**70)}, AGENT_FRAMES),
], ids=lambda v: str(v)[:40])
def test_integers_past_a_bigint_are_bad_frames(frame: dict, table: dict) -> None:
    with pytest.raises(FrameError) as info:
        validate(frame, table, LIMITS)
    assert info.value.code == ErrorCode.BAD_FRAME


@pytest.mark.parametrize(("codec", "data"), [
    (JsonCodec(), "[" * DEEP + "]" * DEEP),
    (JsonCodec(), '{"t":' * DEEP + "1" + "}" * DEEP),
    (JsonCodec(), '{"t":"msg","x":' + "[" * DEEP + "]" * DEEP + "}"),
    (MsgpackCodec(), b"\x91" * DEEP + b"\xc0"),
    (MsgpackCodec(), b"\x81\xa1t" * DEEP + b"\xc0"),
    (MsgpackCodec(), b"\x82\xa1t\xa3msg\xa1x" + b"\x91" * DEEP + b"\xc0"),
], ids=["json-array", "json-object", "json-in-frame", "msgpack-array", "msgpack-map",
        "msgpack-in-frame"])
def test_deep_nesting_is_a_decode_error(codec, data) -> None:
    with pytest.raises(DecodeError):
        codec.decode(data)


@pytest.mark.parametrize(("frame", "table"), [
    ({"t": "hello", "conversation_id": "6f1c7d3e-8a5b-4c2d-9e0f-1a2b3c4d5e6f\n"},
     VISITOR_FRAMES),
    ({"t": "join", "conversation_id": "6f1c7d3e-8a5b-4c2d-9e0f-1a2b3c4d5e6f\n"}, AGENT_FRAMES),
    ({"t": "email", "email": "a@b.co\n"}, VISITOR_FRAMES),
    ({"t": "identify", "email": "a@b.co\nBcc: x@y.z"}, VISITOR_FRAMES),
])
def test_a_trailing_line_break_is_not_part_of_an_id_or_address(frame: dict,
                                                               table: dict) -> None:
    # `$` matches before a final newline: a uuid that passed then failed UUID() (1011),
    # and an address with a line break could reach a mail header
    with pytest.raises(FrameError) as err:
        validate(frame, table, Limits())
    assert err.value.code == ErrorCode.BAD_FRAME

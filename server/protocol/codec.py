"""The two codecs of the contract: JSON text frames and msgpack binary frames, same maps."""

from __future__ import annotations

import json
from typing import Any, Protocol

import msgpack

from server.protocol.codes import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK


class DecodeError(ValueError):
    """The bytes are not one frame map of this codec."""


class Codec(Protocol):
    name: str
    binary: bool

    def encode(self, frame: dict[str, Any]) -> bytes | str: ...

    def decode(self, data: bytes | str) -> dict[str, Any]: ...


class JsonCodec:
    name = SUBPROTOCOL_JSON
    binary = False

    def __init__(self) -> None:
        self._encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def encode(self, frame: dict[str, Any]) -> str:
        return self._encoder.encode(frame)

    def decode(self, data: bytes | str) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError("not valid JSON") from exc
        except RecursionError as exc:  # nesting past the interpreter's limit (~1000)
            raise DecodeError("nested too deeply") from exc
        if not isinstance(value, dict):
            raise DecodeError("a frame must be a JSON object")
        return value


class MsgpackCodec:
    name = SUBPROTOCOL_MSGPACK
    binary = True

    def encode(self, frame: dict[str, Any]) -> bytes:
        return msgpack.packb(frame, use_bin_type=True)

    def decode(self, data: bytes | str) -> dict[str, Any]:
        if isinstance(data, str):
            raise DecodeError("msgpack frames are binary")
        try:
            # its lengths are bounded by the frame's size and its nesting by the C
            # unpacker's stack (1024 levels, StackError): a frame is a flat map anyway
            value = msgpack.unpackb(data, raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises several unrelated types
            raise DecodeError("not valid msgpack") from exc
        if not isinstance(value, dict):
            raise DecodeError("a frame must be a msgpack map")
        return value


CODECS: dict[str, type[JsonCodec] | type[MsgpackCodec]] = {
    SUBPROTOCOL_JSON: JsonCodec,
    SUBPROTOCOL_MSGPACK: MsgpackCodec,
}


def negotiate(offered: list[str]) -> tuple[str | None, Codec]:
    """Pick the first offered subprotocol we speak; none offered means JSON."""
    for name in offered:
        if name in CODECS:
            return name, CODECS[name]()
    return None, JsonCodec()

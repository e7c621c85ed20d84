"""Hypothesis strategies for hostile input: arbitrary JSON values (NUL, lone surrogates,
huge and non-finite numbers), near-valid frames built from the protocol's own tables, and
their encodings in both codecs (valid or not)."""

from __future__ import annotations

import json
from typing import Any

import msgpack
from hypothesis import strategies as st

from server.protocol.frames import Field

# characters that break things downstream of a validator: Postgres refuses NUL in text,
# UTF-8 refuses lone surrogates, regexes' `$` matches before a trailing newline
NASTY_CHARS = ["\x00", "\ud800", "\udfff", "\udbff\udc00", "\n", "\r", "\u2028", "\ufeff",
               "\u0301", "\U0001f600", "\x7f", "\\", '"', "%00", "'"]
# every code point, surrogates included
ANY_CHAR = st.characters(exclude_categories=())


def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    nasty = st.lists(st.sampled_from(NASTY_CHARS) | ANY_CHAR, max_size=6).map("".join)
    plain = st.text(ANY_CHAR, max_size=max_size)
    return st.one_of(plain, st.builds(lambda a, b, c: a + b + c, plain, nasty, plain))


# around every bound the tables use (seq < 2**62, score 1..5) and the codecs' widths
EDGE_INTS = [0, -1, 1, 5, 6, 2**31, 2**53 + 1, 2**62 - 1, 2**62, 2**63 - 1, 2**63,
             2**64 - 1, -(2**63)]


def ints(wide: bool = True) -> st.SearchStrategy[int]:
    """msgpack packs only -2**63..2**64-1; JSON takes any width (`wide`)."""
    bounded = st.integers(-(2**63), 2**64 - 1)
    edges = st.sampled_from(EDGE_INTS)
    if wide:
        return st.one_of(edges, bounded, st.integers(-(10**40), 10**40))
    return st.one_of(edges, bounded)


def scalars(wide: bool = True) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), ints(wide),
                     st.floats(allow_nan=True, allow_infinity=True), texts())


def json_values(wide: bool = True) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars(wide),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(texts(12), children, max_size=4),
        max_leaves=12,
    )


def good_value(field: Field) -> st.SearchStrategy[Any]:
    """Values of the right type, pushed towards each field kind's edges."""
    kind = field.kind
    if kind == "bool":
        return st.booleans()
    if kind in ("seq", "score", "int"):
        return st.one_of(st.integers(-3, 8), st.sampled_from(EDGE_INTS))
    if kind == "uuid":
        uuid_text = st.uuids().map(str)
        decorated = st.builds(lambda u, pre, post: pre + u + post, uuid_text,
                              st.sampled_from(["", " ", "{", "urn:uuid:"]),
                              st.sampled_from(["", "\n", " ", "}", "\x00"]))
        return st.one_of(uuid_text, uuid_text.map(str.upper), uuid_text.map(
            lambda u: u.replace("-", "")), decorated)
    if kind == "email":
        return st.one_of(st.emails(), st.builds(
            lambda local, host, tail: f"{local}@{host}.co{tail}",
            texts(8).filter(bool), texts(8).filter(bool),
            st.sampled_from(["", "\n", "\x00", " "])))
    return texts(field.max_len + 2 if field.max_len <= 64 else 80)


def near_frames(table: dict[str, dict[str, Field]],
                wide: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """A frame of a known type whose fields are present or not, well typed or not, plus
    fields the table does not know."""

    def of_type(t: str) -> st.SearchStrategy[dict[str, Any]]:
        spec = table[t]
        optional = {name: st.one_of(good_value(f), good_value(f), json_values(wide))
                    for name, f in spec.items()}
        base = st.fixed_dictionaries({"t": st.just(t)}, optional=optional)
        extra = st.dictionaries(texts(8), json_values(wide), max_size=2)
        return st.builds(lambda extra, frame: {**extra, **frame}, extra, base)

    return st.sampled_from(sorted(table)).flatmap(of_type)


def any_frames(table: dict[str, dict[str, Field]],
               wide: bool = True) -> st.SearchStrategy[Any]:
    """Mostly near-valid frames; some maps with a strange `t`, some non-maps."""
    odd_t = st.fixed_dictionaries({"t": json_values(wide)},
                                  optional={"id": json_values(wide)})
    return st.one_of(near_frames(table, wide), near_frames(table, wide), odd_t,
                     json_values(wide))


def json_encoded(value: Any) -> st.SearchStrategy[str | bytes]:
    """The value as JSON text the way a client could send it: escaped (lone surrogates as
    \\ud800), raw UTF-8 bytes (invalid where surrogates are), or truncated."""
    escaped = json.dumps(value)
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return st.sampled_from([escaped, raw, escaped[: max(1, len(escaped) // 2)]])


def msgpack_encoded(value: Any) -> st.SearchStrategy[bytes]:
    """The value as msgpack, strings with lone surrogates packed as their (invalid) UTF-8,
    whole or truncated."""
    packed = msgpack.packb(value, use_bin_type=True, unicode_errors="surrogatepass")
    return st.sampled_from([packed, packed[: max(1, len(packed) // 2)]])


def garbage() -> st.SearchStrategy[str | bytes]:
    return st.one_of(st.binary(max_size=64), st.text(ANY_CHAR, max_size=64).map(
        lambda s: s.encode("utf-8", "surrogatepass")), st.sampled_from([
            "", "null", "[]", "1e999999", "-0", '{"t":', '{"t":"msg"}{"t":"msg"}',
            '{"t":"read","seq":' + "9" * 5000 + "}", '{"t": NaN}', '{"\\ud800": 1}',
        ]))

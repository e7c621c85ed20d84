"""widget/shared/codes.js mirrors server/protocol/codes.py exactly, and the widget and the
console take their close and error codes from it, not from literals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.protocol.codes import CloseCode, ErrorCode

WIDGET = Path(__file__).resolve().parents[2] / "widget"
CODES_JS = WIDGET / "shared" / "codes.js"
# `NAME: 1000,` or `NAME: 'bad_frame'` inside `var NAME = { ... };`
_ENTRY = re.compile(r"^\s*([A-Z_]+):\s*(\d+|'[a-z_]+')\s*,?\s*(?://.*)?$")


def js_table(name: str) -> dict[str, int | str]:
    block = re.search(rf"^var {name} = \{{\n(.*?)^\}};", CODES_JS.read_text(), re.M | re.S)
    assert block, f"no `var {name} = {{...}};` in {CODES_JS}"
    out: dict[str, int | str] = {}
    for line in block.group(1).splitlines():
        if not line.strip() or line.strip().startswith("//"):
            continue
        entry = _ENTRY.match(line)
        assert entry, f"cannot read {line!r} in {name}"
        value = entry.group(2)
        out[entry.group(1)] = int(value) if value.isdigit() else value.strip("'")
    return out


def test_close_codes_match_the_server() -> None:
    assert js_table("CLOSE") == {c.name: c.value for c in CloseCode}


def test_error_codes_match_the_server() -> None:
    assert js_table("ERROR") == {c.name: c.value for c in ErrorCode}


def test_every_close_code_says_what_the_widget_does() -> None:
    text = CODES_JS.read_text()
    for name in js_table("CLOSE"):
        assert f"CLOSE_INFO[CLOSE.{name}] = " in text, name


# what a literal close or error code looks like in the widget's code
_LITERALS = [
    re.compile(r"code\s*[!=]==?\s*(?:\d{4}|'[a-z_]+')"),  # code === 4001, f.code === 'x'
    re.compile(r"(?:close|lost)\([^)]*\b\d{4}\b"),  # s.close(1000), lost(s, 1006)
]


@pytest.mark.parametrize("path", sorted(p.relative_to(WIDGET).as_posix()
                                        for p in WIDGET.rglob("*.js") if p != CODES_JS))
def test_no_literal_codes_outside_codes_js(path: str) -> None:
    source = (WIDGET / path).read_text()
    found = [m.group(0) for pattern in _LITERALS for m in pattern.finditer(source)]
    assert not found, f"{path}: use CLOSE/ERROR from shared/codes.js: {found}"

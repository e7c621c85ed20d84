"""Chunking as a table: bounded sizes, headings with their text, overlap, Thai (pure)."""

from __future__ import annotations

import itertools

import pytest

from server.domain.knowledge import ChunkKind
from server.domain.text import is_mark
from server.kb.chunking import Section, chunk_sections, hard_split, well_formed

EN = ("Refunds are issued within five business days. Card refunds can take longer to appear. "
      "We email you when the refund is sent.\nReturns of opened coffee are not accepted. "
      "Unused equipment can be returned within thirty days. ") * 6
TH_SPACED = "ร้านเปิดทุกวันตั้งแต่เจ็ดโมงเช้า ปิดหกโมงเย็น วันหยุดนักขัตฤกษ์ปิดทำการ " * 12
TH_UNSPACED = "ร้านเปิดทุกวันตั้งแต่เจ็ดโมงเช้าถึงหกโมงเย็นวันหยุดนักขัตฤกษ์ปิดทำการ" * 12

CASES = [
    ("english", [Section("Returns › Refunds", EN)], 300),
    ("english-small", [Section("", EN)], 120),
    ("thai-spaced", [Section("เวลาเปิด", TH_SPACED)], 200),
    ("thai-unspaced", [Section("เวลาเปิด", TH_UNSPACED)], 150),
    ("several", [Section("A", "Alpha text."), Section("A › B", "Beta text. " * 40),
                 Section("C", "")], 200),
    ("qa", [Section("Can I pay by card?", "Yes, all major cards.", ChunkKind.QA)], 800),
]


@pytest.mark.parametrize(("name", "sections", "max_chars"), CASES, ids=[c[0] for c in CASES])
def test_chunks_are_well_formed(name: str, sections: list[Section], max_chars: int) -> None:
    chunks = chunk_sections(sections, max_chars)
    assert chunks, name
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert well_formed(c, max_chars), (name, len(c), c.text[:20])
        assert not is_mark(c.text[0]) and not is_mark(c.indexed[0])


@pytest.mark.parametrize(("name", "sections", "max_chars"), CASES, ids=[c[0] for c in CASES])
def test_every_word_is_kept_and_headings_travel_with_text(
    name: str, sections: list[Section], max_chars: int
) -> None:
    chunks = chunk_sections(sections, max_chars)
    for section in sections:
        mine = [c for c in chunks if c.heading == section.heading]
        if not section.text.strip():
            assert not mine
            continue
        assert mine and all(c.kind is section.kind for c in mine)
        joined = " ".join(c.text for c in mine)
        for word in section.text.split():
            if len(word) < 40:  # a long unspaced Thai run is checked piecewise below
                assert word in joined, (name, word)


def test_neighbouring_chunks_overlap() -> None:
    chunks = chunk_sections([Section("", EN)], 300, overlap_chars=80)
    assert len(chunks) > 2
    for a, b in itertools.pairwise(chunks):
        tail = a.text.split(". ")[-1]
        assert tail and tail in b.text


def test_no_overlap_when_asked() -> None:
    chunks = chunk_sections([Section("", EN)], 300, overlap_chars=0)
    total = sum(len(c.text) for c in chunks)
    assert total <= len(EN)


def test_thai_without_spaces_is_hard_split_with_overlap() -> None:
    chunks = chunk_sections([Section("", TH_UNSPACED)], 150, overlap_chars=12)
    assert len(chunks) > 3
    assert all(len(c) <= 150 for c in chunks)
    # consecutive pieces share characters, so a word cut in two is whole in one of them
    for a, b in itertools.pairwise(chunks):
        assert a.text[-6:] in b.text[:24]
    covered = chunks[0].text + "".join(c.text[12:] for c in chunks[1:])
    assert len(covered) >= len(TH_UNSPACED) - 12 * len(chunks)


@pytest.mark.parametrize(("text", "size"), [
    ("a" * 50, 10), ("word " * 30, 12), ("กี่" * 40, 10), ("ก" + "\u0e48" * 30, 5),
])
def test_hard_split_bounds_and_graphemes(text: str, size: int) -> None:
    pieces = hard_split(text, size)
    assert pieces
    for p in pieces:
        assert p and not is_mark(p[0])
    # a run of marks longer than the window is the one case that may exceed it
    if not all(is_mark(ch) for ch in text[1:]):
        assert all(len(p) <= size for p in pieces)


def test_long_heading_is_shortened() -> None:
    chunks = chunk_sections([Section("H" * 500, "Body text here.")], 300)
    assert len(chunks) == 1 and len(chunks[0]) <= 300
    assert chunks[0].heading.endswith("…")


def test_empty_input_gives_no_chunks() -> None:
    assert chunk_sections([], 800) == []
    assert chunk_sections([Section("Only a heading", "   ")], 800) == []

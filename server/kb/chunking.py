"""Splitting sections into chunks by characters: headings kept with their text, a small
overlap, breaks at sentence or line boundaries (spaces between Thai phrases count), and a
hard split that never separates a character from its combining marks. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from server.domain.knowledge import ChunkKind
from server.domain.text import is_mark, safe_cut, split_units

HEADING_SEP = " › "


@dataclass(frozen=True, slots=True)
class Section:
    """Text under one heading path (empty heading: none)."""

    heading: str
    text: str
    kind: ChunkKind = ChunkKind.TEXT


@dataclass(frozen=True, slots=True)
class Chunk:
    ord: int
    heading: str
    text: str
    kind: ChunkKind = ChunkKind.TEXT

    @property
    def indexed(self) -> str:
        """What is embedded and searched: the heading travels with its text."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    def __len__(self) -> int:
        return len(self.indexed)


def hard_split(text: str, size: int, overlap: int = 0) -> list[str]:
    """Pieces of at most `size` characters, preferring the last space in each window; a
    cut inside a word (Thai has no spaces) repeats `overlap` characters in the next piece."""
    size = max(size, 2)
    overlap = min(overlap, size // 4)
    out: list[str] = []
    rest = text.strip()
    while len(rest) > size:
        window = rest[: size + 1]
        cut = window.rfind(" ")
        start = cut
        if cut < size // 2:
            cut = safe_cut(rest, size)
            start = safe_cut(rest, cut - overlap) if overlap else cut
        piece, rest = rest[:cut].strip(), rest[start:].strip()
        if piece:
            out.append(piece)
    if rest:
        out.append(rest)
    return out


def _units(text: str, budget: int, overlap: int) -> list[tuple[str, str]]:
    units: list[tuple[str, str]] = []
    for unit, sep in split_units(text):
        if len(unit) <= budget:
            units.append((unit, sep))
            continue
        for i, piece in enumerate(hard_split(unit, budget, overlap)):
            units.append((piece, sep if i == 0 else " "))
    return units


def _join(units: list[tuple[str, str]]) -> str:
    return "".join((sep if i else "") + unit for i, (unit, sep) in enumerate(units))


def chunk_section(section: Section, max_chars: int, overlap_chars: int) -> list[Chunk]:
    """Chunks of one section: each one's heading line plus body fits in `max_chars`."""
    heading = section.heading.strip()
    if len(heading) > max_chars // 3:
        heading = heading[: safe_cut(heading, max_chars // 3)].rstrip() + "…"
    budget = max(max_chars - (len(heading) + 1 if heading else 0), 16)
    units = _units(section.text, budget, overlap_chars)
    chunks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    fresh = 0  # units in `current` not carried over from the previous chunk
    for unit, sep in units:
        add = len(unit) + (len(sep) if current else 0)
        if current and size + add > budget:
            chunks.append(current)
            carried: list[tuple[str, str]] = []
            carried_size = 0
            for u, s in reversed(current):
                if carried_size + len(u) + 1 > overlap_chars or len(carried) + 1 >= len(current):
                    break
                carried.insert(0, (u, s))
                carried_size += len(u) + 1
            # the overlap only stays if the new unit still fits beside it
            while carried and carried_size + len(unit) + 1 > budget:
                carried_size -= len(carried.pop(0)[0]) + 1
            current = carried
            size = len(_join(current))
            fresh = 0
            add = len(unit) + (len(sep) if current else 0)
        current.append((unit, sep))
        size += add
        fresh += 1
    if current and fresh:
        chunks.append(current)
    return [Chunk(0, heading, _join(c), section.kind) for c in chunks]


def chunk_sections(
    sections: list[Section] | tuple[Section, ...],
    max_chars: int = 800,
    overlap_chars: int | None = None,
) -> list[Chunk]:
    """All chunks of a document in order, numbered from 0."""
    overlap = max_chars // 8 if overlap_chars is None else overlap_chars
    out: list[Chunk] = []
    for section in sections:
        if not section.text.strip():
            continue
        for c in chunk_section(section, max_chars, overlap):
            out.append(Chunk(len(out), c.heading, c.text, c.kind))
    return out


def well_formed(chunk: Chunk, max_chars: int) -> bool:
    """The invariants the table tests check: bounded, trimmed, no orphaned mark."""
    return (
        0 < len(chunk) <= max_chars
        and chunk.text == chunk.text.strip()
        and not is_mark(chunk.text[0])
    )

"""Text normalisation, sentence units and search terms for English and Thai.

One vocabulary shared by chunking, the offline embedder, the lexical channel, the
offline reranker and the extractive bot, so a document and a question meet on equal terms.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

THAI_RE = re.compile(r"[\u0E00-\u0E7F]")
# a Thai run, or a run of letters/digits in any other script (Thai combining marks are
# not \w in Python, so Thai needs its own range)
_RUN_RE = re.compile(r"[\u0E00-\u0E7F]+|[^\W_\u0E00-\u0E7F]+")
# where a text may break into sentence units: after . ! ? followed by space, at line
# breaks, and at a space between two Thai characters (Thai writes no spaces between
# words; a space there ends a phrase or sentence)
_BREAK_RE = re.compile(
    r"(?<=[.!?。])[ \t]+|(?<=[.!?。][\"')\]])[ \t]+|[ \t]*\n\s*"
    r"|(?<=[\u0E00-\u0E7F])[ \t]+(?=[\u0E00-\u0E7F])"
)

STOP_WORDS = frozenset(
    """a an the is are am was were be been being do does did done i you he she it we they
    me my your our their its his her them us this that these those there here of to in on
    at by for with from as and or but if so than then can could will would should shall
    may might must have has had having how what when where which who whom why whose please
    hi hello hey thanks thank just also any some about into out up down over get got
    want need let s t im ive dont""".split()
)
# polite particles that end Thai questions and statements; stripped from the end of a run
_TH_TRAILING = ("ครับผม", "ครับ", "ค่ะ", "คะ", "จ้ะ", "จ้า", "นะ", "ไหม", "มั้ย", "หรือเปล่า",
                "บ้าง", "อย่างไร", "ยังไง", "เหรอ", "หรอ", "เท่าไหร่", "เท่าไร", "หน่อย", "ด้วย",
                "ได้")


def normalise(text: str) -> str:
    """NFKC and case-folded: the form every search term is computed from."""
    return unicodedata.normalize("NFKC", text).casefold()


def is_thai(text: str) -> bool:
    return THAI_RE.search(text) is not None


def stem(word: str) -> str:
    """A light English suffix stripper: consistent, not linguistically exact."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    w = word
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if w.endswith("ing") and len(w) > 5:
        w = w[:-3]
    elif w.endswith("ed") and len(w) > 4:
        w = w[:-2]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz" and w[-1].isalpha():
        w = w[:-1]  # shipp -> ship
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]  # charge / charged / charging -> charg
    return w


def strip_particles(run: str) -> str:
    changed = True
    while changed and run:
        changed = False
        for p in _TH_TRAILING:
            if run.endswith(p) and len(run) > len(p):
                run = run[: -len(p)]
                changed = True
    return run


def runs(text: str) -> Iterator[tuple[bool, str]]:
    """(is_thai, run) pairs of the normalised text."""
    for m in _RUN_RE.finditer(normalise(text)):
        run = m.group()
        yield (THAI_RE.match(run) is not None, run)


def terms(text: str) -> list[str]:
    """Search terms in text order: stemmed English words minus stop words, numbers, and
    character bigrams of Thai runs (Thai has no spaces to find words by)."""
    out: list[str] = []
    for thai, run in runs(text):
        if thai:
            units = clusters(strip_particles(run))
            if len(units) == 1:
                out.append(units[0])
            out.extend(units[i] + units[i + 1] for i in range(len(units) - 1))
        elif run not in STOP_WORDS:
            out.append(stem(run))
    return out


def clusters(run: str) -> list[str]:
    """A Thai run as grapheme clusters: each base character with its vowel and tone marks."""
    out: list[str] = []
    for ch in run:
        if out and is_mark(ch):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def term_set(text: str) -> set[str]:
    return set(terms(text))


def split_units(text: str) -> list[tuple[str, str]]:
    """Sentence units with the separator that preceded each ("" first, then " " or "\\n")."""
    out: list[tuple[str, str]] = []
    pos = 0
    sep = ""
    for m in _BREAK_RE.finditer(text):
        unit = text[pos : m.start()].strip()
        if unit:
            out.append((unit, sep if out else ""))
            sep = "\n" if "\n" in m.group() else " "
        elif "\n" in m.group():
            sep = "\n"
        pos = m.end()
    tail = text[pos:].strip()
    if tail:
        out.append((tail, sep if out else ""))
    return out


def sentences(text: str) -> list[str]:
    return [u for u, _ in split_units(text)]


def is_mark(ch: str) -> bool:
    """A combining mark (Thai vowel and tone marks among them): never cut before one."""
    return unicodedata.category(ch).startswith("M")


def safe_cut(text: str, cut: int) -> int:
    """Move `cut` back so no grapheme is split (a base character keeps its marks)."""
    while 0 < cut < len(text) and is_mark(text[cut]):
        cut -= 1
    if cut == 0:  # a run of marks longer than the window: cut forward instead
        cut = 1
        while cut < len(text) and is_mark(text[cut]):
            cut += 1
    return cut

"""The offline bot's answer: quote the sentences of the best passage that cover the question.

It never follows what a document says: it only selects and quotes, and sentences that
read as instructions to an assistant are left out of what it quotes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from server.domain.knowledge import ChunkKind
from server.domain.text import is_thai, sentences, term_set
from server.kb.model import Passage

MAX_ANSWER_CHARS = 600
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b[^.\n]{0,60}\b(instruction|prompt|rule|guideline)s?\b"
    r"|\b(system prompt|you are now|from now on,? you|act as|pretend to be|new instructions)\b"
    r"|ไม่ต้อง(สนใจ|ทำตาม)คำสั่ง|(เพิกเฉย|ละเว้น|ลืม)[^\n]{0,30}คำสั่ง|คำสั่งก่อนหน้า",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def looks_like_instruction(sentence: str) -> bool:
    """A sentence addressed to an AI rather than to a customer (prompt injection)."""
    return _INJECTION.search(sentence) is not None


def _score(sentences_: Sequence[str], question: str) -> list[float]:
    q = term_set(question)
    if not q:
        return [0.0] * len(sentences_)
    sets = [term_set(s) for s in sentences_]
    df: Counter[str] = Counter()
    for s in sets:
        df.update(q & s)
    n = len(sets)
    weight = {t: math.log(1.0 + (n + 1) / (df[t] + 0.5)) for t in q}
    return [sum(weight[t] for t in q & s) for s in sets]


def best_sentences(question: str, text: str, *, max_chars: int = MAX_ANSWER_CHARS) -> str:
    units = [_LIST_MARK.sub("", s) for s in sentences(text)]
    keep = [i for i, s in enumerate(units) if s and not looks_like_instruction(s)]
    if not keep:
        return ""
    scores = _score([units[i] for i in keep], question)
    # the best pair of neighbouring sentences, earliest on ties: an answer often spans a
    # sentence and the next, and documents put the general case before the exceptions
    pair = [scores[j] + (scores[j + 1] if j + 1 < len(keep) and keep[j + 1] == keep[j] + 1
                         else 0.0) for j in range(len(keep))]
    best = max(range(len(keep)), key=lambda j: (round(pair[j], 6), -j)) if any(scores) else 0
    if best + 1 < len(keep) and scores[best] == 0:
        best += 1  # the pair's value is all in its second sentence: start there
    chosen = [keep[best]]
    # a short sentence (or a Thai phrase) reads better with the one that follows it
    want = 160 if is_thai(units[keep[best]]) else 100
    nxt = best + 1
    while (sum(len(units[i]) for i in chosen) < want and nxt < len(keep)
           and keep[nxt] == chosen[-1] + 1):
        chosen.append(keep[nxt])
        nxt += 1
    answer = " ".join(units[i] for i in chosen)
    if len(answer) > max_chars:
        answer = answer[:max_chars].rsplit(" ", 1)[0] + "…"
    return answer


def extractive_answer(question: str, passages: Sequence[Passage], locale: str | None) -> str:
    """The best passage's answer for a question,answer pair, else its best sentences."""
    del locale  # quoted text keeps the document's language
    for passage in passages[:3]:
        if passage.kind is ChunkKind.QA and not looks_like_instruction(passage.text):
            return passage.text[: MAX_ANSWER_CHARS * 2]
        answer = best_sentences(question, passage.text)
        if answer:
            return answer
    return ""

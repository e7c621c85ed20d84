"""When the bot should step aside: a visitor asking for a person in words (English, Thai)."""

from __future__ import annotations

import re
import unicodedata

_EN = re.compile(
    r"\b(talk|speak|chat|connect(\s+me)?)\s+(to|with)\s+(a\s+|an\s+|the\s+|some\s*one\s*|real\s+)*"
    r"(human|person|agent|representative|operator|staff|somebody|someone|people)\b"
    r"|\b(human|live|real)\s+(agent|person|support)\b"
    r"|\bcustomer\s+service\s+(agent|rep)\b"
    r"|^\s*(agent|human|operator|representative)\s*[.!?]*\s*$",
    re.IGNORECASE,
)
_TH = (
    "คุยกับพนักงาน", "ขอคุยกับคน", "คุยกับคน", "ติดต่อพนักงาน", "ขอพนักงาน",
    "ต่อพนักงาน", "เจ้าหน้าที่", "คุยกับแอดมิน", "ขอแอดมิน", "คนจริง",
)


def asks_for_human(text: str) -> bool:
    norm = unicodedata.normalize("NFC", text)
    if _EN.search(norm):
        return True
    compact = norm.replace(" ", "")
    return any(phrase in compact for phrase in _TH)


_UNHELPED_EN = re.compile(
    r"\b(not|isn'?t|wasn'?t|didn'?t|doesn'?t)\s+(help(ful|ing)?|work(ing)?|answer(ed)?|what i)"
    r"|\b(useless|wrong answer|that'?s wrong|no idea what you)|\bstill (doesn'?t|not|have)",
    re.IGNORECASE,
)
_UNHELPED_TH = ("ไม่ช่วย", "ไม่ได้ช่วย", "ไม่ตรง", "ไม่ใช่", "ยังไม่ได้", "ไม่เข้าใจ", "ไม่ถูก")


def says_unhelped(text: str) -> bool:
    """The visitor tells the bot its answer did not help: one unresolved turn."""
    norm = unicodedata.normalize("NFC", text)
    if _UNHELPED_EN.search(norm):
        return True
    compact = norm.replace(" ", "")
    return any(phrase in compact for phrase in _UNHELPED_TH)

"""Search terms and sentence units for English and Thai (pure tables)."""

from __future__ import annotations

import pytest

from server.domain.text import clusters, is_mark, safe_cut, sentences, split_units, stem, terms


@pytest.mark.parametrize(("word", "expected"), [
    ("refunds", "refund"), ("shipping", "ship"), ("charged", "charg"), ("charge", "charg"),
    ("charges", "charg"), ("policies", "policy"), ("class", "class"), ("bus", "bus"),
    ("day", "day"), ("300", "300"),
])
def test_stem(word: str, expected: str) -> None:
    assert stem(word) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("How do I reset my password?", ["reset", "password"]),
    ("Refunds take 5 days", ["refund", "take", "5", "day"]),
    ("ＲＥＦＵＮＤＳ", ["refund"]),  # NFKC + casefold
    ("คืนเงิน", ["คืน", "นเ", "เงิ", "งิน"]),  # cluster bigrams: marks stay on their base
    ("คืนเงินครับ", ["คืน", "นเ", "เงิ", "งิน"]),  # the polite particle is not a term
    ("iPhoneราคา", ["iphon", "รา", "าค", "คา"]),  # scripts split where they meet
    ("ก", ["ก"]),
    ("", []),
])
def test_terms(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


def test_clusters_keep_marks_with_their_base() -> None:
    assert clusters("ที่นี่") == ["ที่", "นี่"]
    assert all(not is_mark(c[0]) for c in clusters("น้ำแข็งใส่ถุง"))


@pytest.mark.parametrize(("text", "expected"), [
    ("One. Two! Three? Four", [("One.", ""), ("Two!", " "), ("Three?", " "), ("Four", " ")]),
    ("Line one\nLine two\n\nPara", [("Line one", ""), ("Line two", "\n"), ("Para", "\n")]),
    ('He said "stop." Then', [('He said "stop."', ""), ("Then", " ")]),
    ("Version 2.5 is out", [("Version 2.5 is out", "")]),
    # Thai: a space between Thai characters ends a phrase; next to digits it does not
    ("เปิดทุกวัน ราคา 100 บาท ปิดวันจันทร์",
     [("เปิดทุกวัน", ""), ("ราคา 100 บาท", " "), ("ปิดวันจันทร์", " ")]),
    ("", []),
])
def test_split_units(text: str, expected: list[tuple[str, str]]) -> None:
    assert split_units(text) == expected


def test_sentences_drop_blank_units() -> None:
    assert sentences("  \n\n  A.  \n ") == ["A."]


@pytest.mark.parametrize(("text", "cut", "expected"), [
    ("abcdef", 3, 3),
    ("abกี่วัน", 3, 2),  # index 3 is the vowel mark of ก: step back before ก
    ("abกี่วัน", 4, 2),  # index 4 is the tone mark
    ("abกี่วัน", 5, 5),  # ว is a base character
    ("กี่วัน", 1, 3),  # nothing before the first cluster: cut after it instead
])
def test_safe_cut_never_orphans_a_mark(text: str, cut: int, expected: int) -> None:
    got = safe_cut(text, cut)
    assert got == expected
    assert got == len(text) or not is_mark(text[got])

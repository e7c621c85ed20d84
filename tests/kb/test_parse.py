"""Uploaded bytes to sections: each format, and clear client errors for bad files."""

from __future__ import annotations

import pytest

from server.domain.knowledge import ChunkKind, DocKind
from server.kb.model import EmptyDocument, UnreadableDocument, UnsupportedType
from server.kb.parse import decode_text, detect_kind, parse_document, parse_text
from tests.kb.conftest import make_pdf


@pytest.mark.parametrize(("filename", "ctype", "data", "kind"), [
    ("a.txt", None, b"x", DocKind.TEXT),
    ("A.MD", None, b"x", DocKind.MARKDOWN),
    ("page.htm", None, b"x", DocKind.HTML),
    ("faq.csv", "application/octet-stream", b"q,a", DocKind.CSV),
    ("doc.pdf", None, b"%PDF-1.4", DocKind.PDF),
    ("renamed.bin", None, b"%PDF-1.7 ...", DocKind.PDF),  # the magic wins
    (None, "text/markdown; charset=utf-8", b"# x", DocKind.MARKDOWN),
    (None, "text/html", b"<p>x", DocKind.HTML),
    (None, None, b"<!DOCTYPE html><p>x", DocKind.HTML),
    ("blob", "application/octet-stream", b"plain words", DocKind.TEXT),
])
def test_detect_kind(filename: str | None, ctype: str | None, data: bytes, kind: DocKind) -> None:
    assert detect_kind(filename, ctype, data) is kind


@pytest.mark.parametrize(("filename", "ctype", "data"), [
    ("photo.png", "image/png", b"\x89PNG\r\n"),
    ("report.docx", None, b"PK\x03\x04"),
    (None, "image/jpeg", b"\xff\xd8\xff"),
    ("blob", "application/octet-stream", b"\x00\x01\x02binary"),
])
def test_unsupported_types_are_415(filename: str | None, ctype: str | None, data: bytes) -> None:
    with pytest.raises(UnsupportedType) as info:
        detect_kind(filename, ctype, data)
    assert info.value.status == 415


def test_decode_text_encodings() -> None:
    assert decode_text("\ufeffhello".encode()) == "hello"
    assert decode_text("สวัสดี".encode("utf-16")) == "สวัสดี"
    assert decode_text("สวัสดีครับ".encode("cp874")) == "สวัสดีครับ"
    with pytest.raises(UnsupportedType):
        decode_text(b"\x00\x00binary\x00\x9f")


def test_markdown_headings_become_section_paths() -> None:
    md = ("# Returns\nIntro line.\n\n## Refunds\nRefunds take **five** days. See [policy](http://x).\n"
          "\n### Cards\nCard refunds are slower.\n\n## Exchanges\nWe exchange once.\n"
          "```\n# not a heading\n```\n")
    doc = parse_document(md.encode(), DocKind.MARKDOWN, filename="returns.md")
    assert doc.title == "Returns"
    got = [(s.heading, s.text) for s in doc.sections]
    assert got[0] == ("Returns", "Intro line.")
    assert got[1] == ("Returns › Refunds", "Refunds take five days. See policy.")
    assert got[2] == ("Returns › Refunds › Cards", "Card refunds are slower.")
    assert got[3][0] == "Returns › Exchanges" and "# not a heading" in got[3][1]


def test_setext_headings() -> None:
    sections = parse_text("T", "Title\n=====\nBody one.\n\nSub\n---\nBody two.").sections
    assert [(s.heading, s.text) for s in sections] == [("Title", "Body one."),
                                                        ("Title › Sub", "Body two.")]


def test_html_drops_chrome_and_keeps_structure() -> None:
    html = """<!doctype html><html><head><title>Hours &amp; places</title>
    <style>.x{color:red}</style><script>alert("steal")</script></head><body>
    <header>Logo Shop Cart</header><nav><a>Home</a><a>Blog</a></nav>
    <main><h1>Our cafés</h1><p>Visit us&nbsp;daily.</p>
    <h2>Ari</h2><p>Open 7:00 to 18:00.<br>Near BTS.</p><ul><li>Parking</li><li>Wi-Fi</li></ul>
    <noscript>Enable JS</noscript></main>
    <footer>© Lumen · Privacy</footer></body></html>"""
    doc = parse_document(html.encode(), DocKind.HTML)
    text = " ".join(s.heading + " " + s.text for s in doc.sections)
    assert doc.title == "Hours & places"
    for dropped in ("alert", "color:red", "Logo Shop", "Home", "Blog", "Privacy", "Enable JS"):
        assert dropped not in text
    assert [s.heading for s in doc.sections] == ["Our cafés", "Our cafés › Ari"]
    assert doc.sections[1].text == "Open 7:00 to 18:00.\nNear BTS.\n- Parking\n- Wi-Fi"
    assert doc.sections[0].text == "Visit us daily."


def test_pdf_text_is_extracted() -> None:
    pdf = make_pdf(["Warranty covers grinders for one year.", "Burrs are wear parts."],
                   title="Warranty")
    doc = parse_document(pdf, DocKind.PDF, filename="w.pdf")
    assert doc.title == "Warranty"
    assert "Warranty covers grinders for one year." in doc.sections[0].text
    assert "Burrs are wear parts." in doc.sections[0].text


def test_pdf_errors_are_client_errors() -> None:
    with pytest.raises(UnreadableDocument):
        parse_document(b"%PDF-1.4\nthis is not really a pdf", DocKind.PDF)
    with pytest.raises(EmptyDocument):
        parse_document(make_pdf([]), DocKind.PDF)


@pytest.mark.parametrize(("csv_text", "pairs"), [
    ("question,answer\nCan I pay by card?,Yes.\nDo you ship abroad?,\"Yes, to 28 countries.\"\n",
     [("Can I pay by card?", "Yes."), ("Do you ship abroad?", "Yes, to 28 countries.")]),
    ("Hours?,9 to 5\nParking?,Two cars\n", [("Hours?", "9 to 5"), ("Parking?", "Two cars")]),
    ("q;a\nHours?;9 to 5\n", [("Hours?", "9 to 5")]),
    ("คำถาม,คำตอบ\nเปิดกี่โมง,เจ็ดโมงเช้า\n", [("เปิดกี่โมง", "เจ็ดโมงเช้า")]),
    ("question,answer\nRefund?,Yes, within 5 days, by card\n",
     [("Refund?", "Yes, within 5 days, by card")]),  # unquoted commas spill over
])
def test_qa_csv(csv_text: str, pairs: list[tuple[str, str]]) -> None:
    doc = parse_document(csv_text.encode(), DocKind.CSV, filename="faq.csv")
    assert [(s.heading, s.text) for s in doc.sections] == pairs
    assert all(s.kind is ChunkKind.QA for s in doc.sections)
    assert doc.title == "faq"


@pytest.mark.parametrize(("kind", "data"), [
    (DocKind.CSV, b"only one column\nno answers\n"),
    (DocKind.CSV, b"question,answer\n"),
    (DocKind.TEXT, b"   \n\n  "),
    (DocKind.MARKDOWN, b"# Just a heading\n"),
    (DocKind.HTML, b"<html><script>x()</script><nav>menu</nav></html>"),
])
def test_empty_documents_are_422(kind: DocKind, data: bytes) -> None:
    with pytest.raises(EmptyDocument) as info:
        parse_document(data, kind)
    assert info.value.status == 422


def test_json_text_uses_given_title() -> None:
    doc = parse_text("Opening hours", "We open at 7.")
    assert doc.title == "Opening hours" and doc.sections[0].text == "We open at 7."


@pytest.mark.parametrize(("kind", "data"), [
    (DocKind.TEXT, b"Opening\x00 hours are 9 to 5.\x00"),
    (DocKind.MARKDOWN, b"# Hours\x00\n\nWe open\x00 at 9."),
    (DocKind.HTML, b"<html><title>T\x00</title><body><p>Open\x00 at 9</p></body></html>"),
    (DocKind.CSV, b"question,answer\nWhen\x00?,At 9\x00\n"),
])
def test_nul_characters_of_a_file_never_reach_storage(kind: DocKind, data: bytes) -> None:
    doc = parse_document(data, kind, filename="f\x00.txt")
    assert "\x00" not in doc.title
    for section in doc.sections:
        assert "\x00" not in section.heading and "\x00" not in section.text
    assert any(section.text.strip() for section in doc.sections)

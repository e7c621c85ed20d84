"""Uploaded bytes to sections of text: plain text, Markdown, HTML, PDF and question,answer CSV.

Pure functions (pypdf aside); errors are the KB's client errors (415, 422), never a crash.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath

from server.domain.knowledge import ChunkKind, DocKind
from server.domain.text import is_thai
from server.kb.chunking import HEADING_SEP, Section
from server.kb.model import EmptyDocument, UnreadableDocument, UnsupportedType

_EXTENSIONS = {
    ".txt": DocKind.TEXT, ".text": DocKind.TEXT,
    ".md": DocKind.MARKDOWN, ".markdown": DocKind.MARKDOWN,
    ".html": DocKind.HTML, ".htm": DocKind.HTML,
    ".pdf": DocKind.PDF, ".csv": DocKind.CSV,
}
_CONTENT_TYPES = {
    "text/plain": DocKind.TEXT, "text/markdown": DocKind.MARKDOWN,
    "text/x-markdown": DocKind.MARKDOWN, "text/html": DocKind.HTML,
    "application/xhtml+xml": DocKind.HTML, "application/pdf": DocKind.PDF,
    "text/csv": DocKind.CSV, "application/csv": DocKind.CSV,
}
_QA_HEADERS = {"question", "questions", "q", "answer", "answers", "a", "คำถาม", "คำตอบ"}


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    title: str
    kind: DocKind
    sections: tuple[Section, ...]

    @property
    def chars(self) -> int:
        return sum(len(s.heading) + len(s.text) for s in self.sections)


def detect_kind(filename: str | None, content_type: str | None, data: bytes) -> DocKind:
    """The format from the name's extension, else the declared type, else a sniff; 415 else."""
    if data.startswith(b"%PDF-"):
        return DocKind.PDF
    if filename:
        ext = PurePosixPath(filename.lower()).suffix
        if ext in _EXTENSIONS:
            return _EXTENSIONS[ext]
        if ext:
            raise UnsupportedType(
                f"files of type {ext} are not supported: upload .txt, .md, .html, .pdf or .csv"
            )
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in _CONTENT_TYPES:
        return _CONTENT_TYPES[ctype]
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return DocKind.HTML
    if ctype in ("", "application/octet-stream") and b"\x00" not in data[:4096]:
        return DocKind.TEXT
    raise UnsupportedType(
        f"content type {ctype or 'unknown'} is not supported: upload text, Markdown, HTML, "
        "PDF or a question,answer CSV"
    )


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or Thai Windows-874; 415 for binary."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if b"\x00" not in data:
        try:
            text = data.decode("cp874")
        except UnicodeDecodeError:
            text = ""
        if text and is_thai(text):
            return text
    raise UnsupportedType("the file is not UTF-8 text")


def parse_document(
    data: bytes, kind: DocKind, *, filename: str | None = None, title: str | None = None
) -> ParsedDocument:
    default_title = title or (PurePosixPath(filename).stem if filename else "") or "Untitled"
    if kind is DocKind.PDF:
        found_title, sections = _pdf(data)
    else:
        text = decode_text(data)
        if kind is DocKind.HTML:
            found_title, sections = parse_html(text)
        elif kind is DocKind.CSV:
            found_title, sections = None, parse_qa_csv(text)
        elif kind is DocKind.MARKDOWN:
            found_title, sections = parse_markdown(text)
        else:
            found_title, sections = None, [Section("", _tidy(text))]
    sections = [_storable(s) for s in sections if s.text.strip()]
    if not sections:
        raise EmptyDocument("the document has no text to learn from")
    doc_title = (title or found_title or default_title).replace("\x00", "")[:300]
    return ParsedDocument(doc_title, kind, tuple(sections))


def _storable(section: Section) -> Section:
    """A file's NUL characters mean nothing in its text (PDF extraction and UTF-8 files can
    carry them), and Postgres text cannot hold them: they go."""
    if "\x00" not in section.heading and "\x00" not in section.text:
        return section
    return Section(section.heading.replace("\x00", ""), section.text.replace("\x00", ""),
                   section.kind)


def parse_text(title: str, text: str) -> ParsedDocument:
    """A JSON upload: its text is read as Markdown (plain text is valid Markdown)."""
    found_title, sections = parse_markdown(text)
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise EmptyDocument("the document has no text to learn from")
    return ParsedDocument((title.strip() or found_title or "Untitled")[:300], DocKind.TEXT,
                          tuple(sections))


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t\f\v]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class _Outline:
    """Builds sections from a stream of headings and text lines."""

    def __init__(self) -> None:
        self.path: list[tuple[int, str]] = []
        self.sections: list[Section] = []
        self.lines: list[str] = []
        self.first_h1: str | None = None

    def heading(self, level: int, text: str) -> None:
        self.flush()
        text = " ".join(text.split())
        if not text:
            return
        if level == 1 and self.first_h1 is None:
            self.first_h1 = text
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, text))

    def line(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        body = _tidy("\n".join(self.lines))
        self.lines = []
        if body:
            heading = HEADING_SEP.join(t for _, t in self.path)
            self.sections.append(Section(heading, body))


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_SETEXT = re.compile(r"^(=+|-+)\s*$")
_MD_INLINE = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: keep the alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: keep the label
    (re.compile(r"<[^>\n]+>"), ""),  # inline html tags
    (re.compile(r"(\*\*|__|`)"), ""),
    (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+)(?<!\s)\*(?![\w*])"), r"\1"),
)


def _md_inline(line: str) -> str:
    for pattern, repl in _MD_INLINE:
        line = pattern.sub(repl, line)
    return line


def parse_markdown(text: str) -> tuple[str | None, list[Section]]:
    outline = _Outline()
    lines = _tidy(text).split("\n")
    fence = False
    for i, raw in enumerate(lines):
        if raw.lstrip().startswith(("```", "~~~")):
            fence = not fence
            continue
        if fence:
            outline.line(raw)
            continue
        m = _MD_HEADING.match(raw)
        if m:
            outline.heading(len(m.group(1)), _md_inline(m.group(2)))
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if raw.strip() and _MD_SETEXT.match(nxt) and not raw.lstrip().startswith(("-", "*")):
            outline.heading(1 if nxt.startswith("=") else 2, _md_inline(raw))
            continue
        if _MD_SETEXT.match(raw) and i > 0 and lines[i - 1].strip():
            continue  # the underline of a setext heading
        outline.line(_md_inline(raw))
    outline.flush()
    return outline.first_h1, outline.sections


_SKIP = {"script", "style", "nav", "header", "footer", "noscript", "template", "svg",
         "iframe", "head", "form", "button", "select"}
_BLOCK = {"p", "div", "section", "article", "main", "br", "li", "tr", "table", "ul", "ol",
          "dl", "dt", "dd", "blockquote", "pre", "hr", "figure", "figcaption", "aside",
          "details", "summary", "address"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source",
         "track", "wbr"}


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.outline = _Outline()
        self.skip: list[str] = []
        self.heading_level = 0
        self.heading_text: list[str] = []
        self.buffer: list[str] = []
        self.title: list[str] = []
        self.in_title = False

    def _line(self) -> None:
        line = " ".join("".join(self.buffer).split())
        self.buffer = []
        if line:
            self.outline.line(line)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in _SKIP and tag not in _VOID:
            self.skip.append(tag)
            return
        if self.skip:
            return
        if tag in _HEADINGS:
            self._line()
            self.heading_level = _HEADINGS[tag]
            self.heading_text = []
        elif tag in _BLOCK:
            self._line()
            if tag == "li":
                self.buffer.append("- ")
        elif tag in ("td", "th"):
            self.buffer.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            elif tag in self.skip:  # an unclosed inner skipped tag
                while self.skip and self.skip.pop() != tag:
                    pass
            return
        if tag in _HEADINGS and self.heading_level:
            self.outline.heading(self.heading_level, "".join(self.heading_text))
            self.heading_level = 0
        elif tag in _BLOCK:
            self._line()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        if self.skip:
            return
        if self.heading_level:
            self.heading_text.append(data)
        else:
            self.buffer.append(data)

    def result(self) -> tuple[str | None, list[Section]]:
        self._line()
        self.outline.flush()
        title = " ".join("".join(self.title).split()) or self.outline.first_h1
        return title or None, self.outline.sections


def parse_html(text: str) -> tuple[str | None, list[Section]]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    return parser.result()


def parse_qa_csv(text: str) -> list[Section]:
    """Rows of question,answer (a header row is optional); one section per pair."""
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise UnreadableDocument(f"the CSV could not be read: {exc}") from exc
    sections: list[Section] = []
    for i, row in enumerate(rows):
        cells = [c.strip() for c in row]
        if len(cells) < 2:
            continue
        question, extra = cells[0], [c for c in cells[2:] if c]
        # an answer with unquoted commas spills into further cells
        answer = ", ".join([cells[1], *extra]) if extra else cells[1]
        if i == 0 and question.lower() in _QA_HEADERS:
            continue
        if question and answer:
            sections.append(Section(" ".join(question.split()), _tidy(answer), ChunkKind.QA))
    if not sections:
        raise EmptyDocument("the CSV has no question,answer rows")
    return sections


def _pdf(data: bytes) -> tuple[str | None, list[Section]]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata
        title = str(meta.title).strip() if meta and meta.title else None
    except UnreadableDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise UnreadableDocument(f"the PDF could not be read: {exc}") from exc
    # PDF lines wrap mid-sentence: rejoin a line break not preceded by an end of sentence
    text = "\n\n".join(
        re.sub(r"(?<![.!?:;\n])\n(?!\n)", " ", _tidy(p)) for p in pages if p.strip()
    )
    if not text:
        raise EmptyDocument("the PDF has no extractable text (a scanned image needs OCR first)")
    return title or None, [Section("", text)]

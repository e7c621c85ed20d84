"""Every message Clienta sends, in English and Thai: one function per kind returning its
subject, plain text and HTML. Values from users are escaped in HTML (html.escape), made
one line in subjects, and links must be http(s)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from enum import StrEnum

LOCALES = ("en", "th")
DEFAULT_LOCALE = "en"
_SUBJECT_VALUE_CHARS = 80
_SPACE = re.compile(r"\s+")


class MailKind(StrEnum):
    """What a queued message is (stored with it; one template function each)."""

    EXISTING_ACCOUNT = "existing_account"
    CONVERSATION_REPLY = "conversation_reply"


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def locale_of(wanted: str | None) -> str:
    """The language we write closest to `wanted` ("th-TH" -> "th"); English otherwise."""
    base = (wanted or "").split("-")[0].split("_")[0].lower()
    return base if base in LOCALES else DEFAULT_LOCALE


def unsubscribe_headers(url: str) -> tuple[tuple[str, str], ...]:
    """List-Unsubscribe with RFC 8058 one-click, for every message that is not a required
    notice."""
    return (("List-Unsubscribe", f"<{_link(url)}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))


def _link(url: str) -> str:
    # a javascript: or data: link in a mail is an attack, whoever supplied it
    if not url.startswith(("https://", "http://")) or any(c in url for c in "\r\n\0 <>\""):
        raise ValueError("a link must be an absolute http(s) URL")
    return url


def _one_line(value: str) -> str:
    """A user's value in a subject: one line, bounded (the subject is a header)."""
    flat = _SPACE.sub(" ", value).strip()
    return flat if len(flat) <= _SUBJECT_VALUE_CHARS else flat[:_SUBJECT_VALUE_CHARS - 1] + "…"


def _paragraphs(text: str) -> str:
    """Escaped HTML of plain text: blank lines part paragraphs, newlines become <br>."""
    blocks = [b.strip("\n") for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
    return "".join(f"<p>{html.escape(b).replace(chr(10), '<br>')}</p>" for b in blocks if b)


def _page(locale: str, body: str, footer: str = "") -> str:
    foot = f'<p style="color:#666;font-size:12px">{footer}</p>' if footer else ""
    return (f'<!doctype html><html lang="{locale}"><head><meta charset="utf-8"></head>'
            '<body style="font-family:sans-serif;line-height:1.5;max-width:560px">'
            f"{body}{foot}</body></html>")


_EXISTING_ACCOUNT = {
    "en": (
        "Sign-up attempt with your address",
        "Someone (perhaps you) just tried to sign up for Clienta with this email address.\n\n"
        "This address already has an account, so no new one was made. If it was you, log in "
        "with your existing password instead. If it was not you, you can ignore this "
        "message: nothing about your account has changed.",
    ),
    "th": (
        "มีผู้พยายามสมัครใช้งานด้วยอีเมลของคุณ",
        "มีผู้ (อาจเป็นคุณ) พยายามสมัครใช้งาน Clienta ด้วยอีเมลนี้\n\n"
        "อีเมลนี้มีบัญชีอยู่แล้ว จึงไม่มีการสร้างบัญชีใหม่ หากเป็นคุณ โปรดเข้าสู่ระบบด้วยรหัสผ่านเดิม "
        "หากไม่ใช่คุณ ไม่ต้องดำเนินการใด ๆ บัญชีของคุณไม่มีการเปลี่ยนแปลง",
    ),
}


def existing_account(locale: str) -> Rendered:
    """To the owner of an address someone tried to sign up with (a required notice: no
    unsubscribe)."""
    locale = locale_of(locale)
    subject, text = _EXISTING_ACCOUNT[locale]
    return Rendered(subject, text + "\n", _page(locale, _paragraphs(text)))


_REPLY = {
    "en": {
        "subject": "{agent} replied to your conversation with {org}",
        "intro": "{agent} from {org} replied:",
        "link": "Continue the conversation",
        "footer": "You get this because you left your email in a chat with {org}. "
                  "Change your email settings",
    },
    "th": {
        "subject": "{agent} ตอบกลับการสนทนาของคุณกับ {org}",
        "intro": "{agent} จาก {org} ตอบกลับว่า:",
        "link": "สนทนาต่อ",
        "footer": "คุณได้รับอีเมลนี้เพราะได้ฝากอีเมลไว้ในแชตกับ {org} "
                  "เปลี่ยนการตั้งค่าอีเมล",
    },
}


def conversation_reply(locale: str, *, org_name: str, agent_name: str, message: str,
                       conversation_url: str, settings_url: str) -> Rendered:
    """An agent's reply, to the visitor who left their address (not a required notice: it
    carries a settings link, and the caller adds `unsubscribe_headers`)."""
    locale = locale_of(locale)
    t = _REPLY[locale]
    conversation_url, settings_url = _link(conversation_url), _link(settings_url)
    subject = t["subject"].format(agent=_one_line(agent_name), org=_one_line(org_name))
    plain = {"agent": agent_name, "org": org_name}
    escaped = {k: html.escape(v) for k, v in plain.items()}
    text = (f"{t['intro'].format(**plain)}\n\n{message}\n\n"
            f"{t['link']}: {conversation_url}\n\n"
            f"{t['footer'].format(**plain)}: {settings_url}\n")
    body = (f"<p>{t['intro'].format(**escaped)}</p>"
            f'<blockquote style="border-left:3px solid #ccc;margin:0;padding-left:12px">'
            f"{_paragraphs(message)}</blockquote>"
            f'<p><a href="{html.escape(conversation_url)}">{t["link"]}</a></p>')
    footer = (f"{t['footer'].format(**escaped)}: "
              f'<a href="{html.escape(settings_url)}">{html.escape(settings_url)}</a>')
    return Rendered(subject, text, _page(locale, body, footer))

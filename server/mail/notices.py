"""The notification messages (a follow-up for the org's inbox, a transcript, a waiting
conversation, a new-device sign-in) in English and Thai, escaped as templates.py's; an
agent's reply to a visitor is templates.conversation_reply."""

from __future__ import annotations

import html
from dataclasses import dataclass
from enum import StrEnum

from server.mail.templates import Rendered, _link, _one_line, _page, _paragraphs, locale_of


class NoticeMail(StrEnum):
    """The outbox kinds of these messages (stored with each row)."""

    FOLLOWUP_INBOX = "followup_inbox"
    TRANSCRIPT = "transcript"
    WAITING_ALERT = "waiting_alert"
    NEW_DEVICE = "new_device"


@dataclass(frozen=True, slots=True)
class Line:
    """One message of a transcript: who said it (a role, or an agent's name) and what."""

    who: str
    text: str


_WHO = {"en": {"visitor": "You", "bot": "Assistant", "agent": "Support", "system": "—",
               "visitor_for_staff": "Visitor"},
        "th": {"visitor": "คุณ", "bot": "ผู้ช่วย", "agent": "ทีมงาน", "system": "—",
               "visitor_for_staff": "ผู้เยี่ยมชม"}}


def who(locale: str, role: str, name: str | None, *, for_staff: bool = False) -> str:
    names = _WHO[locale_of(locale)]
    if role == "visitor":
        return names["visitor_for_staff" if for_staff else "visitor"]
    if role == "agent" and name:
        return name
    return names.get(role, role)


def _transcript(lines: list[Line]) -> tuple[str, str]:
    """Plain text and escaped HTML of the lines."""
    text = "\n\n".join(f"{line.who}: {line.text}" for line in lines)
    body = "".join(f"<p><b>{html.escape(line.who)}</b><br>"
                   f"{html.escape(line.text).replace(chr(10), '<br>')}</p>" for line in lines)
    return text, f'<div style="border-left:3px solid #ccc;padding-left:12px">{body}</div>'


def _settings_footer(text: str, url: str) -> tuple[str, str]:
    url = _link(url)
    return (f"{text}: {url}\n",
            f'{html.escape(text)}: <a href="{html.escape(url)}">{html.escape(url)}</a>')


_INBOX = {
    "en": {"subject": "A visitor of {org} asks to be answered by email",
           "intro": "Nobody was online when a visitor wrote to {org}. They asked to be "
                    "answered at {email}. Reply in the console (they get your answer by "
                    "email) or write to them directly.",
           "open": "Open the conversation",
           "footer": "You get this at {org}'s inbox address. Stop these emails or change "
                     "the address"},
    "th": {"subject": "ผู้เยี่ยมชมของ {org} ขอให้ตอบกลับทางอีเมล",
           "intro": "ไม่มีใครออนไลน์ขณะที่ผู้เยี่ยมชมติดต่อ {org} เขาขอให้ตอบกลับที่ {email} "
                    "ตอบในคอนโซล (เขาจะได้รับคำตอบทางอีเมล) หรือเขียนถึงเขาโดยตรง",
           "open": "เปิดการสนทนา",
           "footer": "คุณได้รับอีเมลนี้ที่อีเมลกล่องข้อความของ {org} หยุดรับหรือเปลี่ยนที่อยู่"},
}


def followup_inbox(locale: str, *, org_name: str, visitor_email: str, lines: list[Line],
                   console_url: str, settings_url: str) -> Rendered:
    """To the org's inbox address (not a required notice: the caller adds
    `unsubscribe_headers`)."""
    locale = locale_of(locale)
    t = _INBOX[locale]
    plain = {"org": org_name, "email": visitor_email}
    escaped = {k: html.escape(v) for k, v in plain.items()}
    convo_text, convo_html = _transcript(lines)
    console_url = _link(console_url)
    foot_text, foot_html = _settings_footer(t["footer"].format(**plain), settings_url)
    text = (f"{t['intro'].format(**plain)}\n\n{convo_text}\n\n{t['open']}: {console_url}\n\n"
            f"{foot_text}")
    body = (f"<p>{t['intro'].format(**escaped)}</p>{convo_html}"
            f'<p><a href="{html.escape(console_url)}">{t["open"]}</a></p>')
    return Rendered(t["subject"].format(org=_one_line(org_name)), text,
                    _page(locale, body, foot_html))


_TRANSCRIPT = {
    "en": {"subject": "Your conversation with {org}",
           "intro": "Here is your conversation with {org}, as you asked.",
           "link": "Read it online (for {days} days)"},
    "th": {"subject": "บทสนทนาของคุณกับ {org}",
           "intro": "นี่คือบทสนทนาของคุณกับ {org} ตามที่คุณขอ",
           "link": "อ่านออนไลน์ (ได้ {days} วัน)"},
}


def transcript(locale: str, *, org_name: str, lines: list[Line], url: str,
               days: int) -> Rendered:
    """A transcript the visitor asked for (a required notice: sent once, on request)."""
    locale = locale_of(locale)
    t = _TRANSCRIPT[locale]
    url = _link(url)
    intro_text = t["intro"].format(org=org_name)
    convo_text, convo_html = _transcript(lines)
    label = t["link"].format(days=days)
    text = f"{intro_text}\n\n{convo_text}\n\n{label}: {url}\n"
    body = (f"<p>{html.escape(intro_text)}</p>{convo_html}"
            f'<p><a href="{html.escape(url)}">{html.escape(label)}</a></p>')
    return Rendered(t["subject"].format(org=_one_line(org_name)), text, _page(locale, body))


_WAITING = {
    "en": {"subject": "A visitor of {org} has waited {minutes} min for an agent",
           "intro": "A conversation in {org} has waited {minutes} minutes in the queue and "
                    "you are offline. Their last message:",
           "open": "Open the console",
           "footer": "You get this because waiting-conversation alerts are on for you. "
                     "Change your notification settings"},
    "th": {"subject": "ผู้เยี่ยมชมของ {org} รอเจ้าหน้าที่มา {minutes} นาทีแล้ว",
           "intro": "มีการสนทนาใน {org} รอในคิวมา {minutes} นาทีแล้ว และคุณออฟไลน์อยู่ "
                    "ข้อความล่าสุดของเขา:",
           "open": "เปิดคอนโซล",
           "footer": "คุณได้รับอีเมลนี้เพราะเปิดการแจ้งเตือนการสนทนาที่รออยู่ "
                     "เปลี่ยนการตั้งค่าการแจ้งเตือน"},
}


def waiting_alert(locale: str, *, org_name: str, minutes: int, preview: str,
                  console_url: str, settings_url: str) -> Rendered:
    """To an offline agent (not a required notice: settings link, unsubscribe headers)."""
    locale = locale_of(locale)
    t = _WAITING[locale]
    values = {"org": org_name, "minutes": str(minutes)}
    escaped = {k: html.escape(v) for k, v in values.items()}
    console_url = _link(console_url)
    foot_text, foot_html = _settings_footer(t["footer"], settings_url)
    text = (f"{t['intro'].format(**values)}\n\n{preview}\n\n{t['open']}: {console_url}\n\n"
            f"{foot_text}")
    body = (f"<p>{t['intro'].format(**escaped)}</p>"
            f'<blockquote style="border-left:3px solid #ccc;margin:0;padding-left:12px">'
            f"{_paragraphs(preview)}</blockquote>"
            f'<p><a href="{html.escape(console_url)}">{t["open"]}</a></p>')
    subject = t["subject"].format(org=_one_line(org_name), minutes=minutes)
    return Rendered(subject, text, _page(locale, body, foot_html))


_DEVICE = {
    "en": {"subject": "Security alert: new sign-in to {org}",
           "own": "Your Clienta account in {org} was just signed in from a new device "
                  "({device}) at {when} UTC.",
           "other": "{member}'s Clienta account in {org} was just signed in from a new "
                    "device ({device}) at {when} UTC.",
           "advice": "If this was not expected, reset the password and review the team "
                     "in the console.",
           "open": "Open the console",
           "footer": "You get this as an owner of {org}. Stop alerts about other members"},
    "th": {"subject": "แจ้งเตือนความปลอดภัย: มีการเข้าสู่ระบบใหม่ใน {org}",
           "own": "บัญชี Clienta ของคุณใน {org} เพิ่งเข้าสู่ระบบจากอุปกรณ์ใหม่ ({device}) "
                  "เมื่อ {when} UTC",
           "other": "บัญชี Clienta ของ {member} ใน {org} เพิ่งเข้าสู่ระบบจากอุปกรณ์ใหม่ "
                    "({device}) เมื่อ {when} UTC",
           "advice": "หากไม่ได้คาดหวังการเข้าสู่ระบบนี้ โปรดตั้งรหัสผ่านใหม่และตรวจสอบทีมในคอนโซล",
           "open": "เปิดคอนโซล",
           "footer": "คุณได้รับอีเมลนี้ในฐานะเจ้าของ {org} หยุดรับการแจ้งเตือนเกี่ยวกับสมาชิกคนอื่น"},
}


def new_device(locale: str, *, org_name: str, member: str | None, device: str, when: str,
               console_url: str, settings_url: str | None) -> Rendered:
    """`member` None: to the account's own holder (a required notice, no settings link);
    else to an owner about another member (settings link, unsubscribe headers)."""
    locale = locale_of(locale)
    t = _DEVICE[locale]
    values = {"org": org_name, "member": member or "", "device": device, "when": when}
    escaped = {k: html.escape(v) for k, v in values.items()}
    first = t["own" if member is None else "other"]
    console_url = _link(console_url)
    text = (f"{first.format(**values)}\n\n{t['advice']}\n\n{t['open']}: {console_url}\n")
    body = (f"<p>{first.format(**escaped)}</p><p>{t['advice']}</p>"
            f'<p><a href="{html.escape(console_url)}">{t["open"]}</a></p>')
    footer = ""
    if settings_url is not None:
        foot_text, footer = _settings_footer(t["footer"].format(**values), settings_url)
        text += f"\n{foot_text}"
    return Rendered(t["subject"].format(org=_one_line(org_name)), text,
                    _page(locale, body, footer))

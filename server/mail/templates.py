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
    INVITE = "invite"
    PASSWORD_RESET = "password_reset"
    EMAIL_VERIFY = "email_verify"
    ROLE_CHANGED = "role_changed"
    USAGE_ALERT = "usage_alert"
    PAYMENT_FAILED = "payment_failed"
    RECEIPT = "receipt"
    PLAN_CHANGED = "plan_changed"
    RENEWAL_DUE = "renewal_due"
    CHARGE_FAILED = "charge_failed"
    PRIVACY_REQUEST_DUE = "privacy_request_due"


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


def _notice(locale: str, subject: str, lines: list[str], link: tuple[str, str] | None,
            values: dict[str, str]) -> Rendered:
    """A required notice: paragraphs with `values` filled in (escaped in HTML), an optional
    (label, url) button, no unsubscribe."""
    plain = [line.format(**values) for line in lines]
    escaped = {k: html.escape(v) for k, v in values.items()}
    body = "".join(f"<p>{line.format(**escaped)}</p>" for line in lines)
    text = "\n\n".join(plain)
    if link is not None:
        label, url = link[0], _link(link[1])
        text += f"\n\n{label}: {url}"
        body += f'<p><a href="{html.escape(url)}">{html.escape(label)}</a></p>'
    return Rendered(subject, text + "\n", _page(locale, body))


_INVITE = {
    "en": ("{inviter} invited you to {org} on Clienta",
           ["{inviter} invited you to join {org} on Clienta as {role}.",
            "Open the link to choose your name and password. It works once and expires in "
            "{days} days. If you did not expect this, ignore this message."],
           "Accept the invitation"),
    "th": ("{inviter} เชิญคุณเข้าร่วม {org} บน Clienta",
           ["{inviter} เชิญคุณเข้าร่วม {org} บน Clienta ในบทบาท {role}",
            "เปิดลิงก์เพื่อตั้งชื่อและรหัสผ่านของคุณ ลิงก์ใช้ได้ครั้งเดียวและหมดอายุใน {days} วัน "
            "หากคุณไม่ได้คาดหวังอีเมลนี้ ไม่ต้องดำเนินการใด ๆ"],
           "ยอมรับคำเชิญ"),
}


def invite(locale: str, *, org_name: str, inviter: str, role: str, url: str,
           days: int) -> Rendered:
    """An invitation to join an org (a required notice: it is the link itself)."""
    locale = locale_of(locale)
    subject, lines, label = _INVITE[locale]
    values = {"org": org_name, "inviter": inviter or org_name, "role": role, "days": str(days)}
    subject = subject.format(org=_one_line(org_name), inviter=_one_line(values["inviter"]))
    return _notice(locale, subject, lines, (label, url), values)


_RESET = {
    "en": ("Reset your Clienta password",
           ["Someone (perhaps you) asked to reset the password of your Clienta account.",
            "Open the link within {minutes} minutes to choose a new password; it works once, "
            "and every device signed in to your account will be signed out. If it was not "
            "you, ignore this message: your password has not changed."],
           "Choose a new password"),
    "th": ("ตั้งรหัสผ่าน Clienta ใหม่",
           ["มีผู้ (อาจเป็นคุณ) ขอตั้งรหัสผ่านบัญชี Clienta ของคุณใหม่",
            "เปิดลิงก์ภายใน {minutes} นาทีเพื่อตั้งรหัสผ่านใหม่ ลิงก์ใช้ได้ครั้งเดียว "
            "และทุกอุปกรณ์ที่เข้าสู่ระบบอยู่จะถูกออกจากระบบ หากไม่ใช่คุณ ไม่ต้องดำเนินการใด ๆ "
            "รหัสผ่านของคุณยังไม่เปลี่ยน"],
           "ตั้งรหัสผ่านใหม่"),
}


def password_reset(locale: str, *, url: str, minutes: int) -> Rendered:
    locale = locale_of(locale)
    subject, lines, label = _RESET[locale]
    return _notice(locale, subject, lines, (label, url), {"minutes": str(minutes)})


_VERIFY = {
    "en": ("Confirm your email address for Clienta",
           ["Welcome to Clienta. Please confirm that this address is yours: until then you "
            "cannot invite people to your team.", "The link expires in {days} days."],
           "Confirm my address"),
    "th": ("ยืนยันอีเมลของคุณสำหรับ Clienta",
           ["ยินดีต้อนรับสู่ Clienta โปรดยืนยันว่าอีเมลนี้เป็นของคุณ ก่อนยืนยัน "
            "คุณจะยังเชิญผู้อื่นเข้าทีมไม่ได้", "ลิงก์หมดอายุใน {days} วัน"],
           "ยืนยันอีเมล"),
}


def email_verify(locale: str, *, url: str, days: int) -> Rendered:
    locale = locale_of(locale)
    subject, lines, label = _VERIFY[locale]
    return _notice(locale, subject, lines, (label, url), {"days": str(days)})


_ROLE_CHANGED = {
    "en": ("Security alert: a role changed in {org}",
           ["{actor} changed the role of {member} in {org} from {old} to {new}.",
            "If you did not expect this change, review your team in the console."]),
    "th": ("แจ้งเตือนความปลอดภัย: มีการเปลี่ยนบทบาทใน {org}",
           ["{actor} เปลี่ยนบทบาทของ {member} ใน {org} จาก {old} เป็น {new}",
            "หากคุณไม่ได้คาดหวังการเปลี่ยนแปลงนี้ โปรดตรวจสอบทีมของคุณในคอนโซล"]),
}


def role_changed(locale: str, *, org_name: str, actor: str, member: str, old: str, new: str,
                 team_url: str) -> Rendered:
    """A security alert to every owner (a required notice)."""
    locale = locale_of(locale)
    subject, lines = _ROLE_CHANGED[locale]
    values = {"org": org_name, "actor": actor, "member": member, "old": old, "new": new}
    return _notice(locale, subject.format(org=_one_line(org_name)), lines,
                   ("Clienta", team_url), values)


_USAGE = {
    "en": ("{org} has used {percent}% of its {metric} this period",
           ["{org} has used {used} of the {limit} {metric} its {plan} plan includes this "
            "period ({percent}%).",
            "At 100% the assistant stops answering new questions until the period ends: they "
            "go to your team instead. Upgrade your plan on the billing page to keep it "
            "answering."],
           "Billing"),
    "th": ("{org} ใช้{metric}ไปแล้ว {percent}% ของรอบนี้",
           ["{org} ใช้{metric}ไปแล้ว {used} จาก {limit} ที่แพ็กเกจ {plan} มีให้ในรอบนี้ "
            "({percent}%)",
            "เมื่อครบ 100% ผู้ช่วยอัตโนมัติจะหยุดตอบคำถามใหม่จนกว่าจะถึงรอบถัดไป "
            "โดยคำถามจะส่งต่อให้ทีมของคุณแทน อัปเกรดแพ็กเกจได้ที่หน้าการชำระเงิน"],
           "การชำระเงิน"),
}
_METRIC_NAMES = {"en": {"ai_answers": "AI answers"}, "th": {"ai_answers": "คำตอบจาก AI"}}


def usage_alert(locale: str, *, org_name: str, plan: str, metric: str, used: int,
                limit: int, percent: int, billing_url: str) -> Rendered:
    """To every owner at 80% and 100% of a limit (a required notice)."""
    locale = locale_of(locale)
    subject, lines, label = _USAGE[locale]
    values = {"org": org_name, "plan": plan, "used": str(used), "limit": str(limit),
              "percent": str(percent), "metric": _METRIC_NAMES[locale].get(metric, metric)}
    return _notice(locale, subject.format(**dict(values, org=_one_line(org_name))), lines,
                   (label, billing_url), values)


_PAYMENT_FAILED = {
    "en": ("Payment failed for {org}",
           ["We could not take the payment for {org}'s {plan} plan.",
            "Please update the card on the billing page. If it is still unpaid on {until}, "
            "{org} moves to the free plan; nothing is deleted, only the limits change."],
           "Update the payment method"),
    "th": ("การชำระเงินของ {org} ไม่สำเร็จ",
           ["เราไม่สามารถเรียกเก็บเงินค่าแพ็กเกจ {plan} ของ {org} ได้",
            "โปรดอัปเดตบัตรที่หน้าการชำระเงิน หากยังไม่ได้ชำระภายในวันที่ {until} "
            "{org} จะถูกเปลี่ยนเป็นแพ็กเกจฟรี ข้อมูลจะไม่ถูกลบ มีเพียงขีดจำกัดที่เปลี่ยน"],
           "อัปเดตวิธีชำระเงิน"),
}


def payment_failed(locale: str, *, org_name: str, plan: str, until: str,
                   billing_url: str) -> Rendered:
    locale = locale_of(locale)
    subject, lines, label = _PAYMENT_FAILED[locale]
    values = {"org": org_name, "plan": plan, "until": until}
    return _notice(locale, subject.format(org=_one_line(org_name)), lines,
                   (label, billing_url), values)


_RECEIPT = {
    "en": ("Receipt for {org}: {amount}",
           ["Thank you: we received {amount} for {org}'s {plan} plan on {date}."],
           "View the invoice"),
    "th": ("ใบเสร็จของ {org}: {amount}",
           ["ขอบคุณค่ะ เราได้รับชำระ {amount} สำหรับแพ็กเกจ {plan} ของ {org} เมื่อวันที่ {date}"],
           "ดูใบแจ้งหนี้"),
}


def receipt(locale: str, *, org_name: str, plan: str, amount: str, date: str,
            url: str) -> Rendered:
    locale = locale_of(locale)
    subject, lines, label = _RECEIPT[locale]
    values = {"org": org_name, "plan": plan, "amount": amount, "date": date}
    return _notice(locale, subject.format(org=_one_line(org_name), amount=amount), lines,
                   (label, url), values)


_PLAN_CHANGED = {
    "en": ("{org} is now on the {plan} plan",
           ["{org} moved from the {old} plan to the {plan} plan; its limits changed with it.",
            "Nothing was deleted."],
           "Billing"),
    "th": ("{org} เปลี่ยนเป็นแพ็กเกจ {plan} แล้ว",
           ["{org} เปลี่ยนจากแพ็กเกจ {old} เป็นแพ็กเกจ {plan} ขีดจำกัดเปลี่ยนตามแพ็กเกจ",
            "ไม่มีข้อมูลใดถูกลบ"],
           "การชำระเงิน"),
}


def plan_changed(locale: str, *, org_name: str, old: str, new: str,
                 billing_url: str) -> Rendered:
    locale = locale_of(locale)
    subject, lines, label = _PLAN_CHANGED[locale]
    values = {"org": org_name, "old": old, "plan": new}
    return _notice(locale, subject.format(org=_one_line(org_name), plan=new), lines,
                   (label, billing_url), values)


_PRIVACY_DUE = {
    "en": (("A privacy request to {org} is due on {due}", "A privacy request to {org} is overdue"),
           ["A data-subject request ({kind}) to {org} must be answered by {due}: the law gives "
            "30 days from receipt.", "Open the privacy page to complete it and record what "
            "was done."],
           "Privacy requests"),
    "th": (("คำขอด้านข้อมูลส่วนบุคคลถึง {org} ครบกำหนดวันที่ {due}",
            "คำขอด้านข้อมูลส่วนบุคคลถึง {org} เลยกำหนดแล้ว"),
           ["คำขอของเจ้าของข้อมูล ({kind}) ถึง {org} ต้องได้รับการตอบภายในวันที่ {due} "
            "ตามกฎหมายภายใน 30 วันนับจากวันที่ได้รับ",
            "เปิดหน้าความเป็นส่วนตัวเพื่อดำเนินการและบันทึกสิ่งที่ได้ทำ"],
           "คำขอด้านข้อมูลส่วนบุคคล"),
}


def privacy_request_due(locale: str, *, org_name: str, kind: str, due: str, overdue: bool,
                        url: str) -> Rendered:
    """To every owner at 7 days left and when overdue (a required notice)."""
    locale = locale_of(locale)
    (soon, late), lines, label = _PRIVACY_DUE[locale]
    values = {"org": org_name, "kind": kind, "due": due}
    subject = (late if overdue else soon).format(**dict(values, org=_one_line(org_name)))
    return _notice(locale, subject, lines, (label, url), values)


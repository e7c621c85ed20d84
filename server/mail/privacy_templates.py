"""The mails of the data lifecycle, in English and Thai: an org terminated (its export
window), an org purged, a user's own account deleted, a material policy change. Built
like templates.py's required notices (no unsubscribe: the law asks us to tell)."""

from __future__ import annotations

from enum import StrEnum

from server.mail.templates import Rendered, locale_of
from server.mail.templates import _notice as notice
from server.mail.templates import _one_line as one_line


class LifecycleMail(StrEnum):
    ORG_TERMINATED = "org_terminated"
    ORG_PURGED = "org_purged"
    ACCOUNT_DELETED = "account_deleted"
    POLICY_CHANGED = "policy_changed"


_TERMINATED = {
    "en": ("{org}'s Clienta account is closed",
           ["{org}'s Clienta account was closed on {date}. The widget and the console have "
            "stopped.",
            "You can download all of {org}'s data (conversations, knowledge base, members and "
            "the audit log, as JSON or CSV) until {export_until}. After that the account and "
            "its data are erased, by {purge_by} at the latest, backups included."],
           "Download the export"),
    "th": ("บัญชี Clienta ของ {org} ถูกปิดแล้ว",
           ["บัญชี Clienta ของ {org} ถูกปิดเมื่อวันที่ {date} วิดเจ็ตและคอนโซลหยุดทำงานแล้ว",
            "คุณสามารถดาวน์โหลดข้อมูลทั้งหมดของ {org} (บทสนทนา ฐานความรู้ สมาชิก และบันทึกการตรวจสอบ "
            "เป็น JSON หรือ CSV) ได้จนถึงวันที่ {export_until} หลังจากนั้นบัญชีและข้อมูลจะถูกลบ "
            "อย่างช้าที่สุดภายในวันที่ {purge_by} รวมถึงข้อมูลสำรอง"],
           "ดาวน์โหลดข้อมูล"),
}


def org_terminated(locale: str, *, org_name: str, date: str, export_until: str,
                   purge_by: str, url: str) -> Rendered:
    locale = locale_of(locale)
    subject, lines, label = _TERMINATED[locale]
    values = {"org": org_name, "date": date, "export_until": export_until,
              "purge_by": purge_by}
    return notice(locale, subject.format(org=one_line(org_name)), lines, (label, url), values)


_PURGED = {
    "en": ("{org}'s data has been erased",
           ["As {org}'s account was closed on {date}, its data has now been erased from "
            "Clienta: conversations, visitors, the knowledge base, members and files. Copies "
            "in backups can no longer be read: the key that opened them is destroyed.",
            "This is the last message about this account."]),
    "th": ("ข้อมูลของ {org} ถูกลบแล้ว",
           ["เนื่องจากบัญชีของ {org} ถูกปิดเมื่อวันที่ {date} ข้อมูลทั้งหมดได้ถูกลบออกจาก Clienta แล้ว "
            "ได้แก่ บทสนทนา ผู้เยี่ยมชม ฐานความรู้ สมาชิก และไฟล์ สำเนาในข้อมูลสำรองไม่สามารถอ่านได้อีก "
            "เพราะกุญแจที่ใช้เปิดถูกทำลายแล้ว",
            "นี่คือข้อความสุดท้ายเกี่ยวกับบัญชีนี้"]),
}


def org_purged(locale: str, *, org_name: str, date: str) -> Rendered:
    locale = locale_of(locale)
    subject, lines = _PURGED[locale]
    return notice(locale, subject.format(org=one_line(org_name)), lines, None,
                  {"org": org_name, "date": date})


_ACCOUNT_DELETED = {
    "en": ("Your Clienta account was deleted",
           ["Your account in {org} on Clienta was deleted at your request: your name, "
            "address, password and sessions are gone. Messages you wrote to visitors stay "
            "in {org}'s conversations, which are {org}'s records."]),
    "th": ("บัญชี Clienta ของคุณถูกลบแล้ว",
           ["บัญชีของคุณใน {org} บน Clienta ถูกลบตามคำขอของคุณ ชื่อ อีเมล รหัสผ่าน และเซสชันถูกลบแล้ว "
            "ข้อความที่คุณเขียนถึงผู้เยี่ยมชมยังคงอยู่ในบทสนทนาของ {org} ซึ่งเป็นข้อมูลของ {org}"]),
}


def account_deleted(locale: str, *, org_name: str) -> Rendered:
    locale = locale_of(locale)
    subject, lines = _ACCOUNT_DELETED[locale]
    return notice(locale, subject, lines, None, {"org": org_name})


_POLICY = {
    "en": ("Clienta's privacy policy changes on {date}",
           ["Clienta's privacy policy has a new version, {version}, which takes effect on "
            "{date}.",
            "{summary}",
            "You can read it now. If you do not agree, you can export your data and close "
            "the account before that day."],
           "Read the policy"),
    "th": ("นโยบายความเป็นส่วนตัวของ Clienta จะเปลี่ยนในวันที่ {date}",
           ["นโยบายความเป็นส่วนตัวของ Clienta มีฉบับใหม่ {version} ซึ่งจะมีผลในวันที่ {date}",
            "{summary}",
            "คุณสามารถอ่านได้ตั้งแต่วันนี้ หากไม่เห็นด้วย คุณสามารถส่งออกข้อมูลและปิดบัญชีได้ก่อนวันดังกล่าว"],
           "อ่านนโยบาย"),
}


def policy_changed(locale: str, *, version: str, date: str, summary: str,
                   url: str) -> Rendered:
    locale = locale_of(locale)
    subject, lines, label = _POLICY[locale]
    values = {"version": version, "date": date, "summary": summary}
    return notice(locale, subject.format(date=date), lines, (label, url), values)

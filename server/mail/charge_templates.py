"""The mails of billing by charges (Omise), in English and Thai: a PromptPay renewal due,
a one-off charge declined. Built like templates.py's required notices."""

from __future__ import annotations

from server.mail.templates import Rendered, locale_of
from server.mail.templates import _notice as notice
from server.mail.templates import _one_line as one_line

_RENEWAL_DUE = {
    "en": ("{org}'s {plan} plan renews on {date}",
           ["{org}'s {plan} plan is paid until {date}.",
            "To keep it, pay {amount} for the next month with a PromptPay QR code on the "
            "billing page. If it is unpaid, {org} moves to the free plan after a grace period; "
            "nothing is deleted, only the limits change."],
           "Pay with PromptPay"),
    "th": ("แพ็กเกจ {plan} ของ {org} จะต่ออายุในวันที่ {date}",
           ["แพ็กเกจ {plan} ของ {org} ชำระแล้วถึงวันที่ {date}",
            "หากต้องการใช้ต่อ โปรดชำระ {amount} สำหรับเดือนถัดไปด้วย QR พร้อมเพย์ที่หน้าการชำระเงิน "
            "หากไม่ได้ชำระ {org} จะถูกเปลี่ยนเป็นแพ็กเกจฟรีหลังช่วงผ่อนผัน ข้อมูลจะไม่ถูกลบ "
            "มีเพียงขีดจำกัดที่เปลี่ยน"],
           "ชำระด้วยพร้อมเพย์"),
}


def renewal_due(locale: str, *, org_name: str, plan: str, amount: str, date: str,
                billing_url: str) -> Rendered:
    """Omise without a saved card: the next month is paid by a new PromptPay QR."""
    locale = locale_of(locale)
    subject, lines, label = _RENEWAL_DUE[locale]
    values = {"org": org_name, "plan": plan, "amount": amount, "date": date}
    return notice(locale, subject.format(org=one_line(org_name), plan=plan, date=date),
                   lines, (label, billing_url), values)


_CHARGE_FAILED = {
    "en": ("Payment for {org} did not go through",
           ["The payment of {amount} for {org}'s {plan} plan did not go through, and nothing "
            "was charged. You can try again on the billing page."],
           "Billing"),
    "th": ("การชำระเงินของ {org} ไม่สำเร็จ",
           ["การชำระเงิน {amount} สำหรับแพ็กเกจ {plan} ของ {org} ไม่สำเร็จ และไม่มีการเรียกเก็บเงิน "
            "คุณสามารถลองอีกครั้งได้ที่หน้าการชำระเงิน"],
           "การชำระเงิน"),
}


def charge_failed(locale: str, *, org_name: str, plan: str, amount: str,
                  billing_url: str) -> Rendered:
    """A one-off charge (a card or PromptPay checkout) the provider declined."""
    locale = locale_of(locale)
    subject, lines, label = _CHARGE_FAILED[locale]
    values = {"org": org_name, "plan": plan, "amount": amount}
    return notice(locale, subject.format(org=one_line(org_name)), lines,
                   (label, billing_url), values)

"""The demo organisation `make run` seeds once: a site key, an agent login, a few articles."""

from __future__ import annotations

from typing import Any

from server.domain.roles import Role
from server.services.accounts import AccountError
from server.settings import Settings

DEMO_OWNER = "owner@demo.clienta.local"
DEMO_AGENT = "agent@demo.clienta.local"
DEMO_PASSWORD = "clienta-demo"

ARTICLES = [
    ("Shipping", "https://demo.clienta.local/help/shipping",
     "# Shipping\nWe ship within Thailand in 1-3 business days with Kerry Express. "
     "International orders take 5-10 business days. Shipping is free for orders over "
     "1,000 THB.\n\n# การจัดส่ง\nเราจัดส่งภายในประเทศไทยภายใน 1-3 วันทำการ "
     "สั่งซื้อครบ 1,000 บาท ส่งฟรี"),
    ("Returns and refunds", "https://demo.clienta.local/help/returns",
     "# Returns\nYou can return any unused item within 30 days of delivery for a full refund. "
     "Refunds are paid back to the original payment method within 5 business days.\n\n"
     "# การคืนสินค้า\nคืนสินค้าที่ยังไม่ได้ใช้ได้ภายใน 30 วันหลังได้รับสินค้า คืนเงินเต็มจำนวน"),
    ("Payments", "https://demo.clienta.local/help/payments",
     "# Payment methods\nWe accept Visa, Mastercard and PromptPay QR. Invoices are emailed "
     "after payment.\n\n# การชำระเงิน\nรับชำระผ่านบัตรเครดิตและพร้อมเพย์"),
    ("Opening hours", None,
     "# Support hours\nOur support team is online Monday to Friday, 9:00-18:00 Bangkok time."),
]


async def seed_demo(settings: Settings) -> dict[str, Any]:
    """Create the demo org on first run; later runs only read it back."""
    from server.app import build_services, close_services
    from server.storage import accounts as store

    services = await build_services(settings)
    try:
        async with services.db.unscoped() as conn:
            owner = await store.user_by_email(conn, DEMO_OWNER)
        org = None
        if owner is not None:
            async with services.db.unit_of_work(owner.org_id) as conn:
                org = await store.org_by_id(conn, owner.org_id)
        if org is None:
            out = await services.accounts.signup("Demo Shop", DEMO_OWNER, DEMO_PASSWORD,
                                                 "Demo Owner")
            actor = await services.accounts.authenticate(out["token"])
            assert actor is not None  # the token signup has just issued
            try:
                await services.accounts.create_user(actor, DEMO_AGENT, DEMO_PASSWORD,
                                                    "Ploy (demo agent)", Role.AGENT)
            except AccountError:
                pass
            if services.kb is not None:
                from server.kb.service import Upload

                for title, url, text in ARTICLES:
                    await services.kb.add(actor.org_id, Upload.from_text(title, text, url))
            site_key = out["site_key"]
        else:
            site_key = org.site_key
    finally:
        await close_services(services)
    return {"site_key": site_key, "agent_email": DEMO_AGENT, "password": DEMO_PASSWORD}

"""Notification mail end to end (issue 19 point 5): a real server process, the offline
mailer's .eml files, the real database. A follow-up address reaches the org's inbox; an
agent's burst of replies reaches the visitor as one mail in their language with a
transcript link; a transcript on request (notes excluded, rate-limited); offline agents
alerted after the org's threshold; new-device sign-ins; unsubscribe links that stop mail."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from tests.support.api import PASSWORD, OrgHandle, signup
from tests.support.mailbox import messages_to, text_of, wait_for_mail
from tests.support.wsclient import agent, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

ENV = {"CLIENTA_NOTIFY_SWEEP": "0.2", "CLIENTA_REPLY_MAIL_DELAY": "2",
       "CLIENTA_MAIL_POLL": "0.2", "CLIENTA_QUOTA_VISITOR_TRANSCRIPTS": "2/3600"}
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
              "Gecko) Chrome/126.0 Safari/537.36")
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
              "Gecko) Version/17.5 Safari/605.1.15")


def mailbox(env: dict[str, str]) -> Path:
    return Path(env["CLIENTA_HOME"]) / "mail"


def unsubscribe_url(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return header.strip("<>")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def count_outbox(database_url: str, org_id: str, kind: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM mail_outbox WHERE org_id = $1"
                                   " AND kind = $2", uuid.UUID(org_id), kind)
    finally:
        await conn.close()


async def login(base_url: str, email: str, user_agent: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30,
                                 headers={"User-Agent": user_agent}) as http:
        r = await http.post("/v1/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text


async def followup(server_ws: str, org: OrgHandle, address: str, text: str,
                   locale: str = "en"):
    """A visitor who asks for a person while nobody is online and leaves their address."""
    guest, welcome = await visitor(server_ws, org.site_key, locale=locale)
    await guest.send({"t": "msg", "id": "v1", "text": text})
    await guest.send({"t": "handoff"})
    await guest.expect("msg", ask_email=True)
    await guest.send({"t": "email", "email": address})
    await guest.expect("msg", followup_email=True)
    return guest, welcome["conversation_id"]


async def test_a_follow_up_reaches_the_inbox_and_a_burst_of_replies_one_thai_mail(
        make_server, server_env, database_url) -> None:
    server = make_server(ENV)
    box = mailbox(server_env)
    org = await signup(server.url, "Siam <Shop>")
    inbox = f"inbox-{uuid.uuid4().hex[:8]}@test.clienta"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        bad = await http.patch("/v1/org/notifications", headers=org.headers(),
                               json={"inbox_email": "not an address"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_request"
        r = await http.patch("/v1/org/notifications", headers=org.headers(),
                             json={"inbox_email": inbox})
        assert r.status_code == 200 and r.json()["inbox_email"] == inbox

    address = f"somchai-{uuid.uuid4().hex[:8]}@test.clienta"
    guest, conv = await followup(server.ws_url, org, address, "สั่งของแล้วยังไม่ได้รับ <b>", "th")
    mail = await wait_for_mail(box, inbox)
    assert address in text_of(mail) and "สั่งของแล้วยังไม่ได้รับ <b>" in text_of(mail)
    assert "&lt;b&gt;" in mail.get_body(preferencelist=("html",)).get_content()
    assert unsubscribe_url(mail)  # not a required notice

    ploy = await org.add_user("agent", "Ploy")
    desk, _ = await agent(server.ws_url, ploy["token"])
    await desk.send({"t": "claim", "conversation_id": conv})
    await desk.expect("mode", mode="agent")
    await desk.send({"t": "note", "conversation_id": conv, "id": "n1", "text": "SECRET-NOTE"})
    for i, text in enumerate(["ได้รับเรื่องแล้วครับ", "พัสดุออกจากคลังเมื่อวาน", "จะถึงพรุ่งนี้"]):
        await desk.send({"t": "msg", "conversation_id": conv, "id": f"a{i}", "text": text})
        await desk.expect("ack", id=f"a{i}")
    # the visitor's socket stays open but never reads: the replies are unread
    reply = await wait_for_mail(box, address)
    assert "ตอบกลับ" in str(reply["Subject"])  # the visitor's language
    body = text_of(reply)
    assert all(t in body for t in ("ได้รับเรื่องแล้วครับ", "พัสดุออกจากคลังเมื่อวาน", "จะถึงพรุ่งนี้"))
    assert "SECRET-NOTE" not in body
    assert await count_outbox(database_url, org.org_id, "conversation_reply") == 1

    # the link opens a read-only transcript; an altered one opens nothing
    link = re.search(r"(https?://\S+/c\?token=\S+)", body)
    assert link is not None
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        page = await http.get(path_of(link.group(1)))
        assert page.status_code == 200 and "จะถึงพรุ่งนี้" in page.text
        assert "SECRET-NOTE" not in page.text and "&lt;b&gt;" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        token = parse_qs(urlsplit(link.group(1)).query)["token"][0]
        forged = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
        assert (await http.get("/c", params={"token": forged})).status_code == 404

    # a later reply is a second mail
    await desk.send({"t": "msg", "conversation_id": conv, "id": "a9", "text": "ส่งแล้วนะครับ"})
    second = await wait_for_mail(box, address, count=2)
    assert "ส่งแล้วนะครับ" in text_of(second) and "จะถึงพรุ่งนี้" not in text_of(second)
    await guest.close()
    await desk.close()


async def test_a_transcript_on_request_and_unsubscribing_from_replies(
        make_server, server_env, database_url) -> None:
    server = make_server(ENV)
    box = mailbox(server_env)
    org = await signup(server.url)
    first = f"first-{uuid.uuid4().hex[:8]}@test.clienta"
    other = f"other-{uuid.uuid4().hex[:8]}@test.clienta"
    guest, conv = await followup(server.ws_url, org, first, "where is my parcel")
    later, conv2 = await followup(server.ws_url, org, other, "and mine")
    ploy = await org.add_user("agent", "Ploy")
    desk, _ = await agent(server.ws_url, ploy["token"])
    await desk.send({"t": "claim", "conversation_id": conv})
    await desk.expect("mode", mode="agent")
    await desk.send({"t": "note", "conversation_id": conv, "id": "n1", "text": "SECRET-NOTE"})
    await desk.send({"t": "msg", "conversation_id": conv, "id": "a1", "text": "It ships today"})
    await desk.expect("ack", id="a1")

    await guest.send({"t": "transcript"})
    await guest.expect("transcript", sent=True)
    copy = await wait_for_mail(box, first, "Your conversation")
    assert "where is my parcel" in text_of(copy) and "It ships today" in text_of(copy)
    assert "SECRET-NOTE" not in text_of(copy)
    assert copy["List-Unsubscribe"] is None  # asked for: a required notice
    elsewhere = f"copy-{uuid.uuid4().hex[:8]}@test.clienta"
    await guest.send({"t": "transcript", "email": elsewhere})
    await guest.expect("transcript", sent=True)
    await wait_for_mail(box, elsewhere, "Your conversation")
    await guest.send({"t": "transcript"})
    refused = await guest.expect("error")
    assert refused["code"] == "rate_limited"

    # the reply mail's one-click unsubscribe stops replies to this visitor
    reply = await wait_for_mail(box, first, "replied")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        url = path_of(unsubscribe_url(reply))
        page = await http.get(url)
        assert page.status_code == 200 and "<form" in page.text  # a GET stops nothing
        done = await http.post(url, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200
        assert (await http.post("/v1/unsubscribe?token=u_forged")).status_code == 404
    await desk.send({"t": "msg", "conversation_id": conv, "id": "a2", "text": "Any news?"})
    await desk.expect("ack", id="a2")
    await desk.send({"t": "claim", "conversation_id": conv2})
    await desk.expect("mode", mode="agent", conversation_id=conv2)
    await desk.send({"t": "msg", "conversation_id": conv2, "id": "b1", "text": "Yours too"})
    # the later reply's mail is queued by a sweep that saw the earlier one due as well
    await wait_for_mail(box, other, "replied")
    assert len([m for m in messages_to(box, first) if "replied" in str(m["Subject"])]) == 1
    assert await count_outbox(database_url, org.org_id, "conversation_reply") == 2
    for client in (guest, later, desk):
        await client.close()


async def test_offline_agents_hear_of_a_waiting_conversation_per_their_setting(
        make_server, server_env, database_url) -> None:
    server = make_server(ENV)
    box = mailbox(server_env)
    org = await signup(server.url)
    away = await org.add_user("agent", "Away")
    quiet = await org.add_user("agent", "Quiet")
    here = await org.add_user("agent", "Here")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        r = await http.patch("/v1/users/me/notifications", headers=org.headers(quiet["token"]),
                             json={"offline_waiting": False})
        assert r.json() == {"offline_waiting": False, "security_alerts": True}
        bad = await http.patch("/v1/users/me/notifications", headers=org.headers(),
                               json={"offline_waiting": "no"})
        assert bad.status_code == 422
        r = await http.patch("/v1/org/notifications", headers=org.headers(),
                             json={"waiting_alert_s": 1})
        assert r.json()["waiting_alert_s"] == 1
    desk, _ = await agent(server.ws_url, here["token"])  # online: no mail for them
    guest, _ = await visitor(server.ws_url, org.site_key)
    await guest.send({"t": "msg", "id": "v1", "text": "is anyone there?"})
    await guest.send({"t": "handoff"})
    await guest.expect("mode", mode="queued")
    alert = await wait_for_mail(box, away["email"], "waited")
    assert "is anyone there?" in text_of(alert) and unsubscribe_url(alert)
    await wait_for_mail(box, org.owner_email, "waited")
    # one alert per wait, to the offline agents who want it (the owner and Away)
    assert await count_outbox(database_url, org.org_id, "waiting_alert") == 2
    assert not messages_to(box, quiet["email"]) and not messages_to(box, here["email"])
    await guest.close()
    await desk.close()


async def test_a_sign_in_from_a_new_device_alerts_the_member_and_the_owners(
        make_server, server_env, database_url) -> None:
    server = make_server(ENV)
    box = mailbox(server_env)
    org = await signup(server.url)
    await login(server.url, org.owner_email, FIREFOX)  # the first device: only recorded
    await login(server.url, org.owner_email, FIREFOX.replace("128.0", "129.0"))  # an update
    assert await count_outbox(database_url, org.org_id, "new_device") == 0
    await login(server.url, org.owner_email, CHROME_WIN)
    own = await wait_for_mail(box, org.owner_email, "Security alert")
    assert "chrome/windows" in text_of(own) and own["List-Unsubscribe"] is None

    member = await org.add_user("agent", "Nid")  # their first sign-in: recorded
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        r = await http.patch(f"/v1/users/{member['user_id']}", json={"locale": "th"},
                             headers=org.headers(member["token"]))
        assert r.status_code == 200, r.text
    await login(server.url, member["email"], SAFARI_MAC)
    theirs = await wait_for_mail(box, member["email"], "")
    assert "แจ้งเตือนความปลอดภัย" in str(theirs["Subject"])  # a Thai member reads Thai
    assert "safari/mac" in text_of(theirs) and theirs["List-Unsubscribe"] is None
    about = await wait_for_mail(box, org.owner_email, "Security alert", count=2)
    assert member["email"] in text_of(about)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        r = await http.post(path_of(unsubscribe_url(about)))
        assert r.status_code == 200
        mine = await http.get("/v1/users/me/notifications", headers=org.headers())
        assert mine.json()["security_alerts"] is False
    await login(server.url, member["email"], CHROME_WIN)
    await wait_for_mail(box, member["email"], "", count=2)
    # the member's alert and the owner's were queued in one transaction: 1 + 2 + 1
    assert await count_outbox(database_url, org.org_id, "new_device") == 4


async def test_follow_ups_go_to_the_owners_by_default_until_the_inbox_unsubscribes(
        make_server, server_env, database_url) -> None:
    server = make_server(ENV)
    box = mailbox(server_env)
    org = await signup(server.url)  # no inbox address: the owners get follow-ups
    address = f"v-{uuid.uuid4().hex[:8]}@test.clienta"
    guest, _ = await followup(server.ws_url, org, address, "hello")
    mail = await wait_for_mail(box, org.owner_email, "answered by email")
    unsubscribe = unsubscribe_url(mail)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        assert (await http.post(path_of(unsubscribe))).status_code == 200
        settings = await http.get("/v1/org/notifications", headers=org.headers())
        assert settings.json()["inbox_enabled"] is False
    # the address is stored and the visitor thanked in the transaction that would queue it
    again, _ = await followup(server.ws_url, org, f"w-{uuid.uuid4().hex[:8]}@test.clienta", "hi")
    assert await count_outbox(database_url, org.org_id, "followup_inbox") == 1
    await guest.close()
    await again.close()

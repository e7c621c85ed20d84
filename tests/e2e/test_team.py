"""Team management end to end (issue 19 point 2): invitations mailed in the invitee's
language and accepted once, refused when expired or tampered, an org that keeps its last
owner, and the members list. Mail is read from the offline mailer's .eml files."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.api import PASSWORD, OrgHandle, signup
from tests.support.mailbox import link_token, text_of, wait_for_mail

pytestmark = pytest.mark.asyncio(loop_scope="session")


def mailbox(server_env: dict[str, str]) -> Path:
    return Path(server_env["CLIENTA_HOME"]) / "mail"


async def verified_org(base_url: str, box: Path) -> OrgHandle:
    """A fresh org whose owner confirmed their address from the sign-up mail."""
    org = await signup(base_url, f"Team {uuid.uuid4().hex[:6]}")
    mail = await wait_for_mail(box, org.owner_email, "Confirm")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        r = await http.post("/v1/email/verify", json={"token": link_token(mail, "verify")})
        assert r.status_code == 204, r.text
        assert (await http.get("/v1/me", headers=org.headers())).json()["email_verified"]
    return org


async def test_an_invitation_is_accepted_once_in_the_invitees_language(
        clienta_server, server_env) -> None:
    box = mailbox(server_env)
    org = await verified_org(clienta_server.url, box)
    address = f"new-{uuid.uuid4().hex[:8]}@test.clienta"
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        r = await http.post("/v1/invites", headers=org.headers(),
                            json={"email": address, "role": "agent", "locale": "th"})
        assert r.status_code == 201, r.text
        invite_id = r.json()["invite_id"]
        assert r.json()["expires_at"]
        mail = await wait_for_mail(box, address)
        assert "เชิญ" in str(mail["Subject"])  # Thai, as asked at invite time
        token = link_token(mail, "invite")
        assert token not in (await http.get("/v1/invites", headers=org.headers())).text
        listed = (await http.get("/v1/invites", headers=org.headers())).json()["items"]
        assert [i["invite_id"] for i in listed] == [invite_id]
        preview = await http.post("/v1/invites/preview", json={"token": token})
        assert preview.json()["email"] == address and preview.json()["role"] == "agent"

        accepted = await http.post("/v1/invites/accept", json={
            "token": token, "name": "Noi", "password": PASSWORD})
        assert accepted.status_code == 201, accepted.text
        body = accepted.json()
        assert body["role"] == "agent" and body["org_id"] == org.org_id
        me = await http.get("/v1/me", headers=org.headers(body["token"]))
        assert me.json()["email_verified"] is True and me.json()["locale"] == "th"
        again = await http.post("/v1/invites/accept", json={
            "token": token, "name": "Noi", "password": PASSWORD})
        assert again.status_code == 410
        assert again.json()["error"]["code"] == "gone"
        login = await http.post("/v1/login", json={"email": address, "password": PASSWORD})
        assert login.status_code == 200

        members = (await http.get("/v1/users", headers=org.headers())).json()
        assert members["next_cursor"] is None
        mine = {m["email"]: m for m in members["items"]}
        assert mine[address]["role"] == "agent" and mine[address]["name"] == "Noi"
        assert mine[address]["last_active_at"] is not None
        assert (await http.get("/v1/invites", headers=org.headers())).json()["items"] == []
        audit = (await http.get("/v1/audit", headers=org.headers())).json()["items"]
        actions = {e["action"] for e in audit}
        assert {"invite.sent", "invite.accepted", "auth.email_verified"} <= actions


async def test_expired_tampered_resent_and_revoked_links_are_refused(
        clienta_server, server_env, db) -> None:
    box = mailbox(server_env)
    org = await verified_org(clienta_server.url, box)
    address = f"late-{uuid.uuid4().hex[:8]}@test.clienta"
    form = {"name": "Late", "password": PASSWORD}
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        r = await http.post("/v1/invites", headers=org.headers(),
                            json={"email": address, "role": "viewer"})
        invite_id = r.json()["invite_id"]
        token = link_token(await wait_for_mail(box, address), "invite")
        # one character changed, and a forged token: refused before any row is read
        tampered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
        for bad in (tampered, "inv_" + "A" * 75, "pwr_" + token[4:]):
            r = await http.post("/v1/invites/accept", json={"token": bad, **form})
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["error"]["code"] == "invalid_token"
        # resent: a new link, and the old one no longer works
        r = await http.post(f"/v1/invites/{invite_id}/resend", headers=org.headers())
        assert r.status_code == 200
        fresh = link_token(await wait_for_mail(box, address, count=2), "invite")
        assert fresh != token
        r = await http.post("/v1/invites/accept", json={"token": token, **form})
        assert r.status_code == 410
        # expired: time moved in the database (the link's clock is Postgres's)
        async with db.unit_of_work(uuid.UUID(org.org_id)) as conn:
            await conn.execute("UPDATE invites SET expires_at = now() - interval '1 second'"
                               " WHERE id = $1", uuid.UUID(invite_id))
        r = await http.post("/v1/invites/accept", json={"token": fresh, **form})
        assert r.status_code == 410 and "expired" in r.json()["error"]["message"]
        # revoked
        r = await http.post("/v1/invites", headers=org.headers(),
                            json={"email": address, "role": "agent"})
        second = r.json()["invite_id"]
        newest = link_token(await wait_for_mail(box, address, count=3), "invite")
        assert (await http.delete(f"/v1/invites/{second}",
                                  headers=org.headers())).status_code == 204
        r = await http.post("/v1/invites/accept", json={"token": newest, **form})
        assert r.status_code == 410
        assert (await http.post("/v1/login", json={"email": address, "password": PASSWORD})
                ).status_code == 401


async def test_who_may_invite_and_the_last_owner(clienta_server, server_env) -> None:
    box = mailbox(server_env)
    unverified = await signup(clienta_server.url, "Unverified")
    org = await verified_org(clienta_server.url, box)
    admin = await org.add_user("admin", "Ada")
    agent = await org.add_user("agent", "Gus")
    async with httpx.AsyncClient(base_url=clienta_server.url, timeout=30) as http:
        r = await http.post("/v1/invites", headers=unverified.headers(),
                            json={"email": "x@test.clienta", "role": "agent"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "email_unverified"
        r = await http.post("/v1/invites", headers=org.headers(agent["token"]),
                            json={"email": "x@test.clienta", "role": "agent"})
        assert r.status_code == 403
        r = await http.post("/v1/invites", headers=org.headers(),
                            json={"email": agent["email"], "role": "agent"})
        assert r.status_code == 409  # already has an account

        owner_id = (await http.get("/v1/me", headers=org.headers())).json()["user_id"]
        r = await http.patch(f"/v1/users/{owner_id}", headers=org.headers(),
                             json={"role": "admin"})
        assert r.status_code == 409  # the last owner
        assert (await http.delete(f"/v1/users/{owner_id}", headers=org.headers())
                ).status_code == 409
        # an admin may not touch an owner, nor make one
        r = await http.patch(f"/v1/users/{owner_id}", headers=org.headers(admin["token"]),
                             json={"role": "agent"})
        assert r.status_code == 403
        r = await http.patch(f"/v1/users/{agent['user_id']}",
                             headers=org.headers(admin["token"]), json={"role": "owner"})
        assert r.status_code == 403
        # with a second owner the first may step down
        r = await http.patch(f"/v1/users/{admin['user_id']}", headers=org.headers(),
                             json={"role": "owner"})
        assert r.status_code == 200 and r.json()["role"] == "owner"
        r = await http.patch(f"/v1/users/{owner_id}", headers=org.headers(),
                             json={"role": "admin", "name": "Former owner"})
        assert r.status_code == 200 and r.json()["role"] == "admin"
        # the owners were told, each in their language
        alert = await wait_for_mail(box, org.owner_email, "Security alert")
        assert "admin" in text_of(alert)
        r = await http.patch(f"/v1/users/{admin['user_id']}",
                             headers=org.headers(admin["token"]), json={"role": "admin"})
        assert r.status_code == 409  # now Ada is the last owner
        # a member renames themselves and picks a language; not another member
        r = await http.patch(f"/v1/users/{agent['user_id']}",
                             headers=org.headers(agent["token"]),
                             json={"name": "Gus T", "locale": "th"})
        assert r.status_code == 200 and r.json()["locale"] == "th"
        r = await http.patch(f"/v1/users/{admin['user_id']}",
                             headers=org.headers(agent["token"]), json={"name": "x"})
        assert r.status_code == 403
        r = await http.get("/v1/users?limit=1", headers=org.headers())
        assert len(r.json()["items"]) == 1 and r.json()["next_cursor"]
        r2 = await http.get(f"/v1/users?limit=1&cursor={r.json()['next_cursor']}",
                            headers=org.headers())
        assert r2.json()["items"][0]["user_id"] != r.json()["items"][0]["user_id"]
        assert (await http.get("/v1/users?cursor=nope", headers=org.headers())
                ).status_code == 400

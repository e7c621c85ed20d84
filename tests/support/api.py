"""HTTP helpers for tests: sign up an isolated organisation, add users, add knowledge."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

PASSWORD = "correct-horse-battery"


@dataclass
class OrgHandle:
    base_url: str
    org_id: str
    site_key: str
    owner_token: str
    owner_email: str

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.owner_token}"}

    async def add_user(self, role: str, name: str | None = None) -> dict[str, str]:
        email = f"{role}-{uuid.uuid4().hex[:10]}@test.clienta"
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            r = await client.post("/v1/users", headers=self.headers(), json={
                "email": email, "password": PASSWORD, "name": name or role.title(), "role": role})
            r.raise_for_status()
            user_id = r.json()["user_id"]
            r = await client.post("/v1/login", json={"email": email, "password": PASSWORD})
            r.raise_for_status()
        return {"user_id": user_id, "token": r.json()["token"], "email": email}

    async def add_document(self, title: str, text: str, url: str | None = None) -> dict:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as client:
            body = {"title": title, "text": text}
            if url:
                body["url"] = url
            r = await client.post("/v1/kb/documents", headers=self.headers(), json=body)
            r.raise_for_status()
            return r.json()


async def signup(base_url: str, name: str = "Test Org") -> OrgHandle:
    email = f"owner-{uuid.uuid4().hex[:10]}@test.clienta"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        r = await client.post("/v1/signup", json={
            "org_name": name, "email": email, "password": PASSWORD, "name": "Owner"})
        r.raise_for_status()
        body = r.json()
    return OrgHandle(base_url, body["org_id"], body["site_key"], body["token"], email)

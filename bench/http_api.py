"""The HTTP calls of the contract the harness needs: sign-up, agents, login, KB, history."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from bench.services import BenchError


@dataclass(frozen=True, slots=True)
class Org:
    org_id: str
    owner_id: str
    site_key: str
    token: str
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class AgentAccount:
    user_id: str
    email: str
    token: str


class Api:
    """One server's HTTP side; every failure becomes a BenchError naming the call."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, trust_env=False)

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, expect: int, token: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            resp = await self._http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise BenchError(f"{method} {path} failed: {exc!r}") from exc
        if resp.status_code != expect:
            hint = " (the server lacks this endpoint)" if resp.status_code in (404, 405) else ""
            raise BenchError(
                f"{method} {path} answered {resp.status_code}{hint}, expected {expect}: "
                f"{resp.text[:300]}"
            )
        try:
            body = resp.json()
        except ValueError as exc:
            raise BenchError(f"{method} {path} answered non-JSON: {resp.text[:200]}") from exc
        return body if isinstance(body, dict) else {"_": body}

    async def signup(self, label: str = "bench") -> Org:
        tag = secrets.token_hex(4)
        email = f"owner-{label}-{tag}@bench.example.com"
        password = secrets.token_urlsafe(12)
        body = await self._call(
            "POST", "/v1/signup", 201,
            json={"org_name": f"Bench {label} {tag}", "email": email, "password": password,
                  "name": "Bench Owner"},
        )
        for key in ("org_id", "user_id", "site_key", "token"):
            if key not in body:
                raise BenchError(f"POST /v1/signup answer lacks {key!r}: {body}")
        return Org(body["org_id"], body["user_id"], body["site_key"], body["token"], email,
                   password)

    async def create_agent(self, org: Org, n: int) -> AgentAccount:
        email = f"agent{n}-{secrets.token_hex(4)}@bench.example.com"
        password = secrets.token_urlsafe(12)
        body = await self._call(
            "POST", "/v1/users", 201, org.token,
            json={"email": email, "password": password, "name": f"Agent {n}", "role": "agent"},
        )
        token = await self.login(email, password)
        return AgentAccount(str(body.get("user_id")), email, token)

    async def login(self, email: str, password: str) -> str:
        body = await self._call("POST", "/v1/login", 200,
                                json={"email": email, "password": password})
        if "token" not in body:
            raise BenchError(f"POST /v1/login answer lacks 'token': {body}")
        return str(body["token"])

    async def add_document(self, org: Org, title: str, text: str) -> dict[str, Any]:
        return await self._call("POST", "/v1/kb/documents", 201, org.token,
                                json={"title": title, "text": text})

    async def messages(self, org: Org, conversation_id: str) -> list[dict[str, Any]]:
        body = await self._call("GET", f"/v1/conversations/{conversation_id}/messages", 200,
                                org.token)
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise BenchError(f"GET /v1/conversations/{{id}}/messages lacks 'messages': {body}")
        return messages

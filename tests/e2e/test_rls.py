"""Row-level security from the outside: the test servers serve as a role the policies
hold (`/readyz` says so), and a server given the owner's URL says loudly that they do not
hold it, on `/readyz` and in its start-up log, yet still serves."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import signup

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_server_serves_as_a_role_row_level_security_holds(clienta_server):
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        r = await http.get("/readyz")
    assert r.status_code == 200
    assert r.json()["rls"] == "enforced" and "rls_bypass" not in r.json()


async def test_a_server_serving_as_the_owner_says_so_and_still_serves(make_server,
                                                                      database_url):
    server = make_server({"DATABASE_URL": database_url})  # the session's superuser
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/readyz")
    assert r.status_code == 200, r.text  # loud, not fatal (README: the serving role)
    assert r.json()["rls"] == "bypassed"
    assert "superuser" in r.json()["rls_bypass"]
    assert "row-level security bypassed" in server.log_path.read_text()
    org = await signup(server.url)  # and it works as before
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/v1/conversations", headers=org.headers())
    assert r.status_code == 200

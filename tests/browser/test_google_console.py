"""Google sign-in in the console, in Chromium: no button when the server has no Google
configuration; with a fake provider on 127.0.0.1, the button signs a new person up (naming
their organisation) and signs them in again straight into the desk."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.fakes.oidc_server import FakeOidcServer, Person
from tests.support.google import start_google_server
from tests.support.processes import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeOidcServer]:
    with FakeOidcServer().threaded() as fake:
        yield fake


@pytest.fixture(scope="module")
def google_server(idp: FakeOidcServer, server_env: dict[str, str],
                  session_dir: Path) -> Iterator[ServerProcess]:
    server = start_google_server(idp, server_env, session_dir / "google-console-home",
                                 session_dir)
    yield server
    server.stop()
    server.assert_no_unhandled()


async def _console(ctx: Any, base_url: str) -> Any:
    page = await ctx.new_page()
    async with page.expect_response(lambda r: r.url.endswith("/v1/auth/methods")):
        await page.goto(base_url + "/console")
    return page


async def test_the_console_hides_the_button_when_google_is_off(
        clienta_server: ServerProcess, new_context: Any) -> None:
    page = await _console(await new_context(), clienta_server.url)
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#google-signin")).to_be_hidden()


async def test_sign_up_and_in_again_with_the_google_button(
        google_server: ServerProcess, idp: FakeOidcServer, new_context: Any) -> None:
    idp.person = Person(email=f"b-{uuid.uuid4().hex[:10]}@gmail.test", name="Bea Browser")
    page = await _console(await new_context(), google_server.url)
    await page.locator("#google-signin").click()  # to the provider and back
    await expect(page.locator("#google-title")).to_have_text("Create your organisation")
    assert "#" not in page.url  # the fragment is dropped from the address bar
    await page.locator("#google-org").fill("Bea's bakery")
    await page.locator("#google-form button[type=submit]").click()
    await expect(page.locator("#app")).to_be_visible()
    # the agent socket said welcome to the token the console got: the desk is live
    await expect(page.locator("#me")).to_contain_text("Bea Browser")

    page = await _console(await new_context(), google_server.url)  # another browser
    await page.locator("#google-signin").click()
    await expect(page.locator("#me")).to_contain_text("Bea Browser")
    await expect(page.locator("#google-view")).to_be_hidden()


async def test_a_refused_sign_in_is_explained_on_the_login_page(
        google_server: ServerProcess, idp: FakeOidcServer, new_context: Any) -> None:
    idp.person = Person(email=f"u-{uuid.uuid4().hex[:10]}@gmail.test", email_verified=False)
    page = await _console(await new_context(), google_server.url)
    await page.locator("#google-signin").click()
    await expect(page.locator("#login-error")).to_contain_text("not verified")
    await expect(page.locator("#app")).to_be_hidden()

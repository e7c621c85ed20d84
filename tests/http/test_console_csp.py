"""The console's Content-Security-Policy admits Omise.js only when the billing page may
tokenize cards (OMISE_PUBLIC_KEY set): served by the server and in a static build's
vercel.json alike. tests/browser/test_billing_omise_card.py loads it under that policy."""

from __future__ import annotations

import httpx
import pytest

from server.http.cdn import vercel_config
from server.http.static import CONSOLE_CSP, with_omise
from server.settings.providers import BillingSettings

OMISE = ("https://cdn.omise.co/omise.js", "https://vault.omise.co")


def directives(csp: str) -> dict[str, list[str]]:
    return {r.split()[0]: r.split()[1:] for r in (p.strip() for p in csp.split(";")) if r}


def built_policy(omise: tuple[str, str] | None) -> str:
    """The console's CSP in a static build's vercel.json."""
    for rule in vercel_config("https://api.example.com", omise)["headers"]:
        if rule["source"] == "/console":
            return next(h["value"] for h in rule["headers"]
                        if h["key"] == "Content-Security-Policy")
    raise AssertionError("no /console headers")


def test_without_a_public_key_nothing_of_omise_is_allowed() -> None:
    assert BillingSettings.from_env({"OMISE_SECRET_KEY": "skey_x"}).omise_browser is None
    assert with_omise(CONSOLE_CSP, None) == CONSOLE_CSP
    assert "omise" not in CONSOLE_CSP
    assert "omise" not in built_policy(None)


def test_with_a_public_key_the_script_and_its_vault_only() -> None:
    settings = BillingSettings.from_env({"OMISE_SECRET_KEY": "skey_x",
                                         "OMISE_PUBLIC_KEY": "pkey_x"})
    assert settings.omise_browser == OMISE
    rules = directives(with_omise(CONSOLE_CSP, OMISE))
    assert rules["script-src"] == ["'self'", "https://cdn.omise.co"]
    assert rules["frame-src"] == ["'self'", "https://vault.omise.co"]
    assert rules["connect-src"] == ["'self'", "https://vault.omise.co"]
    # nothing else opens: no inline script, no other host, no form posts
    assert rules["default-src"] == ["'none'"] and rules["form-action"] == ["'none'"]
    rules = directives(built_policy(OMISE))
    assert rules["script-src"] == ["'self'", "https://cdn.omise.co"]
    assert rules["frame-src"] == ["https://vault.omise.co"]  # added: default-src was 'none'
    assert "https://vault.omise.co" in rules["connect-src"]


@pytest.mark.asyncio(loop_scope="session")
async def test_a_server_without_omise_serves_the_plain_policy(clienta_server) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(clienta_server.url + "/console")
    assert r.headers["content-security-policy"] == CONSOLE_CSP

"""The widget as a page and a person meet it: isolation from host CSS, a strict CSP,
keyboard use, contrast of the default colours, and a custom accent colour."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.drivers import Visitor
from tests.support.api import OrgHandle

pytestmark = pytest.mark.browser


def contrast(a: str, b: str) -> float:
    def lum(css: str) -> float:
        channels = [int(x) / 255 for x in re.findall(r"\d+", css)[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


COLOURS = """el => {
  const s = getComputedStyle(el);
  return [s.color, s.backgroundColor];
}"""


async def test_host_css_does_not_leak_and_colours_pass_aa(org: OrgHandle, new_context: Any) -> None:
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    # /try styles every <button> hot pink with !important: the launcher keeps its own.
    fg, bg = await v.launcher.evaluate(COLOURS)
    assert bg == "rgb(29, 78, 216)" and fg == "rgb(255, 255, 255)"
    await v.open()
    await v.say("hello there")
    await expect(v.bubbles("visitor").locator(".meta")).to_have_count(0)
    await expect(v.bubbles("system").or_(v.bubbles("bot"))).not_to_have_count(0, timeout=30_000)
    for locator in (
        v.bubbles("visitor").first,
        v.page.locator("clienta-widget .head"),
        v.bubbles("system").or_(v.bubbles("bot")).first,
    ):
        fg, bg = await locator.evaluate(COLOURS)
        if bg == "rgba(0, 0, 0, 0)":
            bg = "rgb(255, 255, 255)"  # transparent over the white panel
        assert contrast(fg, bg) >= 4.5, (fg, bg)
    font = await v.input.evaluate("el => getComputedStyle(el).fontFamily")
    assert "Georgia" not in font


async def test_keyboard_only(org: OrgHandle, new_context: Any) -> None:
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    await v.page.locator("#boots p").click()  # focus starts in the page
    for _ in range(12):
        await v.page.keyboard.press("Tab")
        if await v.launcher.evaluate("el => el.getRootNode().activeElement === el"):
            break
    else:
        pytest.fail("the launcher is not reachable with Tab")
    assert await v.launcher.get_attribute("aria-label") == "Open chat"
    await v.page.keyboard.press("Enter")
    await expect(v.panel).to_be_visible()
    await expect(v.input).to_be_focused()
    await expect(v.launcher).to_have_attribute("aria-expanded", "true")
    await expect(v.log).to_have_attribute("aria-live", "polite")
    await v.page.keyboard.type("typed with the keyboard")
    await v.page.keyboard.press("Enter")
    await expect(v.bubbles("visitor")).to_contain_text(["typed with the keyboard"])
    await v.page.keyboard.press("Escape")
    await expect(v.panel).to_be_hidden()
    await expect(v.launcher).to_be_focused()


async def test_demo_page_under_its_csp(org: OrgHandle, new_context: Any) -> None:
    page = await (await new_context()).new_page()
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    response = await page.goto(f"{org.base_url}/?site_key={org.site_key}")
    assert response and "default-src 'self'" in response.headers["content-security-policy"]
    launcher = page.locator("clienta-widget .launch")
    await launcher.click()
    await expect(page.locator("clienta-widget .panel")).to_be_visible()
    await expect(page.locator("clienta-widget .status")).to_be_hidden()  # connected
    bg = await launcher.evaluate("el => getComputedStyle(el).backgroundColor")
    assert bg == "rgb(29, 78, 216)"  # styles applied despite style-src limits
    assert violations == []


async def test_custom_colour_title_and_position(org: OrgHandle, new_context: Any) -> None:
    v = await Visitor.arrive(
        await new_context(),
        org.base_url,
        org.site_key,
        color="#ffd400",
        title="Acme help",
        position="left",
    )
    fg, bg = await v.launcher.evaluate(COLOURS)
    assert bg == "rgb(255, 212, 0)"
    assert contrast(fg, bg) >= 4.5  # dark text picked for a light accent
    box = await v.launcher.bounding_box()
    assert box and box["x"] < 100
    await v.open()
    await expect(v.page.locator("clienta-widget .title")).to_have_text("Acme help")
    await expect(v.panel).to_have_attribute("aria-label", "Acme help")

"""The console's knowledge-base page in Chromium against a real server: a file dropped on
the page (a DataTransfer drop event) is processed in the background and turns ready while
the page watches, a broken one fails with its reason, pasted text and a fetched page are
added, a document's chunks open, "try the bot" shows the answer with its sources and
scores or the handoff, a visitor's unanswered question is answered from the page and the
bot then answers it; English and Thai; axe-core finds nothing serious; agents are not
offered the page. Screenshots go to docs/console/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.browser.a11y import serious_violations
from tests.browser.drivers import Agent
from tests.browser.shots import SHOTS
from tests.kb.pages import PageServer
from tests.support.api import OrgHandle, signup
from tests.support.processes import ServerProcess
from tests.support.wsclient import visitor

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# over CLIENTA_KB_BACKGROUND_BYTES below: processed in the background, polled by the page
_ORIGINS = ("Doi Chang", "Doi Saket", "Yirgacheffe", "Huila", "Sidamo", "Antigua", "Kona",
            "Tarrazu", "Nyeri", "Cerrado", "Mandheling", "Toraja", "Bourbon", "Geisha")
RETURNS = ("# Returns\n## Refunds\nRefunds reach your card within 5 working days of the return "
           "arriving at the roastery.\n## Unopened bags\nUnopened bags can be sent back within "
           "30 days.\n" + "".join(
               f"## {name}\n{name} beans grow at {1000 + 37 * i} metres; the cup tastes of "
               f"{('plum', 'cocoa', 'jasmine', 'caramel')[i % 4]} and is roasted on "
               f"{('Monday', 'Wednesday', 'Friday')[i % 3]}s.\n"
               for i, name in enumerate(_ORIGINS)))
NO_PAIRS = "just one column\n" * 200  # a CSV without question,answer pairs
THAI = ("# การคืนสินค้า\nสามารถคืนเมล็ดกาแฟที่ยังไม่เปิดถุงได้ภายใน 30 วัน "
        "และจะได้รับเงินคืนภายใน 5 วันทำการ\n")


@pytest.fixture(scope="module")
def kb_server(server_env: dict[str, str], session_dir: Path) -> Iterator[ServerProcess]:
    """A server that may fetch from 127.0.0.1 (the test's own page server) and processes
    uploads over 2 KiB in the background."""
    env = dict(server_env, CLIENTA_KB_FETCH_ALLOW_LOOPBACK="1", CLIENTA_KB_BACKGROUND_BYTES="1024")
    server = ServerProcess(env, log_dir=session_dir).start()
    yield server
    server.stop()
    server.assert_no_unhandled()


@pytest_asyncio.fixture(loop_scope="session")
async def pages() -> AsyncIterator[PageServer]:
    server = await PageServer().start()
    yield server
    await server.stop()


async def _shot(page: Any, name: str) -> None:
    """The whole page section: the console scrolls inside it, so the window grows to fit."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = await page.evaluate("document.getElementById('kb').scrollHeight + 140")
    await page.set_viewport_size({"width": 1100, "height": min(height, 2400)})
    await page.screenshot(path=str(SHOTS / name))
    await page.set_viewport_size({"width": 1100, "height": 800})


async def _drop(page: Any, name: str, text: str, ctype: str) -> None:
    """What a browser does when a file is dragged from the desktop onto the zone."""
    await page.evaluate(
        """([name, text, ctype]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, {type: ctype}));
            const zone = document.getElementById('kb-drop');
            zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true,
                                                          cancelable: true}));
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true,
                                                      cancelable: true}));
        }""", [name, text, ctype])


def _doc(page: Any, title: str) -> Any:
    return page.locator("#kb-docs tbody tr").filter(has_text=title)


async def _ask(page: Any, question: str, lang: str = "en") -> None:
    await page.fill("#kb-try-question", question)
    await page.select_option("#kb-try-lang", lang)
    await page.click("#kb-try button[type=submit]")


async def _unanswered_question(server: ServerProcess, org: OrgHandle, text: str) -> None:
    """A real visitor asks what the knowledge base does not cover: the bot hands off and
    the question is recorded."""
    guest, _ = await visitor(server.ws_url, org.site_key)
    await guest.send({"t": "msg", "id": "q1", "text": text})
    await guest.expect("mode", mode="queued", timeout=15)
    await guest.close()


async def test_knowledge_base_page(kb_server: ServerProcess, pages: PageServer,
                                   new_context: Any) -> None:
    org = await signup(kb_server.url, "Lumen Roasters")
    owner = await Agent.log_in(await new_context(), kb_server.url, org.owner_email)
    page = owner.page
    await page.click("#kb-toggle")
    await expect(page.locator("#kb")).to_be_visible()
    await expect(page.locator("#desk-lists")).to_be_hidden()

    # dropped: 202 processing, then ready without a reload (the page polls)
    await _drop(page, "returns.md", RETURNS, "text/markdown")
    row = _doc(page, "Returns")
    await expect(row).to_have_attribute("data-status", "ready", timeout=30_000)
    await expect(row.locator(".badge")).to_have_text("ready")
    assert int(await row.locator("td").nth(4).inner_text()) >= 2
    # a broken one fails, with its reason
    await _drop(page, "pairs.csv", NO_PAIRS, "text/csv")
    bad = _doc(page, "pairs.csv")
    await expect(bad).to_have_attribute("data-status", "failed", timeout=30_000)
    await expect(bad.locator(".kb-error")).to_contain_text("question")

    # its chunks
    await row.locator("button.kb-view").click()
    await expect(page.locator("#kb-chunks")).to_be_visible()
    await expect(page.locator("#kb-chunks-title")).to_be_focused()
    await expect(page.locator("#kb-chunks li").first).to_contain_text("5 working days")

    # pasted text, and a page fetched by URL
    await page.fill("#kb-paste-title", "Opening hours")
    await page.fill("#kb-paste-text", "We open at 7:00 every day except Sunday.")
    await page.click("#kb-paste button[type=submit]")
    await expect(_doc(page, "Opening hours")).to_have_attribute("data-status", "ready")
    await page.fill("#kb-url", f"{pages.base}/page")
    await page.click("#kb-fetch button[type=submit]")
    fetched = _doc(page, "Delivery times")
    await expect(fetched).to_have_attribute("data-status", "ready")
    await expect(fetched.locator("a")).to_have_attribute("href", f"{pages.base}/page")

    # try the bot: the answer with its sources and scores, or why it would hand off
    await _ask(page, "How long do refunds take to reach my card?")
    await expect(page.locator("#kb-try-answer")).to_contain_text("5 working days")
    await expect(page.locator("#kb-try-sources li").first).to_have_text("Returns")
    cited = page.locator("#kb-try-passages tbody tr[data-cited='1']")
    await expect(cited.first).to_be_visible()
    score = float(await cited.first.locator(".kb-score").inner_text())
    assert 0 < score <= 1
    assert await serious_violations(page, "#kb") == []
    await page.click("#kb-chunks button:text('Close')")
    await _shot(page, "kb.png")
    await _ask(page, "I want to talk to a real person")
    await expect(page.locator("#kb-try-handoff")).to_have_attribute("data-reason",
                                                                    "asked_for_human")

    # a visitor's question nobody could answer: answered here, then the bot answers it
    question = "Do you sell gift cards?"
    await _unanswered_question(kb_server, org, question)
    await page.click("#kb-toggle")  # back to the desk, and again: the lists reload
    await page.click("#kb-toggle")
    asked = page.locator("#kb-unanswered tbody tr").filter(has_text=question)
    await expect(asked).to_have_count(1)
    await asked.locator("button.kb-answer-open").click()
    await expect(page.locator(".kb-answer-form textarea")).to_be_focused()
    await page.keyboard.type("Yes: gift cards of 500 or 1000 baht, sold in the shop.")
    await page.locator(".kb-answer-form button[type=submit]").click()
    await expect(asked).to_have_count(0)
    await expect(_doc(page, question)).to_have_attribute("data-status", "ready")
    await _ask(page, question)
    await expect(page.locator("#kb-try-answer")).to_contain_text("gift cards of 500")
    await expect(page.locator("#kb-try-sources li").first).to_have_text(question)

    # delete (two clicks) and re-index
    hours = _doc(page, "Opening hours")
    await hours.locator("button.kb-delete").click()
    await hours.locator("button.kb-delete").click()
    await expect(_doc(page, "Opening hours")).to_have_count(0)
    await page.click("#kb-reindex")
    await expect(page.locator("#kb-status")).to_have_text("Re-indexing in the background.")
    assert await serious_violations(page, "#kb") == []
    assert owner.rec.errors == []


async def test_knowledge_base_page_in_thai(kb_server: ServerProcess,
                                           new_context: Any) -> None:
    org = await signup(kb_server.url, "ร้านกาแฟ")
    ctx = await new_context()
    await ctx.add_init_script("localStorage.setItem('clienta:console-lang', 'th')")
    owner = await Agent.log_in(ctx, kb_server.url, org.owner_email)
    page = owner.page
    await expect(page.locator("#kb-toggle")).to_have_text("ฐานความรู้")
    await page.click("#kb-toggle")
    await expect(page.locator("#kb-title")).to_have_text("ฐานความรู้")
    await _drop(page, "returns-th.md", THAI, "text/markdown")
    row = _doc(page, "การคืนสินค้า")
    await expect(row.locator(".badge")).to_have_text("พร้อมใช้")
    await _ask(page, "คืนเงินภายในกี่วันคะ", "th")
    await expect(page.locator("#kb-try-answer")).to_contain_text("5 วันทำการ")
    await expect(page.locator("#kb-try-sources li").first).to_have_text("การคืนสินค้า")
    assert await serious_violations(page, "#kb") == []
    await _shot(page, "kb-th.png")
    await _ask(page, "ขอคุยกับพนักงานหน่อย", "th")
    await expect(page.locator("#kb-try-handoff")).to_contain_text("ผู้เยี่ยมชมขอคุยกับเจ้าหน้าที่")
    assert owner.rec.errors == []


async def test_agents_are_not_offered_the_page(kb_server: ServerProcess,
                                               new_context: Any) -> None:
    org = await signup(kb_server.url)
    agent = await org.add_user("agent")
    desk = await Agent.log_in(await new_context(), kb_server.url, agent["email"])
    await expect(desk.page.locator("#kb-toggle")).to_be_hidden()
    await expect(desk.page.locator("#kb")).to_be_hidden()

"""A visitor on a customer's page: asks, sees the answer stream in, reloads, reads Thai."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.drivers import XSS, Visitor
from tests.support.api import OrgHandle

pytestmark = pytest.mark.browser

REFUNDS = (
    "Refund policy. You can return any item within 30 days of delivery for a full refund. "
    "Refunds are paid to the original card within 5 business days."
)


async def test_visitor_sees_streamed_answer_with_sources(org: OrgHandle, new_context) -> None:
    await org.add_document("Refund policy", REFUNDS, url="https://shop.example/refunds")
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    await v.open()
    await v.say("How many days do I have to return an item for a refund?")

    await expect(v.bubbles("visitor")).to_have_count(1)
    await expect(v.bubbles("visitor").locator(".meta")).to_have_count(0)  # acked
    answer = v.answers().last
    await expect(answer).to_contain_text("30 days", timeout=30_000)
    await expect(answer.locator(".src a")).to_have_attribute("href", "https://shop.example/refunds")

    # The answer really streamed: deltas came first, then the final msg replaced them.
    final = [f for f in v.rec.of("msg") if f.get("author", {}).get("role") == "bot"]
    assert final and final[-1].get("stream_id")
    previews = [f for f in v.rec.received if f["t"] in ("bot.delta", "bot.snapshot")]
    assert any(p.get("stream_id") == final[-1]["stream_id"] for p in previews)
    await expect(v.page.locator("clienta-widget .streaming")).to_have_count(0)
    texts = await v.texts()
    assert len(texts) == 2 and texts[0].startswith("How many days")
    assert v.rec.errors == []


async def test_reload_resumes_the_same_conversation(org: OrgHandle, new_context) -> None:
    await org.add_document("Refund policy", REFUNDS)
    ctx = await new_context()
    v = await Visitor.arrive(ctx, org.base_url, org.site_key)
    await v.open()
    await v.say("Can I get a refund after 30 days?")
    await expect(v.answers()).to_have_count(1, timeout=30_000)
    before = await v.texts()
    conversation = (await v.stored())["conv"]

    await v.page.reload()
    await expect(v.launcher).to_be_visible()
    await v.open()
    await expect(v.bubbles()).to_have_count(len(before))
    hello = v.rec.of("hello", received=False)[-1]
    assert hello["visitor_token"] and hello["conversation_id"] == conversation
    assert hello["last_seq"] >= 2
    await v.say("How many business days until the refund is paid to my card?")
    # Answered by the bot or handed to a person: either way one reply, nothing twice.
    replies = v.page.locator("clienta-widget .log > .m.bot:not(.streaming), .log > .m.system")
    await expect(replies).to_have_count(2, timeout=30_000)
    await expect(v.bubbles("visitor").locator(".meta")).to_have_count(0)
    texts = await v.texts()
    assert texts[: len(before)] == before
    # two answers may quote the same passage, so count bubbles, not distinct texts
    assert len(texts) == len(before) + 2
    assert texts[len(before)] == "How many business days until the refund is paid to my card?"
    assert [t for t in texts if t.startswith("How many business days")] == [texts[len(before)]]


async def test_thai_locale_wraps_at_360px(org: OrgHandle, new_context) -> None:
    ctx = await new_context(viewport={"width": 360, "height": 740}, locale="en-US")
    v = await Visitor.arrive(ctx, org.base_url, org.site_key, locale="th")
    await expect(v.launcher).to_have_attribute("aria-label", "เปิดแชท")
    await v.open()
    await expect(v.input).to_have_attribute("placeholder", "พิมพ์ข้อความ…")
    assert await v.page.locator("clienta-widget .w").get_attribute("lang") == "th"
    assert v.rec.of("hello", received=False)[-1]["locale"] == "th"

    box = await v.panel.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360

    thai = "สวัสดีครับผมอยากสอบถามเรื่องการคืนสินค้าที่สั่งซื้อไปเมื่อสัปดาห์ที่แล้ว" * 3
    await v.say(thai)
    bubble = v.bubbles("visitor").last
    await expect(bubble).to_contain_text("สวัสดีครับ")
    await expect(bubble.locator(".meta")).to_have_count(0)  # stored: no more swaps
    fit = await bubble.evaluate(
        "el => ({sw: el.scrollWidth, cw: el.clientWidth, h: el.clientHeight,"
        " r: el.getBoundingClientRect().right})"
    )
    assert fit["sw"] <= fit["cw"] + 1, fit  # wrapped, not overflowing
    assert fit["r"] <= 360
    assert fit["h"] > 60  # several lines
    # Thai breaks between words, so every line ends on a whole syllable cluster.
    assert await v.page.locator("clienta-widget .handoff").inner_text() == "คุยกับเจ้าหน้าที่"


async def test_visitor_and_knowledge_payloads_show_as_text(org: OrgHandle, new_context) -> None:
    await org.add_document(
        "Warranty <img src=x onerror=window.__xss=5>",
        "Warranty terms. Every kettle has a two year warranty. <script>window.__xss=6</script>",
    )
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    await v.open()
    await v.say("How long is the kettle warranty?")
    await expect(v.answers()).to_have_count(1, timeout=30_000)
    await expect(v.answers().last).to_contain_text("two year warranty")
    await v.say("Thanks! " + XSS)
    mine = v.bubbles("visitor").last
    await expect(mine).to_contain_text("<img src=x onerror=")
    await expect(mine).to_contain_text("[x](javascript:window.__xss=4)")
    await expect(mine.locator(".meta")).to_have_count(0)
    log = v.log
    assert await log.locator("img, script, svg, iframe").count() == 0
    assert await log.locator("a[href^='javascript']").count() == 0
    assert await v.xss_fired() is None
    assert v.rec.dialogs == []


async def test_embed_api_queue_and_events(org: OrgHandle, new_context) -> None:
    await org.add_document("Refund policy", REFUNDS)
    ctx = await new_context()
    # The documented snippet: calls made before widget.js arrives are queued.
    await ctx.add_init_script(
        "window.Clienta = window.Clienta || function () {"
        " (Clienta.q = Clienta.q || []).push(arguments) };"
        "window.__events = [];"
        "Clienta('on', 'open', function () { __events.push('open') });"
        "Clienta('on', 'message', function (m) { __events.push('message:' + m.author.role) });"
        "Clienta('identify', {name: 'Dana Visitor', email: 'dana@example.com'});"
        "Clienta('open');"
    )
    v = await Visitor.arrive(ctx, org.base_url, org.site_key)
    await expect(v.panel).to_be_visible()  # opened by the queued call
    await v.say("When are refunds paid to my card?")
    await expect(v.answers()).to_have_count(1, timeout=30_000)
    events = await v.page.evaluate("window.__events")
    assert events[0] == "open" and "message:bot" in events
    ident = v.rec.of("identify", received=False)
    assert ident and ident[-1]["name"] == "Dana Visitor"

    await v.page.evaluate("Clienta('reset')")
    await expect(v.bubbles()).to_have_count(0)
    await expect(v.status).to_be_hidden()
    welcomes = v.rec.of("welcome")
    assert len(welcomes) == 2 and welcomes[0]["visitor_token"] != welcomes[1]["visitor_token"]
    await v.page.evaluate("Clienta('close')")
    await expect(v.panel).to_be_hidden()

import asyncio, pytest
from tests.browser.drivers import Visitor
pytestmark = pytest.mark.browser
QS = ["How long do refunds take?", "When are refunds paid to my card?", "How many business days until refunds are paid to my card?"]
@pytest.mark.parametrize("q", QS)
async def test_dbg(org, new_context, q):
    await org.add_document("Refund policy", "Refund policy. You can return any item within 30 days of delivery for a full refund. Refunds are paid to the original card within 5 business days.")
    v = await Visitor.arrive(await new_context(), org.base_url, org.site_key)
    await v.open()
    await v.say(q)
    await asyncio.sleep(4)
    print("Q", q, "=>", (await v.texts())[1:])

"""Conversation history and insights over HTTP after a scripted day of real conversations:
the figures equal values computed by hand from each conversation's own timeline; history
finds conversations by visitor (id or email), tag, status, agent and date; roles and orgs
are enforced by the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.api import signup
from tests.support.scripted_day import UNANSWERED, VISITOR_EMAIL, Day, play

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _percentile(values: list[float], p: float) -> float:
    """Postgres's percentile_cont: linear interpolation between the closest ranks."""
    values = sorted(values)
    at = p * (len(values) - 1)
    low = int(at)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (at - low)


async def _timeline(http: httpx.AsyncClient, conv: str) -> dict:
    r = await http.get(f"/v1/conversations/{conv}/timeline")
    assert r.status_code == 200, r.text
    return r.json()


async def _ids(http: httpx.AsyncClient, **params: str) -> set[str]:
    r = await http.get("/v1/conversations", params=params)
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["conversations"]}


@pytest.fixture(scope="module")
async def day(clienta_server) -> tuple:
    org = await signup(clienta_server.url, "Insights Day")
    return org, await play(clienta_server.ws_url, org)


async def test_insights_equal_the_figures_computed_by_hand(day: tuple) -> None:
    org, played = day
    played: Day
    today = datetime.now(UTC).date()
    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers()) as http:
        timelines = {c: await _timeline(http, c) for c in played.all}
        first_response, resolution = [], []
        for conv in played.answered:
            t = timelines[conv]
            handoff = min(e["ts"] for e in t["events"] if e.get("mode") in ("queued", "agent"))
            reply = min(e["ts"] for e in t["events"]
                        if e["t"] == "msg" and e["author"]["role"] == "agent")
            first_response.append(reply - handoff)
            resolution.append(t["conversation"]["closed_at"] - t["conversation"]["created_at"])
        r = await http.get("/v1/insights", params={"from": (today - timedelta(days=1))
                                                   .isoformat(), "to": today.isoformat()})
        assert r.status_code == 200, r.text
        got = r.json()
    assert got["totals"] == {"conversations": 6, "bot_only": 2, "handed_over": 4}
    assert [d["date"] for d in got["days"]] == [(today - timedelta(days=1)).isoformat(),
                                                today.isoformat()]
    assert sum(d["conversations"] for d in got["days"]) == 6
    assert all(d["bot_only"] + d["handed_over"] == d["conversations"] for d in got["days"])
    # timestamps in frames are cut to milliseconds: allow that much on each side
    for name, values in (("first_response_ms", first_response), ("resolution_ms", resolution)):
        assert got[name]["n"] == 2
        assert abs(got[name]["p50"] - _percentile(values, 0.5)) <= 2, name
        assert abs(got[name]["p90"] - _percentile(values, 0.9)) <= 2, name
    assert got["csat"] == {"average": 4.0, "n": 2,
                           "counts": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}}
    hours: dict[int, int] = {}
    for t in timelines.values():
        hour = datetime.fromtimestamp(t["conversation"]["created_at"] / 1000, UTC).hour
        hours[hour] = hours.get(hour, 0) + 1
    assert {h["hour"]: h["conversations"] for h in got["busiest_hours"]
            if h["conversations"]} == hours
    assert len(got["busiest_hours"]) == 24
    top = got["top_unanswered"]
    assert len(top) == 1 and top[0]["count"] == 2
    assert top[0]["question"] == UNANSWERED[-1]  # the most recent wording


async def test_a_time_zone_moves_days_and_hours(day: tuple) -> None:
    org, _ = day
    today = datetime.now(UTC).date()
    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers()) as http:
        utc = (await http.get("/v1/insights", params={
            "from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()})).json()
        bkk = (await http.get("/v1/insights", params={
            "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat(), "tz": "Asia/Bangkok"})).json()
    assert bkk["tz"] == "Asia/Bangkok" and bkk["totals"] == utc["totals"]
    shifted = {(h["hour"] + 7) % 24: h["conversations"] for h in utc["busiest_hours"]}
    assert {h["hour"]: h["conversations"] for h in bkk["busiest_hours"]} == shifted


async def test_history_finds_by_visitor_tag_status_agent_and_date(day: tuple) -> None:
    org, played = day
    today = datetime.now(UTC).date()
    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers()) as http:
        assert await _ids(http, tag="refund") == {played.answered[0]}
        assert await _ids(http, tag="REFUND ") == {played.answered[0]}
        assert await _ids(http, status="closed") == set(played.answered)
        assert await _ids(http, status="open") == set(played.bot_only + played.unanswered)
        ploy, bee = played.agents["ploy"]["user_id"], played.agents["bee"]["user_id"]
        assert await _ids(http, agent=ploy) == {played.answered[0]}
        assert await _ids(http, agent=bee, status="closed") == {played.answered[1]}
        assert await _ids(http, agent=bee, tag="refund") == set()
        assert await _ids(http, visitor=VISITOR_EMAIL.upper()) == {played.bot_only[0]}
        assert await _ids(http, visitor="nobody@example.com") == set()
        anong = (await _timeline(http, played.bot_only[0]))["conversation"]["visitor"]
        assert anong["email"] == VISITOR_EMAIL
        assert await _ids(http, visitor=anong["id"]) == {played.bot_only[0]}
        assert await _ids(http, **{"from": today.isoformat(), "to": today.isoformat()}) >= set(
            played.all)
        tomorrow = (today + timedelta(days=1)).isoformat()
        assert await _ids(http, **{"from": tomorrow}) == set()
        for bad in ({"visitor": "not an id"}, {"from": "2024-13-01"},
                    {"from": "2024-02-02", "to": "2024-02-01"}):
            r = await http.get("/v1/conversations", params=bad)
            assert r.status_code == 422 and r.json()["error"]["code"] == "bad_request", bad
        # keyset pages walk the whole result once
        seen, cursor = [], None
        while True:
            page = (await http.get("/v1/conversations", params={
                "limit": 2, **({"cursor": cursor} if cursor else {})})).json()
            seen += [c["id"] for c in page["conversations"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(played.all)


async def test_timeline_has_messages_notes_handoffs_and_csat(day: tuple) -> None:
    org, played = day
    viewer = await org.add_user("viewer", "Vee")
    async with httpx.AsyncClient(base_url=org.base_url,
                                 headers=org.headers(viewer["token"])) as http:
        t = await _timeline(http, played.answered[0])
    events = t["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e.get("mode") for e in events if e.get("mode")] == ["queued", "agent", "closed"]
    assert {"note"} <= {e["t"] for e in events}
    assert any(e["t"] == "note" and e["text"] == "refund approved" for e in events)
    assert t["conversation"]["csat"] == {"score": 5, "comment": "ok"}
    assert t["conversation"]["mode"] == "closed" and t["conversation"]["closed_at"]
    assert t["conversation"]["tags"] == ["refund"] and t["next_after"] is None


async def test_roles_history_for_every_role_insights_for_managers(day: tuple) -> None:
    org, played = day
    agent_user = played.agents["bee"]
    viewer = await org.add_user("viewer", "Vee")
    admin = await org.add_user("admin", "Ada")
    params = {"from": "2024-01-01", "to": "2024-01-31"}
    async with httpx.AsyncClient(base_url=org.base_url) as http:
        for who in (agent_user, viewer):
            auth = org.headers(who["token"])
            r = await http.get("/v1/insights", params=params, headers=auth)
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
            assert (await http.get("/v1/conversations", params={"tag": "refund"},
                                   headers=auth)).status_code == 200
            assert (await http.get(f"/v1/conversations/{played.answered[0]}/timeline",
                                   headers=auth)).status_code == 200
        r = await http.get("/v1/insights", params=params, headers=org.headers(admin["token"]))
        assert r.status_code == 200 and r.json()["totals"]["conversations"] == 0
        assert (await http.get("/v1/insights", params=params)).status_code == 401


async def test_insights_refuse_bad_periods(day: tuple) -> None:
    org, _ = day
    async with httpx.AsyncClient(base_url=org.base_url, headers=org.headers()) as http:
        for bad in ({"from": "2024-01-01"}, {"from": "2024-01-01", "to": "2025-01-02"},
                    {"from": "2024-02-01", "to": "2024-01-31"},
                    {"from": "2024-1-1", "to": "2024-01-31"},
                    {"from": "2024-01-01", "to": "2024-01-31", "tz": "Mars/Olympus"}):
            r = await http.get("/v1/insights", params=bad)
            assert r.status_code == 422 and r.json()["error"]["code"] == "bad_request", bad
        ok = await http.get("/v1/insights", params={"from": "2024-01-01", "to": "2024-12-31"})
        assert ok.status_code == 200 and len(ok.json()["days"]) == 366


async def test_another_org_sees_nothing_of_this_one(clienta_server, day: tuple) -> None:
    org, played = day
    other = await signup(clienta_server.url, "Other")
    today = datetime.now(UTC).date().isoformat()
    async with httpx.AsyncClient(base_url=org.base_url, headers=other.headers()) as http:
        r = await http.get(f"/v1/conversations/{played.answered[0]}/timeline")
        assert r.status_code == 404
        assert await _ids(http, visitor=VISITOR_EMAIL) == set()
        assert await _ids(http, tag="refund") == set()
        got = (await http.get("/v1/insights", params={"from": today, "to": today})).json()
    assert got["totals"]["conversations"] == 0 and got["top_unanswered"] == []

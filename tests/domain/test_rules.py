"""Domain tables: the mode state machine and the handoff phrases."""

from __future__ import annotations

import pytest

from server.domain.handoff import asks_for_human, says_unhelped
from server.domain.modes import Mode, TransitionError, Trigger, transition


@pytest.mark.parametrize(("start", "trigger", "end"), [
    (Mode.BOT, Trigger.VISITOR_HANDOFF, Mode.QUEUED),
    (Mode.BOT, Trigger.ASKED_FOR_HUMAN, Mode.QUEUED),
    (Mode.BOT, Trigger.NO_ANSWER, Mode.QUEUED),
    (Mode.BOT, Trigger.LLM_FAILED, Mode.QUEUED),
    (Mode.BOT, Trigger.UNRESOLVED, Mode.QUEUED),
    (Mode.QUEUED, Trigger.CLAIM, Mode.AGENT),
    (Mode.BOT, Trigger.CLAIM, Mode.AGENT),
    (Mode.AGENT, Trigger.CLAIM, Mode.AGENT),
    (Mode.AGENT, Trigger.RELEASE, Mode.BOT),
    (Mode.AGENT, Trigger.CLOSE, Mode.CLOSED),
    (Mode.QUEUED, Trigger.BACK_TO_BOT, Mode.BOT),
    (Mode.CLOSED, Trigger.REOPEN, Mode.BOT),
])
def test_allowed(start: Mode, trigger: Trigger, end: Mode) -> None:
    assert transition(start, trigger) is end


@pytest.mark.parametrize(("start", "trigger"), [
    (Mode.QUEUED, Trigger.VISITOR_HANDOFF),  # already waiting: no second queue entry
    (Mode.AGENT, Trigger.NO_ANSWER),  # the bot never acts in an agent's conversation
    (Mode.AGENT, Trigger.LLM_FAILED),
    (Mode.BOT, Trigger.RELEASE),
    (Mode.BOT, Trigger.BACK_TO_BOT),
    (Mode.CLOSED, Trigger.CLAIM),
    (Mode.QUEUED, Trigger.NO_ANSWER),  # no bot<->queue loop
])
def test_refused(start: Mode, trigger: Trigger) -> None:
    with pytest.raises(TransitionError):
        transition(start, trigger)


@pytest.mark.parametrize("text", [
    "talk to a human", "Can I speak to a real person?", "connect me with an agent please",
    "I want a live agent", "human", "ขอคุยกับพนักงาน", "ขอ คุยกับ พนักงานหน่อยครับ",
    "ติดต่อเจ้าหน้าที่",
])
def test_asks_for_human(text: str) -> None:
    assert asks_for_human(text)


@pytest.mark.parametrize("text", [
    "How long does shipping take?", "Is the human body 60% water?", "ส่งของกี่วัน",
    "agent of change in retail",
])
def test_not_asking_for_human(text: str) -> None:
    assert not asks_for_human(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("that did not help", True), ("this doesn't work", True), ("ไม่ช่วยเลย", True),
    ("thanks, that helps", False), ("ขอบคุณค่ะ", False),
])
def test_unhelped(text: str, expected: bool) -> None:
    assert says_unhelped(text) is expected


def test_every_system_text_exists_in_english_and_thai() -> None:
    from server.domain.system_text import TEXTS, language, system_text

    assert set(TEXTS["en"]) == set(TEXTS["th"])
    assert language("th-TH") == "th" and language(None) == "en" and language("fr") == "en"
    assert system_text("agent_joined", "th", agent="Ploy").startswith("Ploy ")
    for trigger in ("visitor_handoff", "asked_for_human", "no_answer", "no_answer_stay",
                    "llm_failed", "unresolved", "release", "close", "back_to_bot"):
        assert system_text(trigger, "th") != system_text(trigger, "en")

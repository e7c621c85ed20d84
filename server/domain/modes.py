"""The conversation state machine: bot, queued, agent, closed.

Every mode change in the product goes through `transition`, so that an impossible move
(a bot answering an agent's conversation, a bot<->queue loop) is refused in one place.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"
    CLOSED = "closed"


class Trigger(StrEnum):
    VISITOR_HANDOFF = "visitor_handoff"  # handoff frame
    ASKED_FOR_HUMAN = "asked_for_human"  # words in a message
    NO_ANSWER = "no_answer"  # the KB had nothing grounded
    LLM_FAILED = "llm_failed"
    UNRESOLVED = "unresolved"  # too many unresolved bot turns
    PLAN_LIMIT = "plan_limit"  # the org's AI answers for the period are used up
    CLAIM = "claim"
    RELEASE = "release"
    CLOSE = "close"
    BACK_TO_BOT = "back_to_bot"  # the waiting visitor chose the bot
    REOPEN = "reopen"  # a visitor writes in a closed conversation


class TransitionError(ValueError):
    pass


_ALLOWED: dict[tuple[Mode, Trigger], Mode] = {}
for _t in (Trigger.VISITOR_HANDOFF, Trigger.ASKED_FOR_HUMAN, Trigger.NO_ANSWER,
           Trigger.LLM_FAILED, Trigger.UNRESOLVED, Trigger.PLAN_LIMIT):
    _ALLOWED[(Mode.BOT, _t)] = Mode.QUEUED
for _m in (Mode.BOT, Mode.QUEUED, Mode.AGENT):
    _ALLOWED[(_m, Trigger.CLAIM)] = Mode.AGENT
    _ALLOWED[(_m, Trigger.CLOSE)] = Mode.CLOSED
_ALLOWED[(Mode.AGENT, Trigger.RELEASE)] = Mode.BOT
_ALLOWED[(Mode.QUEUED, Trigger.BACK_TO_BOT)] = Mode.BOT
_ALLOWED[(Mode.CLOSED, Trigger.REOPEN)] = Mode.BOT
del _t, _m


def transition(current: Mode | str, trigger: Trigger) -> Mode:
    target = _ALLOWED.get((Mode(current), trigger))
    if target is None:
        raise TransitionError(f"cannot {trigger.value} a conversation in mode {current}")
    return target

"""The agent socket's permission table: role x frame type x conversation mode."""

from __future__ import annotations

import pytest

from server.domain.modes import Mode
from server.domain.roles import Role
from server.protocol.frames import AGENT_FRAMES
from server.protocol.permissions import RULES, refusal

OWNER, ADMIN, AGENT, VIEWER = Role.OWNER, Role.ADMIN, Role.AGENT, Role.VIEWER
NOT_VIEWERS = "viewers can read but not act"
CLAIM_FIRST = "claim the conversation before replying"

CASES = [
    # (role, frame type, mode or None when not read yet, refusal or None)
    (VIEWER, "hello", None, None),
    (VIEWER, "ping", None, None),
    (VIEWER, "away", None, None),
    (VIEWER, "join", None, None),
    (VIEWER, "join", Mode.CLOSED, None),
    (VIEWER, "leave", None, None),
    (VIEWER, "claim", None, NOT_VIEWERS),
    (VIEWER, "release", Mode.AGENT, NOT_VIEWERS),
    (VIEWER, "transfer", None, NOT_VIEWERS),
    (VIEWER, "close", None, NOT_VIEWERS),
    (VIEWER, "msg", Mode.AGENT, NOT_VIEWERS),
    (VIEWER, "note", None, NOT_VIEWERS),
    # the two the issue names: the visitor saw a viewer type as an agent; read is a write
    (VIEWER, "typing", None, NOT_VIEWERS),
    (VIEWER, "typing", Mode.AGENT, NOT_VIEWERS),
    (VIEWER, "read", None, NOT_VIEWERS),
    (VIEWER, "read", Mode.BOT, NOT_VIEWERS),
    (AGENT, "typing", None, None),
    (AGENT, "typing", Mode.BOT, None),
    (AGENT, "read", Mode.QUEUED, None),
    (AGENT, "claim", None, None),
    (AGENT, "note", Mode.BOT, None),
    (AGENT, "msg", None, None),
    (AGENT, "msg", Mode.AGENT, None),
    (AGENT, "msg", Mode.BOT, CLAIM_FIRST),
    (AGENT, "msg", Mode.QUEUED, CLAIM_FIRST),
    (AGENT, "msg", Mode.CLOSED, CLAIM_FIRST),
    (ADMIN, "transfer", None, None),
    (ADMIN, "msg", Mode.QUEUED, CLAIM_FIRST),
    (OWNER, "close", Mode.AGENT, None),
    (OWNER, "typing", None, None),
    (OWNER, "nonsense", None, "nonsense is not an agent frame"),
    (VIEWER, "handoff", None, "handoff is not an agent frame"),
]


@pytest.mark.parametrize(("role", "frame_type", "mode", "expected"), CASES)
def test_refusal(role: Role, frame_type: str, mode: Mode | None, expected: str | None) -> None:
    assert refusal(role, frame_type, mode) == expected


def test_roles_compare_as_stored_strings() -> None:
    """A role read from the database arrives as a plain string."""
    assert refusal("viewer", "typing") == NOT_VIEWERS
    assert refusal("agent", "msg", "bot") == CLAIM_FIRST
    assert refusal("agent", "msg", "agent") is None


def test_every_agent_frame_has_a_rule() -> None:
    assert set(RULES) == set(AGENT_FRAMES)


@pytest.mark.parametrize("frame_type", sorted(AGENT_FRAMES))
def test_staff_are_refused_nothing_by_role(frame_type: str) -> None:
    for role in (OWNER, ADMIN, AGENT):
        assert refusal(role, frame_type) is None

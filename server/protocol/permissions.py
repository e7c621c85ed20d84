"""What a staff role may send on the agent socket, in which conversation mode: the one
table the agent session consults for every frame before acting on it."""

from __future__ import annotations

from dataclasses import dataclass

from server.domain.modes import Mode
from server.domain.roles import STAFF, Role

EVERYONE = frozenset(Role)
ANY_MODE = frozenset(Mode)
_NOT_VIEWERS = "viewers can read but not act"


@dataclass(frozen=True, slots=True)
class Rule:
    roles: frozenset[Role]
    role_reason: str = _NOT_VIEWERS
    modes: frozenset[Mode] = ANY_MODE
    mode_reason: str = ""


# Every agent frame type has a row: a type missing here is refused (fail closed).
RULES: dict[str, Rule] = {
    "hello": Rule(EVERYONE),
    "ping": Rule(EVERYONE),
    "away": Rule(EVERYONE),  # a viewer's is accepted and counts nowhere (never present)
    "join": Rule(EVERYONE),
    "leave": Rule(EVERYONE),
    "claim": Rule(STAFF),
    "release": Rule(STAFF),
    "transfer": Rule(STAFF),
    "close": Rule(STAFF),
    # a reply needs the conversation held (agent mode); the store re-checks it atomically
    "msg": Rule(STAFF, modes=frozenset({Mode.AGENT}),
                mode_reason="claim the conversation before replying"),
    "note": Rule(STAFF),
    # a viewer's typing reached the visitor as an agent's, and a read is a database write
    "typing": Rule(STAFF),
    "read": Rule(STAFF),
}


def refusal(role: Role | str, frame_type: str, mode: Mode | str | None = None) -> str | None:
    """Why `role` may not send `frame_type` (None: it may). With `mode` None (not read yet)
    only the role is checked; callers that know the conversation's mode pass it."""
    rule = RULES.get(frame_type)
    if rule is None:
        return f"{frame_type} is not an agent frame"
    if role not in rule.roles:
        return rule.role_reason
    if mode is not None and mode not in rule.modes:
        return rule.mode_reason
    return None

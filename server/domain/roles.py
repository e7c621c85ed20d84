"""Who may be who: a staff user's role, the author roles of conversation events, and the
role groups the endpoints and services check against."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A staff user's role in an org (stored in `users.role`)."""

    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"  # reads everything, acts on nothing


class Author(StrEnum):
    """Who wrote an event of a conversation (stored in `events.author_role`)."""

    VISITOR = "visitor"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


# the roles that manage the org: users, settings, the KB, and any agent's conversation
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
# the roles that take and answer conversations
STAFF = frozenset({Role.OWNER, Role.ADMIN, Role.AGENT})

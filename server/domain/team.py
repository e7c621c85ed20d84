"""Who may invite, re-role and remove whom in a team, and the paging cursor of its lists.
Plain rules: the services enforce them, tests read them as a table."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

from server.domain.roles import MANAGERS, Role

LOCALES = ("en", "th")


def grant_refusal(actor: Role, role: Role) -> str | None:
    """Why `actor` may not invite someone as `role` (or give a member that role)."""
    if actor not in MANAGERS:
        return "only owners and admins manage the team"
    if role == Role.OWNER and actor != Role.OWNER:
        return "only an owner can make an owner"
    return None


def change_refusal(actor: Role, target: Role, new_role: Role | None) -> str | None:
    """Why `actor` may not change (new_role set) or remove (None) a member now `target`."""
    if actor not in MANAGERS:
        return "only owners and admins manage the team"
    if target == Role.OWNER and actor != Role.OWNER:
        return "only an owner can change or remove an owner"
    return grant_refusal(actor, new_role) if new_role is not None else None


def leaves_no_owner(owners: list[UUID], target: UUID, new_role: Role | None) -> bool:
    """Would removing `target` (new_role None) or re-roling it leave the org ownerless?"""
    if target not in owners or new_role == Role.OWNER:
        return False
    return len(owners) <= 1


def encode_cursor(at: datetime, ident: UUID) -> str:
    raw = f"{at.isoformat()}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, UUID]:
    """ValueError for anything `encode_cursor` did not make."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, _, ident = raw.partition("|")
        cursor = (datetime.fromisoformat(at), UUID(ident))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a cursor") from exc
    if cursor[0].tzinfo is None:
        raise ValueError("not a cursor")
    return cursor

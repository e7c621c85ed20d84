"""The audit vocabulary: details are names from fixed lists, cursors are only ours, and an
actor's address is cut to its network however it was given."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.domain.audit import Actor, AuditAction, AuditDetailError, Cursor, check_detail

MARK = "zq7audit"


def test_details_are_names_from_fixed_lists() -> None:
    assert check_detail({"role": "agent", "settings": ["assignment"]}) == {
        "role": "agent", "settings": ["assignment"]}
    for bad in ({"email": "a@b.co"}, {"role": f"{MARK}"}, {"settings": ["x", MARK]}):
        with pytest.raises(AuditDetailError):
            check_detail(bad)


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    cursor = Cursor(datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), 42)
    assert Cursor.decode(cursor.encode()) == cursor
    for bad in ("", "!!", "bm90IGEgY3Vyc29y", Cursor(cursor.at.replace(tzinfo=None), 1).encode(),
                Cursor(cursor.at, 0).encode(), Cursor(cursor.at, 2**63).encode()):
        with pytest.raises(ValueError):
            Cursor.decode(bad)


@pytest.mark.parametrize(("address", "stored"), [
    ("203.0.113.77", "203.0.113.0"), ("2001:db8:abcd:12::1", "2001:db8:abcd::"),
    ("not an address", "unknown"), (None, None)])
def test_an_actors_address_is_always_truncated(address: str | None, stored: str | None) -> None:
    assert Actor.user(uuid.uuid4(), address).ip == stored
    assert Actor.anonymous(address).ip == stored


def test_the_consoles_action_filter_names_only_real_actions() -> None:
    """A stale or misspelt name would be a filter the server refuses (422). A new action
    missing from the list is still shown under "Any action"; add it to the list too."""
    source = (Path(__file__).resolve().parents[2] / "widget/console/audit.js").read_text()
    listed = re.search(r"var AUDIT_ACTIONS = \[(.*?)\];", source, re.S)
    assert listed is not None
    names = re.findall(r"'([^']+)'", listed.group(1))
    assert len(names) > 10 and len(set(names)) == len(names)
    assert set(names) <= {a.value for a in AuditAction}, \
        "AUDIT_ACTIONS in widget/console/audit.js names actions AuditAction lacks"

"""The audit vocabulary: details are names from fixed lists, cursors are only ours, and an
actor's address is cut to its network however it was given."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from server.domain.audit import Actor, AuditDetailError, Cursor, check_detail

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

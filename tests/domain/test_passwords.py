"""The password policy and origin matching as tables of input -> output."""

from __future__ import annotations

import pytest

from server.domain.origins import host_of, same_host
from server.domain.passwords import MIN_LENGTH, PasswordPolicy, load_common_passwords

POLICY = PasswordPolicy(common=load_common_passwords())


def test_the_shipped_list_is_the_common_passwords() -> None:
    assert len(POLICY.common) > 10_000
    assert {"123456", "password", "qwertyuiop", "1q2w3e4r5t"} <= POLICY.common
    assert all(p == p.lower() for p in POLICY.common)


@pytest.mark.parametrize(("password", "email", "reason"), [
    ("correct-horse-battery", "ann@shop.example", None),
    ("Tr0ub4dor&3x", "", None),
    ("x" * (MIN_LENGTH - 2) + "yz", "", None),  # exactly the minimum
    ("short", "", "at least 10 characters"),
    ("abcdefghi", "", "at least 10 characters"),
    ("é" * 1025, "", "at most 1024 characters"),
    ("qwertyuiop", "", "one of the most common passwords"),
    ("1Q2W3E4R5T", "", "one of the most common passwords"),  # case does not help
    ("password123", "", "one of the most common passwords"),
    ("zzzzzzzzzzzz", "", "one character repeated"),
    ("ann.lee.2024@shop.example", "Ann.Lee.2024@shop.example", "your email address"),
    ("Ann.Lee.2024", "ann.lee.2024@shop.example", "your email address"),
])
def test_refusal_says_why(password: str, email: str, reason: str | None) -> None:
    refusal = POLICY.refusal(password, email)
    if reason is None:
        assert refusal is None
    else:
        assert refusal is not None and reason in refusal


def test_limits_come_from_the_policy() -> None:
    policy = PasswordPolicy(min_length=16, max_length=20)
    assert "at least 16" in (policy.refusal("fifteen-chars!!") or "")
    assert policy.refusal("sixteen-chars!!!") is None
    assert "at most 20" in (policy.refusal("x1" * 11) or "")


@pytest.mark.parametrize(("origin", "host", "same"), [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("https://support.shop.example", "support.shop.example", True),
    ("https://Support.Shop.Example", "support.shop.example", True),
    ("https://support.shop.example", "support.shop.example:443", True),
    ("http://shop.example:80", "shop.example", True),
    ("http://[::1]:8000", "[::1]:8000", True),
    ("https://evil.example", "support.shop.example", False),
    ("https://support.shop.example.evil.example", "support.shop.example", False),
    ("http://127.0.0.1:8001", "127.0.0.1:8000", False),
    ("null", "shop.example", False),
    ("http://shop.example:99999", "shop.example", False),
    ("https://shop.example", "", False),
])
def test_same_host(origin: str, host: str, same: bool) -> None:
    assert same_host(origin, host) is same


def test_host_of_an_opaque_origin_is_none() -> None:
    assert host_of("null") is None and host_of("file:///etc") is None

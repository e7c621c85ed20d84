"""Client addresses: a forwarded header counts only from a trusted proxy."""

from __future__ import annotations

from server.domain.client_ip import client_ip, parse_networks, truncated

PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1")


def test_table() -> None:
    cases = [
        # peer, X-Forwarded-For, proxies, expected
        ("203.0.113.9", "1.2.3.4", (), "203.0.113.9"),  # no proxy trusted: header ignored
        ("203.0.113.9", "1.2.3.4", PROXIES, "203.0.113.9"),  # peer not a proxy
        ("127.0.0.1", "1.2.3.4", PROXIES, "1.2.3.4"),
        ("127.0.0.1", "6.6.6.6, 1.2.3.4, 10.1.1.1", PROXIES, "1.2.3.4"),  # spoofed left part
        ("127.0.0.1", "", PROXIES, "127.0.0.1"),
        ("127.0.0.1", "10.0.0.2", PROXIES, "10.0.0.2"),  # every hop trusted: the leftmost
        (None, "1.2.3.4", PROXIES, "unknown"),
    ]
    for peer, header, proxies, expected in cases:
        headers = {"x-forwarded-for": header} if header else {}
        assert client_ip(peer, headers, proxies) == expected, (peer, header)


def test_truncated() -> None:
    assert truncated("203.0.113.77") == "203.0.113.0"
    assert truncated("2001:db8:abcd:12::1") == "2001:db8:abcd::"
    assert truncated("nonsense") == "unknown"

"""Which address a request comes from: the peer's, or the one a trusted proxy in front
names in `X-Forwarded-For` (never a header the client could have written itself)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> tuple[Network, ...]:
    """`CLIENTA_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in spec.split(",") if part.strip())


def _trusted(address: str, proxies: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_ip(peer: str | None, headers: Mapping[str, str],
              proxies: tuple[Network, ...]) -> str:
    """Walk `X-Forwarded-For` from the right while each hop is a trusted proxy; the first
    untrusted hop is the client. With no proxies trusted the header is ignored."""
    address = peer or "unknown"
    if not proxies or not _trusted(address, proxies):
        return address
    hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = hop
        if not _trusted(hop, proxies):
            break
    return address


def truncated(address: str) -> str:
    """An address with its host part cut (IPv4 /24, IPv6 /48): for records that must not
    identify a person."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)

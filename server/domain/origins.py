"""Origins as browsers send them: whether one names the host a request was sent to."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def host_of(url: str) -> str | None:
    """`host[:port]` of an origin or URL, lowercased, default port dropped; None if none
    (an opaque origin such as `null`)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return host
    return f"{host}:{port}"


def same_host(origin: str, host_header: str) -> bool:
    """Whether `origin` names the host this request was sent to (its Host header). The
    scheme is not compared: behind a TLS-terminating proxy the server sees plain HTTP."""
    mine = host_of(f"http://{host_header}")
    theirs = host_of(origin)
    if theirs is None or mine is None:
        return False
    # Host carries no scheme: an https origin on its default port matches host:443
    return mine == theirs or (mine.endswith(":443") and mine[:-4] == theirs)

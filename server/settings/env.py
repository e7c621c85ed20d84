"""Parsing of environment values shared by the settings modules."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata


def version() -> str:
    try:
        return metadata.version("clienta")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def rate(e: Mapping[str, str], name: str, default: float) -> float:
    rate = float(e.get(name) or default)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be a number from 0 to 1")
    return rate


def quota(e: Mapping[str, str], name: str, default: tuple[int, float]) -> tuple[int, float]:
    """`CLIENTA_QUOTA_<NAME>=count/seconds`, e.g. `30/10`."""
    raw = e.get(f"CLIENTA_QUOTA_{name.upper()}")
    if not raw:
        return default
    count, _, window = raw.partition("/")
    return int(count), float(window or default[1])


def flag(raw: str) -> bool:
    return raw.strip().lower() not in ("0", "false", "no", "off")

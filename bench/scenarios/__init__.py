"""The scenarios: each module has `Params` (full/quick/tiny sizes) and `run(stack, params, ui)`."""

from __future__ import annotations

import importlib
from types import ModuleType

NAMES: tuple[str, ...] = ("connections", "chat", "stream", "resume", "fanout", "peer",
                          "insights")


def load(name: str) -> ModuleType:
    if name not in NAMES:
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(NAMES)}")
    return importlib.import_module(f"bench.scenarios.{name}")

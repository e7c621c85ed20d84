"""Fake external services (OpenAI, Cohere) speaking the real wire formats on 127.0.0.1."""

from __future__ import annotations

from typing import Any

__all__ = ["FakeCohere", "FakeOpenAI"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m tests.fakes.openai_server` does not import its module twice.
    if name == "FakeOpenAI":
        from tests.fakes.openai_server import FakeOpenAI

        return FakeOpenAI
    if name == "FakeCohere":
        from tests.fakes.cohere_server import FakeCohere

        return FakeCohere
    raise AttributeError(name)

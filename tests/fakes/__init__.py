"""Fake external services (OpenAI, Cohere) speaking the real wire formats on 127.0.0.1."""

from __future__ import annotations

from tests.fakes.cohere_server import FakeCohere
from tests.fakes.openai_server import FakeOpenAI

__all__ = ["FakeCohere", "FakeOpenAI"]

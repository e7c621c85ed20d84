"""Deterministic text work of the fake LLM: tokens of a reply, embedding vectors, the prompt."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any


def split_tokens(text: str, count: int | None) -> list[str]:
    """Words with their trailing space; cycled (space-separated) to `count` when given."""
    words = re.findall(r"\S+\s*", text) or ["ok "]
    if count is None:
        return words
    cycle = [w if w[-1:].isspace() else w + " " for w in words]
    out = [cycle[i % len(cycle)] for i in range(max(count, 0))]
    if out:
        out[-1] = out[-1].rstrip() or out[-1]
    return out


def embed_text(text: str, dimensions: int) -> list[float]:
    """Deterministic unit vector from hashed character trigrams: similar texts, similar vectors."""
    vec = [0.0] * dimensions
    norm_text = f"  {' '.join(text.lower().split())}  "
    for i in range(len(norm_text) - 2):
        digest = hashlib.blake2b(norm_text[i : i + 3].encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        vec[value % dimensions] += 1.0 if (value >> 32) & 1 else -1.0
    length = math.sqrt(sum(v * v for v in vec))
    if length == 0.0:
        vec[0] = 1.0
        return vec
    return [v / length for v in vec]


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # content parts
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""

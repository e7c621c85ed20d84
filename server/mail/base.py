"""What the rest of the server may ask of mail: send one plain-text message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None:
        """Hand `mail` on; raises OSError when it could not be."""
        ...

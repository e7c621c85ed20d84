"""The offline mailer's .eml files (CLIENTA_HOME/mail/) read as a mailbox: wait for a
message to an address and take the one-time link out of it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

_LINK = re.compile(r"https?://\S+#(invite|reset|verify)=(\S+)")


def messages_to(directory: Path, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["To"]).lower() == address.lower():
            found.append(message)  # type: ignore[arg-type]
    return found


async def wait_for_mail(directory: Path, address: str, subject_has: str = "",
                        count: int = 1, timeout: float = 15.0) -> EmailMessage:
    """The `count`-th message to `address` whose subject contains `subject_has`, once the
    server's outbox worker has written it (polled, bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        hits = [m for m in messages_to(directory, address) if subject_has in str(m["Subject"])]
        if len(hits) >= count:
            return hits[count - 1]
        assert loop.time() < deadline, f"no mail to that address with {subject_has!r}"
        await asyncio.sleep(0.05)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def link_token(message: EmailMessage, kind: str) -> str:
    """The token of the message's `kind` link (invite, reset, verify)."""
    for found_kind, token in _LINK.findall(text_of(message)):
        if found_kind == kind:
            return token
    raise AssertionError(f"no {kind} link in the message")

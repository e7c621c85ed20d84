"""The offline mailer: each message is written as an .eml file (plain text and HTML parts)
under `CLIENTA_HOME/mail/`, and its path logged, so `make run` shows what would be sent.
Used when no provider is configured."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from server.mail.base import Mail, MailError

log = logging.getLogger("clienta.mail")

SENDER = "Clienta <no-reply@clienta.invalid>"
_SAFE_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


def as_email(mail: Mail, sender: str) -> EmailMessage:
    """The message as MIME: multipart/alternative, plain text first (RFC 2046: the richest
    part last), its language in Content-Language."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="clienta.invalid")
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    # after the body: set_content drops the Content-* headers already set
    message["Content-Language"] = mail.locale
    for name, value in mail.headers:
        message[name] = value
    return message


class FileMailer:
    def __init__(self, directory: Path, sender: str | None = None) -> None:
        self.directory = directory
        self.sender = sender or SENDER

    async def send(self, mail: Mail, idempotency_key: str) -> str:
        if not _SAFE_KEY.fullmatch(idempotency_key):
            raise MailError("bad_key", permanent=True)
        data = as_email(mail, self.sender).as_bytes()
        try:
            path = await asyncio.to_thread(self._write, idempotency_key, data)
        except OSError as exc:
            raise MailError(f"io:{type(exc).__name__}", permanent=False) from None
        # the path, never the recipient: the address is personal data
        log.info("mail written", extra={"path": str(path)})
        return path.name

    def _write(self, key: str, data: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # named by the key, so a retry of the same message replaces it instead of adding a
        # second; written under a temporary name and renamed: a reader never sees half
        path = self.directory / f"{key}.eml"
        partial = self.directory / f".{key}.part"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(partial, path)
        return path

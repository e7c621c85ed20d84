"""The offline mailer: each message is written as an .eml file under `CLIENTA_HOME/mail/`,
where an operator (or a test) can read it. A provider replaces it when one is configured."""

from __future__ import annotations

import asyncio
import os
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from server.mail.base import Mail

SENDER = "Clienta <no-reply@clienta.invalid>"


class FileMailer:
    def __init__(self, directory: Path, sender: str = SENDER) -> None:
        self.directory = directory
        self.sender = sender

    async def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message.set_content(mail.text)
        await asyncio.to_thread(self._write, message.as_bytes())

    def _write(self, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # written under a temporary name and renamed: a reader never sees half a message
        name = f"{uuid.uuid4().hex}.eml"
        partial = self.directory / f".{name}.part"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(partial, self.directory / name)

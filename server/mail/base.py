"""What the rest of the server may ask of mail: one message (plain text and HTML, a
language, extra headers) handed to a provider under an idempotency key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# RFC 5322's line limit; nothing we send comes near it
MAX_HEADER_CHARS = 998
# what a provider may not set through our headers: they come from the message itself
RESERVED_HEADERS = frozenset({"from", "to", "cc", "bcc", "subject", "reply-to", "sender",
                              "date", "message-id", "content-type", "mime-version"})


def _one_line(what: str, value: str) -> None:
    # a CR or LF inside a header value would end it and start a header of the sender's
    # choosing (header injection): refused here, so no mailer ever writes one
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"{what} must be one line")
    if len(value) > MAX_HEADER_CHARS:
        raise ValueError(f"{what} is longer than {MAX_HEADER_CHARS} characters")


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    locale: str = "en"
    # e.g. List-Unsubscribe on mail that is not a required notice
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _one_line("a recipient", self.to)
        if "@" not in self.to or "," in self.to or not self.to.strip():
            raise ValueError("a recipient must be one address")
        _one_line("a subject", self.subject)
        _one_line("a language", self.locale)
        for name, value in self.headers:
            _one_line("a header name", name)
            _one_line("a header value", value)
            if not name or ":" in name or name.lower() in RESERVED_HEADERS:
                raise ValueError("a header name must be a free, plain name")


class MailError(Exception):
    """A message was not handed on. `code` is safe to store and log (a provider's status
    and error name, never its message, which may quote the address)."""

    def __init__(self, code: str, *, permanent: bool,
                 retry_after_s: float | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.permanent = permanent
        self.retry_after_s = retry_after_s


class Mailer(Protocol):
    async def send(self, mail: Mail, idempotency_key: str) -> str:
        """Hand `mail` on; the provider's id for it. The same key twice sends once.
        Raises MailError when it could not be (permanent: retrying cannot help)."""
        ...

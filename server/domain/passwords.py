"""The password policy: a minimum and maximum length, and no password from the list of the
most common ones or equal to the account's own address. Refusals say why."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

# NIST SP 800-63B: at least 8 characters, checked against known-compromised values, no
# composition rules. 10 leaves room above the shortest common passwords in the list.
MIN_LENGTH = 10
# argon2 pre-hashes any length, but a bound keeps one request's cost and body small
MAX_LENGTH = 1024
COMMON_LIST = "common_passwords.txt"


def load_common_passwords() -> frozenset[str]:
    """The shipped list (lowercased): the 20,000 most common passwords of Royce Williams'
    list, as Django ships it (BSD licence). Read once at start-up by the composition root."""
    text = resources.files(__package__).joinpath(COMMON_LIST).read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int = MIN_LENGTH
    max_length: int = MAX_LENGTH
    common: frozenset[str] = frozenset()

    def refusal(self, password: str, email: str = "") -> str | None:
        """Why `password` is refused for the account `email`, or None when it is fine."""
        if len(password) < self.min_length:
            return f"password must be at least {self.min_length} characters long"
        if len(password) > self.max_length:
            return f"password must be at most {self.max_length} characters long"
        lowered = password.lower()
        if lowered in self.common:
            return "password is one of the most common passwords; choose another"
        if len(set(lowered)) == 1:
            return "password must not be one character repeated"
        address = email.lower()
        if address and lowered in (address, address.partition("@")[0]):
            return "password must not be your email address or its name part"
        return None

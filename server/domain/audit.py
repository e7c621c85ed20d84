"""The audit log's vocabulary: every action it records, who acted, on what, and the few
non-personal details an entry may carry. The one place an action is defined."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from server.domain.client_ip import truncated


class AuditAction(StrEnum):
    """What happened. Stored as text in `audit_log.action`; a new action needs no migration."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    SIGN_OUT = "auth.sign_out"
    PASSWORD_RESET_REQUESTED = "auth.password_reset_requested"
    PASSWORD_RESET = "auth.password_reset"
    EMAIL_VERIFIED = "auth.email_verified"
    GOOGLE_LINKED = "auth.google_linked"
    ORG_CREATED = "org.created"
    ORG_SETTINGS_CHANGED = "org.settings_changed"
    USER_CREATED = "user.created"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_REMOVED = "user.removed"
    USER_UPDATED = "user.updated"
    INVITE_SENT = "invite.sent"
    INVITE_RESENT = "invite.resent"
    INVITE_REVOKED = "invite.revoked"
    INVITE_ACCEPTED = "invite.accepted"
    KB_DOCUMENT_ADDED = "kb.document_added"
    KB_DOCUMENT_REPLACED = "kb.document_replaced"
    KB_DOCUMENT_DELETED = "kb.document_deleted"
    KB_REINDEXED = "kb.reindexed"
    HISTORY_OPENED = "conversation.history_opened"
    BILLING_PLAN_CHANGED = "billing.plan_changed"  # the plan whose limits apply moved
    BILLING_CHECKOUT_STARTED = "billing.checkout_started"
    BILLING_CANCEL_REQUESTED = "billing.cancel_requested"
    BILLING_PAYMENT_FAILED = "billing.payment_failed"
    # defined for the issues that bring them (exports, erasure, keys, backups)
    DATA_EXPORTED = "data.exported"
    VISITOR_ERASED = "visitor.erased"
    ORG_ERASED = "org.erased"
    ORG_TERMINATED = "org.terminated"  # the owner ended the account (docs/privacy.md)
    KEYS_ROTATED = "keys.rotated"
    BACKUP_CREATED = "backup.created"
    BACKUP_RESTORED = "backup.restored"


class ActorKind(StrEnum):
    USER = "user"  # a staff user, by id
    VISITOR = "visitor"  # a widget visitor acting on their own data, by id
    SYSTEM = "system"  # a job or command, by label (e.g. "backup", "keys rotate")
    ANONYMOUS = "anonymous"  # nobody proven yet: a failed sign-in


class TargetKind(StrEnum):
    ORG = "org"
    USER = "user"
    INVITE = "invite"
    DOCUMENT = "document"
    KNOWLEDGE_BASE = "knowledge_base"
    CONVERSATION = "conversation"
    VISITOR = "visitor"
    DATABASE = "database"
    MASTER_KEY = "master_key"


# the only keys `detail` may have, each with its allowed values (None: any of the listed
# setting names): values are names of roles, settings or flags, never what a person typed
DETAIL_KEYS: Mapping[str, frozenset[str] | None] = {
    "role": frozenset({"owner", "admin", "agent", "viewer"}),
    "from_role": frozenset({"owner", "admin", "agent", "viewer"}),
    "settings": frozenset({"allowed_origins", "assignment", "agent_capacity", "name",
                           "locale", "widget", "handoff_keywords", "unresolved_turns",
                           "queue_wait_s", "business_hours", "offline_message", "tags",
                           "kb_threshold", "notice_required", "notice_version",
                           "notice_text", "closed_retention_days"}),
    "reason": frozenset({"wrong_password"}),
    "force": frozenset({"true", "false"}),
    "via": frozenset({"http", "socket", "cli"}),
    "format": frozenset({"json", "csv"}),
    "plan": frozenset({"free", "starter", "pro"}),
    "from_plan": frozenset({"free", "starter", "pro"}),
    "provider": frozenset({"stripe", "omise"}),
}
LABEL_MAX = 64


class AuditDetailError(ValueError):
    """A detail that could carry personal data: a programming error, refused loudly."""


def check_detail(detail: Mapping[str, str | list[str]]) -> dict[str, str | list[str]]:
    """The detail as stored, if every key and value is one of the allowed names."""
    out: dict[str, str | list[str]] = {}
    for key, value in detail.items():
        if key not in DETAIL_KEYS:
            raise AuditDetailError(f"audit detail key {key!r} is not allowed")
        allowed = DETAIL_KEYS[key]
        values = value if isinstance(value, list) else [value]
        if allowed is not None and any(v not in allowed for v in values):
            raise AuditDetailError(f"audit detail {key!r} has a value outside its names")
        out[key] = list(value) if isinstance(value, list) else value
    return out


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted, and from where: the address is cut to its network (/24, /48) here, so a
    full address can never be stored whoever builds the actor."""

    kind: ActorKind
    id: UUID | None = None
    label: str | None = None
    ip: str | None = field(default=None)

    def __post_init__(self) -> None:
        if self.ip is not None:
            object.__setattr__(self, "ip", truncated(self.ip))
        if self.label is not None and len(self.label) > LABEL_MAX:
            raise AuditDetailError(f"an actor label is at most {LABEL_MAX} characters")

    @classmethod
    def user(cls, user_id: UUID, address: str | None = None) -> Actor:
        return cls(ActorKind.USER, user_id, None, address)

    @classmethod
    def visitor(cls, visitor_id: UUID, address: str | None = None) -> Actor:
        return cls(ActorKind.VISITOR, visitor_id, None, address)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(ActorKind.SYSTEM, None, job, None)

    @classmethod
    def anonymous(cls, address: str | None = None) -> Actor:
        return cls(ActorKind.ANONYMOUS, None, None, address)


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    id: UUID | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry, as the API shows it."""

    id: int
    at: datetime
    actor: Actor
    action: str
    target: Target | None
    detail: Mapping[str, str | list[str]]

    def as_json(self) -> dict[str, object]:
        actor: dict[str, object] = {"kind": self.actor.kind.value}
        if self.actor.id is not None:
            actor["id"] = str(self.actor.id)
        if self.actor.label is not None:
            actor["label"] = self.actor.label
        target = None if self.target is None else {
            "kind": self.target.kind.value,
            "id": str(self.target.id) if self.target.id is not None else None}
        return {"at": self.at.isoformat(), "actor": actor, "action": self.action, "target": target,
                "ip": self.actor.ip, "detail": dict(self.detail)}


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What `GET /v1/audit` narrows by; None means any."""

    action: AuditAction | None = None
    actor_id: UUID | None = None
    actor_label: str | None = None
    target_id: UUID | None = None
    target_kind: TargetKind | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: entries come newest first by (at, id), and the next page starts
    strictly after this pair (keyset pagination: no offset to scan, no entry skipped or
    repeated while new ones arrive)."""

    at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """ValueError for anything this server did not make."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at, _, ident = raw.partition("|")
            cursor = cls(datetime.fromisoformat(at), int(ident))
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise ValueError("not a cursor") from exc
        if cursor.at.tzinfo is None or not 0 < cursor.id < 2**63:
            raise ValueError("not a cursor")
        return cursor

"""Limits on what clients send: per connection (`Limits`) and per party across
connections and processes (`Quotas`, kept in Redis)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Explicit per-connection limits of the websocket edge."""

    max_frame_bytes: int = 64 * 1024
    max_text_chars: int = 4000
    max_client_id_chars: int = 64
    # token bucket for msg/typing frames: burst and steady rate per second
    msg_burst: int = 20
    msg_rate_per_s: float = 5.0
    # token bucket for every frame (ping, read, hello too): a socket's total frame rate
    frame_burst: int = 60
    frame_rate_per_s: float = 20.0
    max_bad_frames: int = 10
    # byte bound of one connection's outbox before it is cut off as too slow
    outbox_max_bytes: int = 1024 * 1024
    hello_timeout_s: float = 10.0
    # a socket silent this long gets a ping; silent twice as long, it is dropped
    ping_interval_s: float = 20.0


@dataclass(frozen=True, slots=True)
class Quotas:
    """Limits per party across connections and processes (kept in Redis): (count, seconds).
    A visitor's frames of every kind, a visitor's storing frames, sockets and new
    conversations per IP and per site key, sign-ups and logins per IP and per account."""

    visitor_frames: tuple[int, float] = (120, 10.0)
    # at least one socket's steady rate (5/s): a lone tab is bounded by its own bucket,
    # the quota bites when sockets multiply
    visitor_messages: tuple[int, float] = (60, 10.0)
    # addresses behind an office's or a carrier's NAT carry many visitors
    ip_sockets: tuple[int, float] = (120, 60.0)
    ip_conversations: tuple[int, float] = (10, 60.0)
    site_conversations: tuple[int, float] = (600, 60.0)
    ip_signups: tuple[int, float] = (5, 3600.0)
    ip_logins: tuple[int, float] = (30, 300.0)
    account_logins: tuple[int, float] = (10, 300.0)
    # password-reset requests: per IP, and per address (each one mails that address)
    ip_password_resets: tuple[int, float] = (10, 3600.0)
    account_password_resets: tuple[int, float] = (3, 3600.0)
    # transcripts by email a visitor asks for (each one mails an address)
    visitor_transcripts: tuple[int, float] = (3, 3600.0)

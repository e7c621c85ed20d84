"""The edge limits the protocol reads, as structural types: app.py passes settings' `Limits`
in, and protocol never imports settings (it satisfies these without naming them)."""

from __future__ import annotations

from typing import Protocol


class FrameLimits(Protocol):
    """What frame validation bounds."""

    @property
    def max_text_chars(self) -> int: ...

    @property
    def max_client_id_chars(self) -> int: ...


class EdgeLimits(Protocol):
    """What one connection's edge policy counts against."""

    @property
    def msg_burst(self) -> int: ...

    @property
    def msg_rate_per_s(self) -> float: ...

    @property
    def frame_burst(self) -> int: ...

    @property
    def frame_rate_per_s(self) -> float: ...

    @property
    def max_bad_frames(self) -> int: ...

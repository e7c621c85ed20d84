"""Visitor and agent clients speaking `clienta.v1.msgpack` over `bench.wsconn`.

Each client owns one socket; frames are handled as they arrive (no reader task).
Timestamps for latency travel inside the message text (`memo.stamp`/`unstamp`) so sender and
receiver may live in different processes.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgpack

from bench.memo import DecodeMemo, Event
from bench.services import BenchError
from bench.wsconn import SUBPROTOCOL, WsConnection

T = TypeVar("T")
RATE_RETRIES = 50  # a set-up's frames past the server's per-socket bucket wait their turn


class RateLimited(BenchError):
    """The server answered `rate_limited`: wait `retry_after_s`, then send again."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
# after 1012 (restart): steady tries at 0.25-1.25 s, as widget/shared/backoff.js
RESTART_TRIES = 10
RESTART_MIN_S = 0.25
RESTART_SPAN_S = 1.0
FrameHandler = Callable[[dict[str, Any], float], None]
EventSink = Callable[[Event, bool, float], None]  # (event, first time on this client, now)


class Client(abc.ABC):
    """One msgpack websocket; subclasses add the role's handshake."""

    path = "/"

    def __init__(self, ws_base: str, query: str = "", name: str = "",
                 memo: DecodeMemo[bytes] | None = None,
                 on_event: EventSink | None = None) -> None:
        self.url = f"{ws_base}{self.path}{query}"
        self.name = name
        self.ws: WsConnection | None = None
        self.handlers: list[FrameHandler] = []
        # With a memo (`event_memo`), event frames go to `on_event` and not to `handlers`:
        # the decoded form is shared with the process's other clients.
        self.memo = memo
        self.on_event = on_event
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.epoch = 0  # bumps on every (re)connect
        self._pending_acks: dict[str, tuple[float, asyncio.Future[int]]] = {}
        self._waiters: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count()
        self.ack_ms: list[float] = []
        # conversation -> seq -> epoch it first arrived in (events are msg/note frames)
        self.seen: dict[str, dict[int, int]] = {}
        self.last_seqs: dict[str, int] = {}
        self.redelivered = 0  # seen again after a reconnect: allowed (at least once)
        self.duplicated = 0  # seen twice on one connection: a fault
        self.reconnects = 0
        self.close_codes: list[int | None] = []
        # keep unacked msgs over a drop and send them again (same id) after resuming
        self.keep_pending = False
        self._pending_frames: dict[str, dict[str, Any]] = {}

    async def open(self, timeout_s: float = 15.0) -> None:
        epoch = self.epoch + 1
        on_message = self.receiver()

        def on_close(code: int) -> None:
            if self.epoch != epoch:  # a socket this client already replaced
                return
            self.close_code = code
            self.close_codes.append(code)
            self.closed.set()
            self._fail_all(BenchError(f"{self.name}: socket closed ({code})"))

        try:
            ws = await WsConnection.open(self.url, SUBPROTOCOL, on_message, on_close, timeout_s)
        except BenchError as exc:
            hint = " (does the server have this endpoint?)" if " 40" in str(exc) else ""
            raise BenchError(f"{self.url}: {exc}{hint}") from exc
        self.ws = ws
        self.closed.clear()
        self.close_code = None
        self.epoch = epoch

    def receiver(self) -> Callable[[bytes | str], None]:
        """What the socket calls with each message it receives."""
        unpack = msgpack.unpackb
        memo, on_event = self.memo, self.on_event

        def on_message(data: bytes | str) -> None:
            now = time.time()
            if type(data) is not bytes:
                self._dispatch({"t": "_text", "data": data}, now)
                return
            if memo is not None and on_event is not None:
                event = memo.get(data)
                if event is not None:
                    on_event(event, self._is_new(event.conversation_id, event.seq), now)
                    return
            self._dispatch(unpack(data), now)

        return on_message

    def _track(self, frame: dict[str, Any]) -> None:
        """Mark an event frame `_new` unless this client already had its seq."""
        seq = frame.get("seq")
        if type(seq) is int:
            frame["_new"] = self._is_new(frame.get("conversation_id", ""), seq)

    def _is_new(self, conversation: str, seq: int) -> bool:
        """Record an event's arrival: whether this client had not had it before."""
        seen = self.seen.get(conversation)
        if seen is None:
            seen = self.seen[conversation] = {}
        first_epoch = seen.get(seq)
        if first_epoch is None:
            seen[seq] = self.epoch
            if seq > self.last_seqs.get(conversation, 0):
                self.last_seqs[conversation] = seq
            return True
        if first_epoch == self.epoch:
            self.duplicated += 1
        else:
            self.redelivered += 1
        return False

    def seqs(self, conversation_id: str) -> set[int]:
        return set(self.seen.get(conversation_id, {}))

    def _dispatch(self, frame: dict[str, Any], now: float) -> None:
        t = frame.get("t")
        if t == "msg" or t == "note":  # the bulk of every scenario: keep it short
            self._track(frame)
        elif t == "ack":
            self._pending_frames.pop(str(frame.get("id")), None)
            entry = self._pending_acks.pop(str(frame.get("id")), None)
            if entry is not None:
                sent, fut = entry
                self.ack_ms.append((time.monotonic() - sent) * 1000)
                if not fut.done():
                    fut.set_result(int(frame["seq"]))
        elif t == "error":
            ref = frame.get("ref")
            entry = self._pending_acks.pop(str(ref), None) if ref else None
            err: BenchError = BenchError(f"{self.name}: server error {frame}")
            if frame.get("code") == "rate_limited":
                err = RateLimited(err.args[0], frame.get("retry_after_ms", 100) / 1000)
            if entry is not None:
                if not entry[1].done():
                    entry[1].set_exception(err)
            else:
                self._fail_waiters(err)
        if self._waiters and t != "ack" and t != "error":
            key = (str(t), str(frame.get("conversation_id", "")))
            fut = self._waiters.pop(key, None) or self._waiters.pop((str(t), ""), None)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        for handler in self.handlers:
            handler(frame, now)

    def _fail_waiters(self, err: Exception) -> None:
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(err)
        self._waiters.clear()

    def _fail_all(self, err: Exception) -> None:
        self._fail_waiters(err)
        if self.keep_pending:
            return
        for _, fut in self._pending_acks.values():
            if not fut.done():
                fut.set_exception(err)

    async def send(self, frame: dict[str, Any]) -> None:
        self._write(frame)

    def _write(self, frame: dict[str, Any]) -> None:
        if self.ws is None:
            raise BenchError(f"{self.name}: not connected")
        self.ws.send(msgpack.packb(frame, use_bin_type=True))

    async def request(
        self, frame: dict[str, Any], answer: str, conversation_id: str = "", timeout_s: float = 15.0
    ) -> dict[str, Any]:
        """Send a frame and wait for the answer frame of type `answer` (for this conversation);
        `rate_limited` is waited out and the frame sent again, as the widget does."""
        return await self._rate_retried(
            lambda: self._request_once(frame, answer, conversation_id, timeout_s))

    async def _rate_retried(self, attempt: Callable[[], Awaitable[T]]) -> T:
        for _ in range(RATE_RETRIES):
            try:
                return await attempt()
            except RateLimited as exc:
                await asyncio.sleep(exc.retry_after_s)
        return await attempt()

    async def _request_once(
        self, frame: dict[str, Any], answer: str, conversation_id: str, timeout_s: float
    ) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[(answer, conversation_id)] = fut
        await self.send(frame)
        try:
            async with asyncio.timeout(timeout_s):
                return await fut
        except TimeoutError as exc:
            self._waiters.pop((answer, conversation_id), None)
            raise BenchError(
                f"{self.name}: no {answer!r} within {timeout_s} s after {frame.get('t')!r}; "
                "does the server implement it?"
            ) from exc

    @property
    def in_flight(self) -> int:
        """Messages sent and not yet acked."""
        return len(self._pending_acks)

    def next_id(self) -> str:
        return f"{self.name}-{self.epoch}-{next(self._ids)}"

    def send_msg(
        self, text: str, client_id: str | None = None, **extra: Any
    ) -> asyncio.Future[int]:
        """Queue a `msg`; the future resolves to the acked seq."""
        client_id = client_id or self.next_id()
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending_acks[client_id] = (time.monotonic(), fut)
        frame = {"t": "msg", "id": client_id, "text": text, **extra}
        if self.keep_pending:
            self._pending_frames[client_id] = frame
        try:  # written at once: a task per message cost the load generator more than this
            self._write(frame)
        except BenchError as exc:
            if not self.keep_pending:  # otherwise it goes again after the reconnect
                self._pending_acks.pop(client_id, None)
                fut.set_exception(BenchError(f"{self.name}: send failed: {exc!r}"))
        return fut

    async def reconnect(self, deadline: float) -> int:
        """Reconnect and resume until `deadline` (monotonic); returns the attempts made.

        Mirrors the widget (widget/shared/backoff.js): full-jitter exponential backoff,
        0.5 s base, 30 s cap, a wait before every attempt, so a crowd spreads out; after a
        1012 close the first ten waits are a steady 0.25-1.25 s.
        """
        attempts = 0
        steady = RESTART_TRIES if self.close_code == 1012 else 0
        while True:
            if attempts < steady:
                delay = RESTART_MIN_S + random.random() * RESTART_SPAN_S
            else:
                exponent = min(max(attempts - steady, 3 if steady else 0), 16)
                delay = random.random() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** exponent)
            remaining = deadline - time.monotonic() - delay
            if remaining <= 0:
                raise BenchError(f"{self.name}: not resumed before the deadline "
                                 f"({attempts} attempts)")
            await asyncio.sleep(delay)
            attempts += 1
            try:
                await self.open(timeout_s=min(30.0, remaining))
                await self.resume(timeout_s=min(30.0, max(remaining, 1.0)))
                self.reconnects += 1
                for frame in list(self._pending_frames.values()):
                    await self.send(frame)
                return attempts
            except (OSError, BenchError, TimeoutError):
                if self.ws is not None:
                    self.ws.abort()

    @abc.abstractmethod
    async def resume(self, timeout_s: float) -> None:
        """The role's handshake after a reconnect (hello, joins with `last_seq`)."""


    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            self.ws.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 3)


class Visitor(Client):
    """A site visitor: `hello` → `welcome`; can resume with its token and `last_seq`."""

    path = "/v1/ws/visitor"

    def __init__(self, ws_base: str, site_key: str, name: str) -> None:
        super().__init__(ws_base, f"?site_key={site_key}", name)
        self.token: str | None = None
        self.conversation_id: str | None = None
        self.mode: str | None = None

    @property
    def last_seq(self) -> int:
        return self.last_seqs.get(self.conversation_id or "", 0)

    async def hello(self, timeout_s: float = 15.0) -> dict[str, Any]:
        frame: dict[str, Any] = {"t": "hello"}
        if self.token:
            frame.update(visitor_token=self.token, conversation_id=self.conversation_id,
                         last_seq=self.last_seq)
        welcome = await self.request(frame, "welcome", timeout_s=timeout_s)
        for key in ("visitor_token", "conversation_id"):
            if key not in welcome:
                raise BenchError(f"visitor welcome lacks {key!r}: {welcome}")
        if self.token and welcome["conversation_id"] != self.conversation_id:
            raise BenchError(f"resume landed in another conversation: {welcome}")
        self.token = welcome["visitor_token"]
        self.conversation_id = welcome["conversation_id"]
        self.mode = welcome.get("mode")
        return welcome

    async def connect(self, timeout_s: float = 15.0) -> dict[str, Any]:
        await self.open(timeout_s)
        return await self.hello(timeout_s)

    async def resume(self, timeout_s: float) -> None:
        await self.hello(timeout_s)

    async def store(self, timeout_s: float = 15.0) -> None:
        """Make the server store this visitor's conversation (opening the widget stores
        nothing) without starting a chat: `identify`, then a ping to know it was handled."""
        await self.send({"t": "identify", "name": self.name})
        await self.request({"t": "ping"}, "pong", timeout_s=timeout_s)

class Agent(Client):
    """A support agent: `hello {token}` → `welcome`; join, claim and send per conversation."""

    path = "/v1/ws/agent"

    def __init__(self, ws_base: str, token: str, name: str,
                 memo: DecodeMemo[bytes] | None = None,
                 on_event: EventSink | None = None) -> None:
        super().__init__(ws_base, "", name, memo, on_event)
        self.token = token
        self.joined: list[str] = []

    async def connect(self, timeout_s: float = 15.0) -> dict[str, Any]:
        await self.open(timeout_s)
        return await self.request({"t": "hello", "token": self.token}, "welcome",
                                  timeout_s=timeout_s)

    async def join(self, conversation_id: str, timeout_s: float = 15.0) -> dict[str, Any]:
        frame: dict[str, Any] = {"t": "join", "conversation_id": conversation_id}
        if conversation_id in self.last_seqs:
            frame["last_seq"] = self.last_seqs[conversation_id]
        joined = await self.request(frame, "joined", conversation_id, timeout_s)
        if conversation_id not in self.joined:
            self.joined.append(conversation_id)
        return joined

    async def resume(self, timeout_s: float) -> None:
        await self.request({"t": "hello", "token": self.token}, "welcome", timeout_s=timeout_s)
        for conversation_id in self.joined:
            await self.join(conversation_id, timeout_s)

    async def claim(self, conversation_id: str) -> dict[str, Any]:
        """Claim (again after `rate_limited`), then wait for the `mode` frame: a person has it."""
        return await self._rate_retried(lambda: self._claim_once(conversation_id))

    async def _claim_once(self, conversation_id: str) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[("claim", conversation_id)] = fut  # an error frame fails it

        def watch(frame: dict[str, Any], _: float) -> None:
            if (frame.get("t") == "mode" and frame.get("conversation_id") == conversation_id
                    and frame.get("mode") == "agent" and not fut.done()):
                fut.set_result(frame)

        self.handlers.append(watch)
        try:
            await self.send({"t": "claim", "conversation_id": conversation_id})
            async with asyncio.timeout(15):
                return await fut
        except TimeoutError as exc:
            raise BenchError(f"{self.name}: claim gave no mode=agent frame within 15 s") from exc
        finally:
            self.handlers.remove(watch)
            self._waiters.pop(("claim", conversation_id), None)

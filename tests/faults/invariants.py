"""What every fault case checks at its end: the store has no gap and no duplicate (read
from Postgres itself, not through the server), and no client lost anything it was acked
or shown.

`check_store` reads every conversation of an organisation: its events have seq 1..N with
N = `conversations.last_seq`, no client id is stored twice, and no bot stream is stored
twice (a partial and a whole of one answer would be half a message twice). `View` is one
client across all its connections (a widget that reconnects): every ack it got is a
stored event with that seq and client id, each connection saw each seq at most once and
in order, and, once caught up, the client has seen every visible event after the point
it joined.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tests.support.wsclient import WsClient, visitor

Store = dict[str, "Conversation"]


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str  # msg | note
    client_id: str | None
    author_role: str
    stream_id: str | None
    interrupted: bool


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    mode: str
    last_seq: int
    events: tuple[Event, ...]

    def visible(self, role: str) -> list[Event]:
        """What a client of `role` is shown: visitors never see notes."""
        return [e for e in self.events if role != "visitor" or e.kind == "msg"]

    def by_seq(self) -> dict[int, Event]:
        return {e.seq: e for e in self.events}


async def read_store(conn: Any, org_id: str) -> Store:
    """Every conversation of the organisation with its events, straight from Postgres
    (`conn`: an asyncpg connection, e.g. from `Database.unscoped()`)."""
    async with conn.transaction():
        # the tenant is named as the server names it, so row-level security shows its
        # rows to a role it applies to (a superuser sees them anyway)
        await conn.execute("SELECT set_config('clienta.org_id', $1, true)", org_id)
        rows = await conn.fetch(
            "SELECT c.id, c.mode, c.last_seq, e.seq, e.kind, e.client_id, e.author_role,"
            " e.stream_id, e.meta FROM conversations c"
            " LEFT JOIN events e ON e.conversation_id = c.id"
            " WHERE c.org_id = $1 ORDER BY c.id, e.seq", UUID(org_id))
    head: dict[str, tuple[str, int]] = {}
    events: dict[str, list[Event]] = {}
    for r in rows:
        key = str(r["id"])
        head[key] = (r["mode"], r["last_seq"])
        events.setdefault(key, [])
        if r["seq"] is not None:
            meta = r["meta"]
            if isinstance(meta, str):
                meta = json.loads(meta)
            events[key].append(Event(r["seq"], r["kind"], r["client_id"], r["author_role"],
                                     r["stream_id"], bool(meta and meta.get("interrupted"))))
    return {k: Conversation(k, mode, last, tuple(events[k])) for k, (mode, last) in head.items()}


def check_store(store: Store) -> None:
    """No gap, no duplicate, in any conversation."""
    for conv in store.values():
        seqs = [e.seq for e in conv.events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{conv.id}: seqs {seqs} have a gap"
        assert conv.last_seq == len(seqs), \
            f"{conv.id}: last_seq {conv.last_seq} but {len(seqs)} events"
        twice = [c for c, n in Counter(e.client_id for e in conv.events if e.client_id).items()
                 if n > 1]
        assert not twice, f"{conv.id}: client ids stored twice: {twice}"
        streams = [s for s, n in Counter(e.stream_id for e in conv.events if e.stream_id).items()
                   if n > 1]
        assert not streams, f"{conv.id}: one bot stream stored twice: {streams}"


@dataclass
class View:
    """One client across its connections, as the widget keeps it: it resumes with the
    highest seq it has seen, and resends what was never acked."""

    ws_url: str
    site_key: str
    role: str = "visitor"
    welcome: dict[str, Any] = field(default_factory=dict)
    connections: list[WsClient] = field(default_factory=list)
    since: int = 0  # the seq the client started from: it need not see what came before

    @property
    def conversation_id(self) -> str:
        return self.welcome["conversation_id"]

    @property
    def client(self) -> WsClient:
        return self.connections[-1]

    async def open(self, ws_url: str | None = None, **hello: Any) -> View:
        client, welcome = await visitor(ws_url or self.ws_url, self.site_key, **hello)
        self.connections.append(client)
        if not self.welcome:
            self.welcome = welcome
        return self

    async def resume(self, ws_url: str | None = None) -> dict[str, Any]:
        """A new connection (to `ws_url`, else the same server) resuming where this
        client's view ends; the old one is closed if it is still open."""
        old = self.connections[-1] if self.connections else None
        if old is not None and old.close_code is None:
            await old.close()
        self.ws_url = ws_url or self.ws_url
        client, welcome = await visitor(
            self.ws_url, self.site_key, visitor_token=self.welcome["visitor_token"],
            conversation_id=self.conversation_id, last_seq=self.last_seen())
        self.connections.append(client)
        return welcome

    def frames(self, t: str) -> list[dict[str, Any]]:
        return [f for c in self.connections for f in c.of_type(t)]

    def acked(self) -> dict[str, int]:
        return {f["id"]: f["seq"] for f in self.frames("ack")}

    def seen(self) -> set[int]:
        return {f["seq"] for f in self.frames("msg") + self.frames("note")}

    def last_seen(self) -> int:
        """The resume point: the highest seq shown (an ack alone does not move it, as in
        the widget: an earlier event may still be on its way)."""
        return max(self.seen() | {self.since})

    async def caught_up(self, last_seq: int, timeout: float = 20.0) -> None:
        """Read until the view reaches `last_seq` (bounded). A connection the server cut
        meanwhile (a catch-up past the outbox bound is cut like a slow reader) is resumed
        from what it saw, as the widget does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.last_seen() < last_seq:
            left = deadline - loop.time()
            assert left > 0, f"{self.conversation_id}: view stuck at {self.last_seen()} " \
                             f"of {last_seq}"
            await self.client.drain(min(left, 0.2))
            if self.client.ws.close_code is not None and self.last_seen() < last_seq:
                await self.resume()

    async def close(self) -> None:
        for client in self.connections:
            if client.close_code is None:
                await client.close()


def check_view(view: View, store: Store) -> None:
    """Nothing acked that is not stored, nothing shown twice on one connection or out of
    order, and nothing stored after the client's start that it has not seen."""
    conv = store.get(view.conversation_id)
    acked = view.acked()
    if conv is None:
        assert not acked, f"acked {sorted(acked)} but the conversation was never stored"
        return
    by_seq = conv.by_seq()
    for client_id, seq in acked.items():
        event = by_seq.get(seq)
        assert event is not None and event.client_id == client_id, \
            f"{conv.id}: ack of {client_id} (seq {seq}) is not what is stored: {event}"
    for n, client in enumerate(view.connections):
        seqs = [f["seq"] for f in client.frames if f.get("t") in ("msg", "note")]
        assert seqs == sorted(set(seqs)), f"{conv.id}: connection {n} saw {seqs}"
        for f in client.frames:
            if f.get("t") in ("msg", "note"):
                event = by_seq.get(f["seq"])
                assert event is not None and event.client_id == f.get("id"), \
                    f"{conv.id}: shown seq {f['seq']} ({f.get('id')}) is not stored so"
    missing = sorted(e.seq for e in conv.visible(view.role)
                     if e.seq > view.since and e.seq not in view.seen())
    assert not missing, f"{conv.id}: the client never saw seqs {missing}"


async def check_all(db_conn: Any, org_id: str, views: list[View]) -> Store:
    """The end of every fault case: the store, then each client's view of it (each
    caught up with its conversation first)."""
    store = await read_store(db_conn, org_id)
    check_store(store)
    for view in views:
        if view.welcome and view.conversation_id in store:
            last = max((e.seq for e in store[view.conversation_id].visible(view.role)),
                       default=0)
            if view.connections and view.client.ws.close_code is None:
                await view.caught_up(last)
        check_view(view, store)
    return store

"""Generated frames against live sockets of the real server, both codecs, visitor and
agent: no 1011/1012, no error in the server's log, every batch followed by a `pong`
within a deadline, and the server's memory bounded."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import msgpack
import pytest
import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from server.protocol.frames import AGENT_FRAMES, VISITOR_FRAMES, Field
from tests.fuzz.observe import MAX_RSS_GROWTH, log_errors, log_offset, rss
from tests.fuzz.strategies import any_frames, garbage, json_encoded, msgpack_encoded
from tests.support.api import OrgHandle
from tests.support.processes import ServerProcess
from tests.support.wsclient import JSON, MSGPACK, WsClient, agent, visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")
log = logging.getLogger(__name__)

BATCH = 9  # frames between two pings
# paced under the edge's frame rate (CLIENTA_FRAME_RATE, 20/s): a refused frame is
# correct behaviour, but the fuzz is about what happens to frames that get through
BATCH_PERIOD_S = 0.6
PONG_DEADLINE_S = 10.0
# close codes a hostile client may earn: the bad-frame or flooding budget, a frame
# above the size limit, a UTF-8 error in a text frame
ALLOWED_CLOSES = {4008, 1009, 1007}
# and a first frame that is no good hello: a token that is not valid here
ALLOWED_HELLO_CLOSES = {*ALLOWED_CLOSES, 4001, 4003}
CONV = "6f1c7d3e-8a5b-4c2d-9e0f-1a2b3c4d5e6f"
# set-up inputs that passed validation and then failed (found by this suite)
EDGE_HELLOS = {
    "visitor": [{"t": "hello", "conversation_id": CONV + "\n"},
                {"t": "hello", "conversation_id": CONV, "last_seq": 2**62 - 1},
                {"t": "hello", "locale": "\x00"}],
    "agent": [{"t": "hello", "token": "ct_\x00"}, {"t": "hello", "token": "\ud800"}],
}
# the largest frame under CLIENTA_MAX_FRAME_BYTES' 64 KiB default, nested all the way
DEEP = 60_000


def generate(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """n values of `strategy`, the same ones on every run."""
    out: list[Any] = []

    @settings(max_examples=n, derandomize=True, database=None, phases=[Phase.generate],
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


def wire_frames(table: dict[str, dict[str, Field]], codec: str,
                n: int) -> list[str | bytes]:
    """What a hostile client of this codec sends: mostly near-valid frames of its own
    codec, some of the other codec, some garbage."""
    if codec == JSON:
        own = any_frames(table).flatmap(json_encoded)
        other = any_frames(table, wide=False).flatmap(msgpack_encoded)
    else:
        own = any_frames(table, wide=False).flatmap(msgpack_encoded)
        other = any_frames(table).flatmap(json_encoded)
    deep = ["[" * DEEP, b"\x91" * DEEP + b"\xc0", '{"t":' * (DEEP // 5) + "1"]
    return deep + generate(st.one_of(own, own, own, other, garbage()), n)


def wire_hellos(table: dict[str, dict[str, Field]], role: str, codec: str,
                n: int) -> list[str | bytes]:
    """First frames for fresh sockets: hellos with fields of any type and value."""
    hello = any_frames({"hello": table["hello"]}, wide=codec == JSON).filter(
        lambda v: isinstance(v, dict) and v.get("t") == "hello")
    encode = json_encoded if codec == JSON else msgpack_encoded
    fixed = [json.dumps(h) if codec == JSON else msgpack.packb(h, unicode_errors="surrogatepass")
             for h in EDGE_HELLOS[role]]
    return fixed + generate(hello.flatmap(encode), n)


@dataclass
class Run:
    """One role and codec's fuzz: what was sent since the last good pong, how it ended."""

    server: ServerProcess
    org: OrgHandle
    role: str
    codec: str
    client: WsClient | None = None
    sockets: int = 0
    closes: dict[int | None, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def url(self) -> str:
        if self.role == "visitor":
            return f"{self.server.ws_url}/v1/ws/visitor?site_key={self.org.site_key}"
        return f"{self.server.ws_url}/v1/ws/agent"

    async def open(self) -> WsClient:
        if self.role == "visitor":
            client, _ = await visitor(self.server.ws_url, self.org.site_key, self.codec)
        else:
            client, _ = await agent(self.server.ws_url, self.org.owner_token, self.codec)
        self.sockets += 1
        return client

    async def ping(self) -> int | None:
        """Send a ping; None once the pong came, else the close code that came instead."""
        assert self.client is not None
        try:
            await self.client.send({"t": "ping"})
            await self.client.expect("pong", timeout=PONG_DEADLINE_S)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        except AssertionError:
            if self.client.close_code is None:
                raise
            return self.client.close_code
        return None

    async def batch(self, sent: list[str | bytes]) -> None:
        if self.client is None:
            self.client = await self.open()
        code = None
        for data in sent:
            try:
                await self.client.send_raw(data)
            except websockets.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                break
        if code is None:
            code = await self.ping()
            if code is None:
                return
        self.closes[code] = self.closes.get(code, 0) + 1
        if code not in ALLOWED_CLOSES:
            self.problems.append(f"{self.role}/{self.codec}: closed {code} after "
                                 + ", ".join(repr(d)[:200] for d in sent))
        await self.client.close()
        # a fresh socket must answer at once: the server is not left hanging
        self.client = await self.open()
        if await self.ping() is not None:
            self.problems.append(f"{self.role}/{self.codec}: a fresh socket got no pong")

    async def hello(self, data: str | bytes) -> None:
        """A fresh socket whose first frame is `data`: welcomed or refused, never failed."""
        client = await WsClient(self.url(), self.codec).connect()
        self.sockets += 1
        try:
            await client.send_raw(data)
            await client.send({"t": "ping"})
            await client.expect("pong", timeout=PONG_DEADLINE_S)
        except websockets.ConnectionClosed as exc:
            client.close_code = exc.rcvd.code if exc.rcvd else None
        except AssertionError:
            if client.close_code is None:
                raise
        finally:
            await client.close()
        if client.close_code is not None:
            self.closes[client.close_code] = self.closes.get(client.close_code, 0) + 1
            if client.close_code not in ALLOWED_HELLO_CLOSES:
                self.problems.append(f"{self.role}/{self.codec}: closed "
                                     f"{client.close_code} after hello {data!r:.300}")

    async def run(self, sent: list[str | bytes], hellos: list[str | bytes]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        hellos = list(hellos)
        try:
            for i in range(0, len(sent), BATCH):
                await asyncio.sleep(max(0.0, start + (i // BATCH) * BATCH_PERIOD_S
                                        - loop.time()))
                await self.batch(sent[i:i + BATCH])
                if hellos:
                    await self.hello(hellos.pop(0))
        finally:
            if self.client is not None:
                await self.client.close()


async def test_live_sockets_survive_generated_frames(clienta_server: ServerProcess,
                                                     org: OrgHandle) -> None:
    assert clienta_server.proc is not None
    runs = [Run(clienta_server, org, role, codec)
            for role in ("visitor", "agent") for codec in (JSON, MSGPACK)]
    sizes = {("visitor", JSON): 200, ("visitor", MSGPACK): 200,
             ("agent", JSON): 100, ("agent", MSGPACK): 100}
    tables = {"visitor": VISITOR_FRAMES, "agent": AGENT_FRAMES}
    plans = [wire_frames(tables[r.role], r.codec, sizes[r.role, r.codec]) for r in runs]
    hellos = [wire_hellos(tables[r.role], r.role, r.codec, 10) for r in runs]
    # warm: the first sockets of each kind and codec load what they need once
    for r in runs:
        await (await r.open()).close()
    offset = log_offset(clienta_server)
    before = rss(clienta_server)

    await asyncio.gather(*(r.run(plan, hello)
                           for r, plan, hello in zip(runs, plans, hellos, strict=True)))

    after = rss(clienta_server)
    summary = {f"{r.role}/{r.codec}": {"sockets": r.sockets, "closes": r.closes}
               for r in runs}
    log.warning("socket fuzz: rss %.1f -> %.1f MB; %s", before / 2**20, after / 2**20,
                summary)
    problems = [p for r in runs for p in r.problems]
    assert not problems, "\n".join(problems)
    assert not log_errors(clienta_server, offset), "\n".join(
        log_errors(clienta_server, offset))
    assert after - before < MAX_RSS_GROWTH, (before, after)

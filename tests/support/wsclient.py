"""A real websocket client for tests, in either codec, that keeps every frame it got."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack
import websockets

JSON = "clienta.v1.json"
MSGPACK = "clienta.v1.msgpack"


class WsClient:
    def __init__(self, url: str, codec: str = JSON, origin: str | None = None) -> None:
        self.url = url
        self.codec = codec
        self.origin = origin
        self.ws: Any = None
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self._cursor = 0
        self._taken: set[int] = set()

    async def connect(self) -> WsClient:
        kwargs: dict[str, Any] = {"subprotocols": [self.codec], "max_size": 2**22}
        if self.origin:
            kwargs["origin"] = self.origin
        self.ws = await websockets.connect(self.url, **kwargs)
        return self

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(self.encode(frame))

    def encode(self, frame: dict[str, Any]) -> str | bytes:
        if self.codec == MSGPACK:
            return msgpack.packb(frame, use_bin_type=True)
        return json.dumps(frame)

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def _read(self, timeout: float) -> dict[str, Any] | None:
        try:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
            return None
        frame = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
        self.frames.append(frame)
        return frame

    async def expect(self, t: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The first frame of type t (matching fields) not yet returned by expect.

        Frames of other types stay available, so independent streams (an ack and the
        room's echo of the same message) can be awaited in either order.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i in range(self._cursor, len(self.frames)):
                frame = self.frames[i]
                if i in self._taken:
                    continue
                if frame.get("t") == t and all(frame.get(k) == v for k, v in match.items()):
                    self._taken.add(i)
                    # frames before the first untaken one need no further scanning
                    while self._cursor in self._taken:
                        self._cursor += 1
                    return frame
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {t} frame {match} within {timeout}s; got "
                                     f"{[f.get('t') for f in self.frames]}")
            try:
                got = await self._read(remaining)
            except TimeoutError:
                continue
            if got is None:
                raise AssertionError(f"closed ({self.close_code}) before a {t} frame; got "
                                     f"{[f.get('t') for f in self.frames]}")

    async def drain(self, seconds: float) -> list[dict[str, Any]]:
        """Everything that arrives within `seconds` (used to prove absence)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        start = len(self.frames)
        while (remaining := deadline - loop.time()) > 0:
            try:
                if await self._read(remaining) is None:
                    break
            except TimeoutError:
                break
        return self.frames[start:]

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.close_code is None and (remaining := deadline - loop.time()) > 0:
            try:
                await self._read(remaining)
            except TimeoutError:
                break
        return self.close_code

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def of_type(self, t: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("t") == t]


async def visitor(server_ws_url: str, site_key: str, codec: str = JSON,
                  **hello: Any) -> tuple[WsClient, dict[str, Any]]:
    client = await WsClient(f"{server_ws_url}/v1/ws/visitor?site_key={site_key}",
                            codec).connect()
    await client.send({"t": "hello", **hello})
    welcome = await client.expect("welcome")
    return client, welcome


async def stored_visitor(server_ws_url: str, site_key: str, codec: str = JSON,
                         name: str = "Guest") -> tuple[WsClient, dict[str, Any]]:
    """A visitor whose conversation is already stored: opening the widget stores nothing,
    `identify` is the first frame that needs the record without starting a chat."""
    client, welcome = await visitor(server_ws_url, site_key, codec)
    await client.send({"t": "identify", "name": name})
    await client.send({"t": "ping"})
    await client.expect("pong")  # frames are handled in order: identify is done
    return client, welcome


async def agent(server_ws_url: str, token: str,
                codec: str = JSON) -> tuple[WsClient, dict[str, Any]]:
    client = await WsClient(f"{server_ws_url}/v1/ws/agent", codec).connect()
    await client.send({"t": "hello", "token": token})
    welcome = await client.expect("welcome")
    return client, welcome

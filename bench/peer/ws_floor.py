"""The fan-out floor: the `websockets` library's `broadcast()` over Redis pub/sub.

What a bare Python fan-out server costs on this box under the same load generator: no
storage, no auth, no ordering or resume, one Redis subscription per process, each
broadcast encoded once and written to every local member without awaiting any socket.
It speaks the subset of socket.io that `bench/sio_client.py` uses (`0` open, `40`
connect, `42N[event, data]` with ack `43N[...]`), so the `peer` scenario drives it with
the same clients as the socket.io peers. Events as in server.js: "join" (list of rooms,
acked) and "msg" ({room, ...}: broadcast to the room on every process, acked).

Run: `REDIS_URL=... python -m bench.peer.ws_floor --port P`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

from server.broker.redis import RedisBroker

OPEN = ('0{"sid":"%s","upgrades":[],"pingInterval":25000,"pingTimeout":60000,'
        '"maxPayload":1000000}')
ACK_OK = '[{"ok":true}]'


class Floor:
    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self.rooms: dict[str, set[ServerConnection]] = {}
        self.ids = itertools.count(1)

    async def handle(self, ws: ServerConnection) -> None:
        sid = f"f{os.getpid()}-{next(self.ids)}"
        joined: list[str] = []
        await ws.send(OPEN % sid)
        try:
            async for data in ws:
                if not isinstance(data, str) or not data.startswith("4"):
                    continue
                if data.startswith("40"):
                    await ws.send(f'40{{"sid":"{sid}"}}')
                elif data.startswith("42"):
                    await self.event(ws, data[2:], joined)
        finally:
            for name in joined:
                self.rooms.get(name, set()).discard(ws)

    async def event(self, ws: ServerConnection, packet: str, joined: list[str]) -> None:
        start = packet.find("[")
        ack, (name, body) = packet[:start], json.loads(packet[start:])[:2]
        if name == "join":
            for room in body:
                members = self.rooms.get(room)
                if members is None:
                    members = self.rooms[room] = set()
                    await self.broker.subscribe(room)  # returns once Redis confirms it
                members.add(ws)
                joined.append(room)
        elif name == "msg":
            # encoded once here; every process broadcasts the same text to its members
            text = '42["msg",' + json.dumps(body, separators=(",", ":")) + "]"
            await self.broker.publish(str(body["room"]), text.encode())
        if ack:
            await ws.send(f"43{ack}{ACK_OK}")

    def relay(self, channel: str, data: bytes) -> None:
        members = self.rooms.get(channel)
        if members:
            broadcast(members, data.decode())


async def nothing_to_resync() -> None:
    """The floor keeps no record: what Redis lost while it reconnected is lost."""


async def main(port: int) -> None:
    # the Redis client clienta's hub uses (raw hiredis, one subscription per process), so
    # the comparison isolates the websocket layer and what the hub does per event
    broker = RedisBroker(os.environ["REDIS_URL"])
    floor = Floor(broker)
    await broker.start(floor.relay, nothing_to_resync)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(floor.handle, "127.0.0.1", port, compression=None, max_queue=None,
                     ping_interval=None):
        await stop
    await broker.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # uvloop, as `clienta serve` runs on: the floor gets the same event loop as we do
    uvloop.run(main(args.port))


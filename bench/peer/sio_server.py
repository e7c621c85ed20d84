"""The python-socketio peer: AsyncServer with AsyncRedisManager, run by uvicorn.

Same events as server.js: "join" (list of rooms, acked) and "msg" (broadcast, acked).
Run: `REDIS_URL=... python -m uvicorn bench.peer.sio_server:app --host 127.0.0.1 --port P`.
"""

from __future__ import annotations

import os
from typing import Any

import socketio


def build() -> socketio.ASGIApp:
    manager = socketio.AsyncRedisManager(os.environ["REDIS_URL"])
    sio = socketio.AsyncServer(
        async_mode="asgi", client_manager=manager, transports=["websocket"],
        cors_allowed_origins="*", http_compression=False,
    )

    @sio.on("join")
    async def join(sid: str, rooms: list[str]) -> dict[str, Any]:
        for room in rooms:
            await sio.enter_room(sid, room)
        return {"ok": True}

    @sio.on("msg")
    async def msg(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.emit("msg", data, room=str(data["room"]))
        return {"ok": True}

    return socketio.ASGIApp(sio)


app = build()

"""The floor: the least a Starlette/uvicorn websocket endpoint can hold a visitor with.

Same URL, subprotocol and hello/welcome exchange as ours, no storage and no rooms, so
`connections` can report our memory per connection as a multiple of this one.
Run: `python -m uvicorn bench.floor_app:app --host 127.0.0.1 --port P`.
"""

from __future__ import annotations

import secrets
import uuid

import msgpack
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

SUBPROTOCOL = "clienta.v1.msgpack"


async def visitor(ws: WebSocket) -> None:
    offered = ws.scope.get("subprotocols") or []
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    seq = 0
    try:
        while True:
            frame = msgpack.unpackb(await ws.receive_bytes())
            t = frame.get("t")
            if t == "hello":
                reply = {"t": "welcome", "visitor_token": secrets.token_urlsafe(24),
                         "conversation_id": str(uuid.uuid4()), "mode": "bot", "last_seq": seq}
            elif t == "msg":
                seq += 1
                reply = {"t": "ack", "id": frame.get("id"), "seq": seq}
            else:
                reply = {"t": "pong"}
            await ws.send_bytes(msgpack.packb(reply))
    except WebSocketDisconnect:
        return


async def ready(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(routes=[WebSocketRoute("/v1/ws/visitor", visitor), Route("/readyz", ready)])

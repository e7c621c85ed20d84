"""uvicorn's sans-I/O websocket protocol plus two ASGI extensions.

`clienta.write` writes a frame straight into the transport while it is not applying
backpressure, so room fan-out costs no task switch per member. `clienta.abort` handles
the opposite case.

ASGI has no way to drop a client that stopped reading: `websocket.close` waits for the
same full write buffer as every send. The extension queues the close frame past the
backpressure and aborts the transport after a short grace, so a slow consumer costs the
server nothing more (architecture: bounded outbox, cut with "reconnect").
"""

from __future__ import annotations

import contextlib

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from server.hub.connection import Shared

ABORT_GRACE_S = 1.0


class AbortableWebSocketProtocol(WebSocketsSansIOProtocol):
    async def run_asgi(self) -> None:
        extensions = self.scope.setdefault("extensions", {})  # type: ignore[union-attr]
        extensions["clienta.abort"] = self._abort  # type: ignore[index]
        extensions["clienta.write"] = self._write_now  # type: ignore[index]
        await super().run_asgi()

    def _write_now(self, payload: str | bytes | Shared) -> bool:
        """Write a frame synchronously when the transport is not pushing back.

        False means "queue it and await the ASGI send": the caller's outbox keeps order.
        """
        if (not self.writable.is_set() or self.disconnected or self.close_sent
                or not self.handshake_complete or self.transport.is_closing()):
            return False
        if isinstance(payload, Shared):
            if self.conn.extensions:  # never with deflate off, but stay correct if on
                payload = payload.data
            else:
                wire = payload.wire
                if wire is None:
                    data = payload.data
                    frame = (Frame(Opcode.TEXT, data.encode()) if isinstance(data, str)
                             else Frame(Opcode.BINARY, data))
                    wire = payload.wire = frame.serialize(mask=False, extensions=[])
                self.transport.write(wire)
                return True
        if isinstance(payload, str):
            self.conn.send_text(payload.encode())
        else:
            self.conn.send_binary(payload)
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    def _abort(self, code: int) -> None:
        if self.transport.is_closing():
            return
        with contextlib.suppress(Exception):
            self.conn.send_close(code, "")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
        # a reader that wakes up within the grace still sees the close code
        self.loop.call_later(ABORT_GRACE_S, self.transport.abort)

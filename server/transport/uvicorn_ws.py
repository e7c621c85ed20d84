"""uvicorn's sans-I/O websocket protocol plus one ASGI extension: `clienta.abort`.

ASGI has no way to drop a client that stopped reading: `websocket.close` waits for the
same full write buffer as every send. The extension queues the close frame past the
backpressure and aborts the transport after a short grace, so a slow consumer costs the
server nothing more (architecture: bounded outbox, cut with "reconnect").
"""

from __future__ import annotations

import contextlib

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

ABORT_GRACE_S = 1.0


class AbortableWebSocketProtocol(WebSocketsSansIOProtocol):
    async def run_asgi(self) -> None:
        self.scope.setdefault("extensions", {})["clienta.abort"] = self._abort  # type: ignore[index]
        await super().run_asgi()

    def _abort(self, code: int) -> None:
        if self.transport.is_closing():
            return
        with contextlib.suppress(Exception):
            self.conn.send_close(code, "")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
        # a reader that wakes up within the grace still sees the close code
        self.loop.call_later(ABORT_GRACE_S, self.transport.abort)

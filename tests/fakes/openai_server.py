"""A fake OpenAI-compatible API on 127.0.0.1: chat completions (SSE streaming) and embeddings.

It speaks the real wire format so the official `openai` SDK (and our provider through it)
works unchanged; it records every request and the send time of every streamed chunk.
CLI for the bench: `python -m tests.fakes.openai_server --port P --ttft-ms X --tps R --tokens T`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.fakes.runner import FakeServer, json_error
from tests.fakes.text import embed_text, last_user_text, split_tokens

Mode = Literal["normal", "cut", "hang", "error"]
MODES: tuple[str, ...] = ("normal", "cut", "hang", "error")
DEFAULT_REPLY = "Hello! I am the fake assistant. How can I help you today?"
EMBED_DIMENSIONS = 1536


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How the fake answers; swapped whole by `configure` so a request sees one version."""

    reply: str | Callable[[dict[str, Any]], str] = DEFAULT_REPLY
    ttft_ms: float = 0.0
    tps: float = 0.0  # tokens per second; 0 sends as fast as possible
    tokens: int | None = None  # None: the reply's own words; N: the reply's words cycled to N
    mode: Mode = "normal"
    cut_after: int = 3  # `cut`: content chunks sent before the connection is dropped
    error_status: int = 500  # `error`: 500 or 429
    error_count: int | None = None  # `error`: fail this many requests, then answer normally
    hang_s: float = 300.0  # `hang`: the longest a request hangs (until stop() otherwise)
    model: str = "gpt-4o-mini"
    embed_dimensions: int = EMBED_DIMENSIONS
    # how an OpenAI-compatible server that is not OpenAI may treat encoding_format=base64:
    # "rejected" with a 400 (as some do), or "ignored" (floats anyway)
    base64: Literal["yes", "rejected", "ignored"] = "yes"


@dataclass(slots=True)
class Recorded:
    """One request as received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    t: float


@dataclass(slots=True)
class StreamRecord:
    """Send times of one streamed completion; `chunks` rows are (wall, monotonic, offset, text)."""

    id: str
    started: float
    last_user: str
    chunks: list[tuple[float, float, int, str]] = field(default_factory=list)
    # Monotonic time the first token was due; token i is due `i / tps` later (a deadline
    # schedule: a stall delays tokens, the ones after it catch up to keep the rate).
    paced_from: float = 0.0
    done: bool = False
    cut: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started": self.started,
            "last_user": self.last_user,
            "chunks": [list(c) for c in self.chunks],
            "done": self.done,
            "cut": self.cut,
        }


class FakeOpenAI(FakeServer):
    """`async with FakeOpenAI(ttft_ms=50) as fake: AsyncOpenAI(base_url=fake.base_url, ...)`."""

    def __init__(self, port: int = 0, **behaviour: Any) -> None:
        super().__init__(port)
        self.behaviour = Behaviour(**behaviour)
        self.requests: list[Recorded] = []
        self.streams: list[StreamRecord] = []
        self._errors_sent = 0

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def configure(self, **changes: Any) -> Behaviour:
        """Change behaviour at run time (thread-safe: one attribute swap)."""
        if "mode" in changes and changes["mode"] not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.behaviour = dataclasses.replace(self.behaviour, **changes)
        self._errors_sent = 0
        return self.behaviour

    def reset(self) -> None:
        self.requests.clear()
        self.streams.clear()
        self._errors_sent = 0

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/embeddings")]

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_stats", self._stats)
        app.router.add_post("/_config", self._config)
        app.router.add_post("/_reset", self._reset)
        return app

    # -- shared failure modes ------------------------------------------------
    async def _record(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {}
        if not isinstance(body, dict):
            body = {"_raw": body}
        self.requests.append(Recorded(request.path, body, dict(request.headers), time.time()))
        return body

    def _failure(self, b: Behaviour) -> web.Response | None:
        if b.mode != "error":
            return None
        if b.error_count is not None and self._errors_sent >= b.error_count:
            return None
        self._errors_sent += 1
        if b.error_status == 429:
            return json_error(
                429,
                "Rate limit reached for requests (fake).",
                "requests",
                "rate_limit_exceeded",
            )
        return json_error(
            b.error_status,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        )

    # -- chat ----------------------------------------------------------------
    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        b = self.behaviour
        failure = self._failure(b)
        if failure is not None:
            return failure
        if b.mode == "hang" and not body.get("stream"):
            await self.wait_stopping(b.hang_s)
            return json_error(504, "fake hang ended", "server_error", None)
        reply = b.reply(body) if callable(b.reply) else b.reply
        tokens = split_tokens(reply, b.tokens)
        model = str(body.get("model") or b.model)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.get("stream"):
            return await self._stream(request, body, b, tokens, model, completion_id)
        delay = b.ttft_ms / 1000 + (len(tokens) / b.tps if b.tps > 0 else 0.0)
        await asyncio.sleep(delay)
        text = "".join(tokens)
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(tokens),
                    "total_tokens": prompt_tokens + len(tokens),
                },
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        b: Behaviour,
        tokens: list[str],
        model: str,
        completion_id: str,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "x-request-id": f"req_{uuid.uuid4().hex[:16]}",
            }
        )
        await resp.prepare(request)
        record = StreamRecord(completion_id, time.time(), last_user_text(body))
        self.streams.append(record)
        if b.mode == "hang":
            await self.wait_stopping(b.hang_s)
            return resp
        created = int(time.time())
        head = (
            f'{{"id":"{completion_id}","object":"chat.completion.chunk","created":{created},'
            f'"model":{json.dumps(model)},"system_fingerprint":"fp_fake","choices":'
        )

        def frame(delta: dict[str, Any], finish: str | None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return f"data: {head}[{json.dumps(choice)}]}}\n\n".encode()

        loop = asyncio.get_running_loop()
        start = loop.time() + b.ttft_ms / 1000
        record.paced_from = start
        await asyncio.sleep(max(0.0, start - loop.time()))
        await resp.write(frame({"role": "assistant", "content": "", "refusal": None}, None))
        offset = 0
        for i, token in enumerate(tokens):
            if b.mode == "cut" and i >= b.cut_after:
                record.cut = True
                # Drop the TCP connection mid-body: the client sees an incomplete chunked body.
                if request.transport is not None:
                    request.transport.abort()
                return resp
            if b.tps > 0:
                await asyncio.sleep(max(0.0, start + i / b.tps - loop.time()))
            data = frame({"content": token}, None)
            record.chunks.append((time.time(), time.monotonic(), offset, token))
            await resp.write(data)
            offset += len(token)
        await resp.write(frame({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 1, "completion_tokens": len(tokens)}
            usage["total_tokens"] = usage["prompt_tokens"] + len(tokens)
            await resp.write(f'data: {head}[],"usage":{json.dumps(usage)}}}\n\n'.encode())
        await resp.write(b"data: [DONE]\n\n")
        record.done = True
        await resp.write_eof()
        return resp

    # -- embeddings ------------------------------------------------------------
    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        b = self.behaviour
        failure = self._failure(b)
        if failure is not None:
            return failure
        if b.mode == "hang":
            await self.wait_stopping(b.hang_s)
            return json_error(504, "fake hang ended", "server_error", None)
        raw = body.get("input", "")
        if isinstance(raw, str) or (raw and isinstance(raw[0], int)):
            raw = [raw]
        texts = [t if isinstance(t, str) else " ".join(map(str, t)) for t in raw]
        if not texts or any(t == "" for t in texts):
            return json_error(400, "'input' must not be empty.", "invalid_request_error", None)
        dimensions = int(body.get("dimensions") or b.embed_dimensions)
        as_base64 = body.get("encoding_format") == "base64" and b.base64 != "ignored"
        if as_base64 and b.base64 == "rejected":
            return json_error(400, "encoding_format must be 'float'", "invalid_request_error",
                              "encoding_format")
        data = []
        for index, text in enumerate(texts):
            vector = embed_text(text, dimensions)
            encoded: list[float] | str = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        used = sum(len(t.split()) for t in texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": str(body.get("model") or "text-embedding-3-small"),
                "usage": {"prompt_tokens": used, "total_tokens": used},
            }
        )

    async def _models(self, request: web.Request) -> web.Response:
        model = {"id": self.behaviour.model, "object": "model", "created": 0, "owned_by": "fake"}
        return web.json_response({"object": "list", "data": [model]})

    # -- control endpoints (bench) -------------------------------------------
    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": len(self.requests),
                "chat_requests": len(self.chat_requests),
                "streams": [s.as_json() for s in self.streams],
            }
        )

    async def _config(self, request: web.Request) -> web.Response:
        changes = await request.json()
        allowed = {f.name for f in dataclasses.fields(Behaviour)}
        unknown = set(changes) - allowed
        if unknown:
            return json_error(400, f"unknown settings {sorted(unknown)}", "invalid_request", None)
        try:
            b = self.configure(**changes)
        except (TypeError, ValueError) as exc:
            return json_error(400, str(exc), "invalid_request", None)
        shown = {k: v for k, v in dataclasses.asdict(b).items() if not callable(v)}
        return web.json_response(shown)

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--tps", type=float, default=0.0)
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--reply", default=DEFAULT_REPLY)
    parser.add_argument("--mode", choices=MODES, default="normal")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        args.port,
        reply=args.reply,
        ttft_ms=args.ttft_ms,
        tps=args.tps,
        tokens=args.tokens,
        mode=args.mode,
    )

    async def serve() -> None:
        async with fake:
            print(f"fake-openai listening on {fake.base_url}", flush=True)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()

"""A fake Cohere rerank API on 127.0.0.1 (`POST /v2/rerank`, `POST /v1/rerank`).

Answers in Cohere's real response shape, scoring documents by word overlap with the
query, and records every request. Point `cohere.ClientV2(base_url=fake.base_url)` at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from tests.fakes.runner import FakeServer

Mode = Literal["normal", "hang", "error"]


@dataclass(frozen=True, slots=True)
class Behaviour:
    mode: Mode = "normal"
    error_status: int = 500  # `error`: 500, 429, ...
    latency_ms: float = 0.0
    hang_s: float = 300.0


@dataclass(slots=True)
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    t: float


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def overlap_score(query: str, document: str) -> float:
    """Share of the query's words found in the document, in [0, 1]; a tiny length tiebreak."""
    q = words(query)
    if not q:
        return 0.0
    d = words(document)
    share = len(q & d) / len(q)
    return round(min(1.0, share * 0.999 + 0.001 / (1 + len(d))), 6)


def document_text(doc: Any) -> str:
    if isinstance(doc, str):
        return doc
    if isinstance(doc, dict):  # v1 accepted {"text": ...} objects
        return str(doc.get("text", " ".join(str(v) for v in doc.values())))
    return str(doc)


class FakeCohere(FakeServer):
    """`async with FakeCohere() as fake: cohere.ClientV2(base_url=fake.base_url, api_key="x")`."""

    def __init__(self, port: int = 0, **behaviour: Any) -> None:
        super().__init__(port)
        self.behaviour = Behaviour(**behaviour)
        self.requests: list[Recorded] = []

    @property
    def base_url(self) -> str:
        # The SDK appends "v2/rerank" itself, so the base has no version segment.
        return self.origin

    def configure(self, **changes: Any) -> Behaviour:
        self.behaviour = dataclasses.replace(self.behaviour, **changes)
        return self.behaviour

    def reset(self) -> None:
        self.requests.clear()

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v2/rerank", self._rerank)
        app.router.add_post("/v1/rerank", self._rerank)
        app.router.add_post("/_config", self._config)
        app.router.add_get("/_stats", self._stats)
        return app

    async def _rerank(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {}
        self.requests.append(Recorded(request.path, body, dict(request.headers), time.time()))
        b = self.behaviour
        if b.mode == "hang":
            await self.wait_stopping(b.hang_s)
            return web.json_response({"message": "fake hang ended"}, status=504)
        if b.mode == "error":
            return web.json_response({"message": "fake failure"}, status=b.error_status)
        if b.latency_ms:
            await asyncio.sleep(b.latency_ms / 1000)
        query = body.get("query")
        documents = body.get("documents")
        if not isinstance(query, str) or not isinstance(documents, list):
            return web.json_response({"message": "query and documents are required"}, status=400)
        texts = [document_text(d) for d in documents]
        ranked = sorted(
            ((overlap_score(query, t), i) for i, t in enumerate(texts)),
            key=lambda pair: (-pair[0], pair[1]),
        )
        top_n = body.get("top_n")
        if isinstance(top_n, int) and top_n > 0:
            ranked = ranked[:top_n]
        version = "2" if request.path.startswith("/v2") else "1"
        results: list[dict[str, Any]] = []
        for score, index in ranked:
            item: dict[str, Any] = {"index": index, "relevance_score": score}
            if version == "1" and body.get("return_documents"):
                item["document"] = {"text": texts[index]}
            results.append(item)
        return web.json_response(
            {
                "id": str(uuid.uuid4()),
                "results": results,
                "meta": {
                    "api_version": {"version": version},
                    "billed_units": {"search_units": 1},
                },
            }
        )

    async def _config(self, request: web.Request) -> web.Response:
        b = self.configure(**(await request.json()))
        return web.json_response(dataclasses.asdict(b))

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": [r.body for r in self.requests]})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    fake = FakeCohere(args.port)

    async def serve() -> None:
        async with fake:
            print(f"fake-cohere listening on {fake.base_url}", flush=True)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()

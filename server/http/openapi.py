"""GET /openapi.json (the document in openapi.yaml beside this module, contract §5) and
GET /api-docs, a page that renders it in the browser with our own script (nothing fetched
from elsewhere). Read and encoded once, when the routes are built."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from server.http.static import HTML, JS, REVALIDATE, Asset

HERE = Path(__file__).resolve().parent
DOCUMENT = HERE / "openapi.yaml"
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def load_document(path: Path = DOCUMENT) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def routes(path: Path = DOCUMENT) -> list[BaseRoute]:
    document = Asset.of(json.dumps(load_document(path), ensure_ascii=False).encode(),
                        "application/json", REVALIDATE)
    page = Asset.of((HERE / "api_docs.html").read_bytes(), HTML, REVALIDATE, PAGE_CSP)
    script = Asset.of((HERE / "api_docs.js").read_bytes(), JS, REVALIDATE)

    def serve(asset: Asset) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return asset.response(request)

        return endpoint

    return [Route("/openapi.json", serve(document), methods=["GET"]),
            Route("/api-docs", serve(page), methods=["GET"]),
            Route("/api-docs.js", serve(script), methods=["GET"])]

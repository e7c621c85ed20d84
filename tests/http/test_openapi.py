"""The OpenAPI document names exactly the app's HTTP routes, each with its methods, and
gives every operation its answers in the contract's shapes; it is served as /openapi.json
and rendered at /api-docs."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from server.app import create_app
from server.http.openapi import load_document
from server.settings import Settings

METHODS = {"get", "put", "post", "patch", "delete"}
ERROR_REF = "#/components/schemas/Error"
# a 4xx/5xx that is an answer, not an error: readiness says which dependency is down
NOT_ERRORS = {("/readyz", "503"), ("/c", "404")}  # /c: a page saying the link expired


@pytest.fixture(scope="module")
def document() -> dict:
    return load_document()


@pytest.fixture(scope="module")
def client() -> TestClient:
    # no lifespan: these routes need no services
    return TestClient(create_app(Settings()))


def _app_operations() -> set[tuple[str, str]]:
    """(path, method) of every Starlette route; the websockets are not among them (the hub's
    own transport serves them, app.WEBSOCKET_ENDPOINTS), and HEAD comes with each GET."""
    out = set()
    for route in create_app(Settings()).routes:
        assert isinstance(route, Route), f"not a plain route: {route!r}"
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {id:uuid} -> {id}
        out |= {(path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return out


def _doc_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items()
            for method in item if method in METHODS}


def test_every_route_of_the_app_is_documented_and_nothing_else(document: dict) -> None:
    app, doc = _app_operations(), _doc_operations(document)
    assert not app - doc, ("routes missing from server/http/openapi.yaml (add each with its "
                           f"body and answers): {sorted(app - doc)}")
    assert not doc - app, f"openapi.yaml documents routes the app lacks: {sorted(doc - app)}"


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_each_operation_documents_success_errors_and_auth(document: dict) -> None:
    assert document["openapi"].startswith("3.1")
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session"] == {**schemes["session"], "type": "apiKey", "in": "cookie",
                                  "name": "clienta_session"}
    for path, method in _doc_operations(document):
        op = document["paths"][path][method]
        where = f"{method.upper()} {path}"
        assert op.get("operationId") and op.get("summary") and op.get("tags"), where
        statuses = set(op["responses"])
        assert any(s.startswith(("2", "3")) for s in statuses), where
        if op.get("security", document["security"]):
            assert "401" in statuses, f"{where}: an authenticated call can answer 401"
        if "requestBody" in op:
            assert {"400", "413", "422"} <= statuses, f"{where}: bodies can be refused"
        if re.search(r"\{\w+\}", path) and method != "post":
            assert "404" in statuses, f"{where}: the object may not exist"
        for status, response in op["responses"].items():
            if status[0] in "45" and (path, status) not in NOT_ERRORS:
                media = _resolve(document, response)["content"]["application/json"]
                assert media["schema"] == {"$ref": ERROR_REF}, f"{where} {status}"


def test_the_document_is_served_as_json(client: TestClient, document: dict) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == document
    again = client.get("/openapi.json", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_the_api_page_renders_the_document_with_our_own_script_only(
        client: TestClient) -> None:
    page = client.get("/api-docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "default-src 'none'" in csp
    scripts = re.findall(r"<script[^>]*src=\"([^\"]+)\"", page.text)
    assert scripts == ["/api-docs.js"]
    assert "http" not in " ".join(re.findall(r"(?:src|href)=\"([^\"]+)\"", page.text))
    script = client.get("/api-docs.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert 'fetch("/openapi.json"' in script.text
    assert "innerHTML" not in script.text  # everything goes in as text

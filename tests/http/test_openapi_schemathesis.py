"""schemathesis against a live `clienta serve`: for every operation of /openapi.json, a
bounded number of generated requests (as an org's owner) gets no 500, no answer the
document does not allow (status, content type, headers, body schema) and no hang."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.http.openapi import load_document
from tests.support.api import PASSWORD
from tests.support.processes import ServerProcess

# the document the server serves (tests/http/test_openapi.py compares the two)
schema = schemathesis.openapi.from_dict(load_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
EXAMPLES = 25
REQUEST_TIMEOUT_S = 10.0  # a request that takes longer fails the test: no hang


@pytest.fixture(scope="module")
def owner(clienta_server: ServerProcess) -> Iterator[tuple[str, str]]:
    """The shared server's URL and a real owner's bearer token (an org of its own)."""
    email = f"owner-{uuid.uuid4().hex[:10]}@schemathesis.test"
    r = httpx.post(clienta_server.url + "/v1/signup", timeout=30, json={
        "org_name": "Schemathesis", "email": email, "password": PASSWORD, "name": "Owner"})
    r.raise_for_status()
    token = r.json()["token"]
    # something to find: a document and a canned response
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(clienta_server.url + "/v1/kb/documents", headers=headers, timeout=30, json={
        "title": "Refunds", "text": "Refunds take five days."}).raise_for_status()
    httpx.post(clienta_server.url + "/v1/canned", headers=headers, timeout=30, json={
        "shortcut": "hi", "text": "Hello!"}).raise_for_status()
    yield clienta_server.url, token


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_live_server_keeps_to_its_openapi_document(case: schemathesis.Case,
                                                       owner: tuple[str, str]) -> None:
    url, token = owner
    case.call_and_validate(base_url=url, headers={"Authorization": f"Bearer {token}"},
                           checks=CHECKS, timeout=REQUEST_TIMEOUT_S)

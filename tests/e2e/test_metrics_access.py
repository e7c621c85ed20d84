"""/metrics is never public by default (issue 17 point 5): 404 on the public port without
CLIENTA_METRICS_TOKEN, 401 without the right bearer token, and served on the address of
CLIENTA_METRICS_ADDR (one worker) when that is set."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from server.embedded import free_port
from tests.support.processes import ROOT, ServerProcess

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_public_port_wants_the_bearer_token(clienta_server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=clienta_server.url) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"},
                        {"Authorization": "Basic " + clienta_server.env["CLIENTA_METRICS_TOKEN"]}):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "clienta_" not in refused.text
        served = await http.get("/metrics", headers=clienta_server.metrics_headers)
    assert served.status_code == 200 and "clienta_open_connections" in served.text


async def test_without_a_token_only_the_metrics_address_serves_them(
        make_server: Callable[..., ServerProcess]) -> None:
    port = free_port()
    server = await asyncio.to_thread(make_server, {
        "CLIENTA_METRICS_TOKEN": "", "CLIENTA_METRICS_ADDR": f"127.0.0.1:{port}"})
    async with httpx.AsyncClient() as http:
        public = await http.get(server.url + "/metrics")
        assert public.status_code == 404 and public.json()["error"]["code"] == "not_found"
        private = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert private.status_code == 200 and "clienta_open_connections" in private.text
        assert private.headers["content-type"].startswith("text/plain; version=0.0.4")
        # that address serves nothing else
        assert (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 404
        assert (await http.post(f"http://127.0.0.1:{port}/metrics")).status_code == 404


async def test_the_metrics_address_is_refused_with_several_workers(
        server_env: dict[str, str]) -> None:
    env = dict(server_env, CLIENTA_METRICS_ADDR=f"127.0.0.1:{free_port()}")
    argv = [sys.executable, "-m", "server.cli", "serve", "--workers", "2",
            "--port", str(free_port())]
    done = await asyncio.to_thread(subprocess.run, argv, cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "CLIENTA_METRICS_TOKEN" in done.stderr

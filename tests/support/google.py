"""A server process configured for Google sign-in against a fake provider on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.oidc_server import FakeOidcServer
from tests.support.processes import ServerProcess, free_port


def start_google_server(idp: FakeOidcServer, server_env: dict[str, str],
                        home: Path, log_dir: Path) -> ServerProcess:
    port = free_port()
    # the redirect URI registered with the provider is CLIENTA_PUBLIC_URL's
    env = dict(server_env, CLIENTA_PUBLIC_URL=f"http://127.0.0.1:{port}",
               GOOGLE_CLIENT_ID=idp.client_id, GOOGLE_CLIENT_SECRET=idp.client_secret,
               GOOGLE_ISSUER=idp.issuer, CLIENTA_HOME=str(home))
    return ServerProcess(env, port=port, log_dir=log_dir).start()

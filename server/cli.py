"""`clienta serve` and `clienta migrate` (contract §1)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from contextlib import ExitStack

from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.logs import configure_logging
from server.settings import Settings

log = logging.getLogger("clienta.cli")


def _resolve_services(settings: Settings, stack: ExitStack) -> Settings:
    """Start embedded Postgres/Redis for whatever URL is unset; they stop on exit."""
    database_url, redis_url = settings.database_url, settings.redis_url
    if not database_url:
        pg = EmbeddedPostgres(settings.home)
        database_url = pg.start()
        stack.callback(pg.stop)
    if not redis_url:
        redis = EmbeddedRedis()
        redis_url = redis.start()
        stack.callback(redis.stop)
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    return dataclasses.replace(settings, database_url=database_url, redis_url=redis_url)


def cmd_migrate(settings: Settings) -> int:
    from server.storage.migrate import apply_migrations

    with ExitStack() as stack:
        settings = _resolve_services(settings, stack)
        applied = asyncio.run(apply_migrations(settings.database_url or ""))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from server.storage.migrate import apply_migrations

    settings.secret_bytes()  # created once here, before workers race to make it
    with ExitStack() as stack:
        settings = _resolve_services(settings, stack)
        asyncio.run(apply_migrations(settings.database_url or ""))
        url = f"http://{args.host}:{args.port}"
        if args.seed_demo:
            from server.demo import seed_demo

            demo = asyncio.run(seed_demo(settings))
            os.environ["CLIENTA_DEMO_SITE_KEY"] = demo["site_key"]
            print(
                "\n  Clienta is starting\n"
                f"  demo page:     {url}/\n"
                f"  agent console: {url}/console  (login {demo['agent_email']} / "
                f"{demo['password']})\n"
                f"  site key:      {demo['site_key']}\n",
                flush=True,
            )
        uvicorn.run(
            "server.app:app_factory", factory=True, host=args.host, port=args.port,
            workers=args.workers if args.workers > 1 else None,
            log_config=None, access_log=False, lifespan="on",
            timeout_graceful_shutdown=5, backlog=4096,
            timeout_keep_alive=settings.http_keepalive_s,
            # upgrades go to the hub's own websocket protocol (frame limit, keepalive and
            # no per-message deflate are its settings: server/transport/wire.py)
            ws="server.transport.wire:WireSocket",
            http="server.transport.http_switch:HubHttpProtocol",
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clienta")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default=None, help="default: CLIENTA_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: CLIENTA_PORT or 8000")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--seed-demo", action="store_true",
                       help="create the demo organisation once and print its logins")
    sub.add_parser("migrate", help="apply migrations/*.sql in order, once each")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    if args.command == "migrate":
        return cmd_migrate(settings)
    args.host = args.host or settings.host
    args.port = args.port or settings.port
    return cmd_serve(settings, args)


if __name__ == "__main__":
    sys.exit(main())

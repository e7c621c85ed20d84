"""`clienta serve`, `clienta migrate` (contract §1), `clienta health` (the image's check),
`clienta keys`, `clienta backup | restore` and `clienta widget build` (files for a CDN)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
from contextlib import ExitStack
from types import FrameType

from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.logs import configure_logging
from server.settings import Settings

log = logging.getLogger("clienta.cli")


class EmbeddedRefused(RuntimeError):
    """A URL is unset where embedded services are not allowed (the container image)."""


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so the ExitStack stops the embedded services."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _resolve_services(settings: Settings, stack: ExitStack) -> Settings:
    """Start embedded Postgres/Redis for whatever URL is unset; they stop on exit."""
    database_url, redis_url = settings.database_url, settings.redis_url
    direct_url = settings.direct_database_url
    missing = [name for name, url in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url))
               if not url]
    if missing and not settings.embedded_allowed:
        raise EmbeddedRefused(
            f"{' and '.join(missing)} not set, and embedded services are off "
            "(CLIENTA_EMBEDDED=0): point them at Postgres (with pgvector) and Redis, "
            "or set CLIENTA_EMBEDDED=1 for a one-box trial")
    if not database_url:
        pg = EmbeddedPostgres(settings.home)
        owner_url = pg.start()
        stack.callback(pg.stop)
        # migrations as the superuser, serving as a role row-level security holds
        database_url, direct_url = pg.serving_url(owner_url), owner_url
        os.environ["CLIENTA_DIRECT_DATABASE_URL"] = owner_url
    if not redis_url:
        redis = EmbeddedRedis()
        redis_url = redis.start()
        stack.callback(redis.stop)
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    return dataclasses.replace(settings, database_url=database_url, redis_url=redis_url,
                               direct_database_url=direct_url)


def cmd_migrate(settings: Settings) -> int:
    from server.storage.migrate import apply_migrations

    with ExitStack() as stack:
        settings = _resolve_services(settings, stack)
        applied = asyncio.run(apply_migrations(settings.migrate_database_url or ""))
        _encrypt_existing(settings)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def _encrypt_existing(settings: Settings) -> None:
    """Seal rows stored before encryption at rest began (one quick read once done)."""
    from server.commands import keys_command

    sealed = asyncio.run(keys_command(settings, "encrypt-existing"))
    if sealed:
        logging.getLogger("clienta.keys").info("existing rows sealed", extra={"count": sealed})


def cmd_keys(settings: Settings, command: str) -> int:
    from server.commands import keys_command

    with ExitStack() as stack:
        settings = _resolve_services(settings, stack)
        settings.master_key_text()
        count = asyncio.run(keys_command(settings, command))
    print(f"keys {command}: {count}")
    return 0


def cmd_policy(settings: Settings, args: argparse.Namespace) -> int:
    """Publish a privacy policy version (docs/privacy.md "Policy changes")."""
    from datetime import date

    from server.commands import policy_command
    from server.services.policy import PolicyRefused

    try:
        effective = date.fromisoformat(args.effective)
    except ValueError:
        print("clienta: --effective must be a date, YYYY-MM-DD", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        settings = _resolve_services(settings, stack)
        try:
            told, untold = asyncio.run(policy_command(settings, args.version, effective,
                                                      args.material, args.summary))
        except PolicyRefused as exc:
            print(f"clienta: {exc}", file=sys.stderr)
            return 2
    print(f"policy {args.version} published, effective {effective.isoformat()}"
          + (f"; owners of {told} organisation(s) mailed" if args.material else ""))
    if untold:
        print(f"clienta: {untold} organisation(s) could not be told: their keys cannot be "
              "opened with the configured master keys (see the log)", file=sys.stderr)
    return 0


def cmd_backup(settings: Settings, out: str) -> int:
    from pathlib import Path

    from server.commands import build_backups
    from server.services.backups import RestoreRefused
    from server.storage.dumps import DumpFailed

    embedded = not settings.database_url
    with ExitStack() as stack:
        settings = _resolve_services(settings, stack)
        try:
            report = asyncio.run(build_backups(settings, embedded).backup(Path(out)))
        except (DumpFailed, RestoreRefused, FileExistsError, ValueError) as exc:
            print(f"clienta: backup failed: {exc}", file=sys.stderr)
            return 2
    print(f"backup written: {report.path} ({report.bytes} bytes; {report.tables} tables, "
          f"{report.rows} rows)")
    return 0


def cmd_restore(settings: Settings, archive: str, into: str | None, sample: int) -> int:
    from pathlib import Path

    from server.commands import build_backups
    from server.services.backups import RestoreRefused
    from server.storage.dumps import DumpFailed

    embedded = not settings.database_url and not into
    with ExitStack() as stack:
        if into is None:
            settings = _resolve_services(settings, stack)
        target = into or settings.migrate_database_url or ""
        try:
            report = asyncio.run(build_backups(settings, embedded).restore(
                Path(archive), target, sample))
        except (DumpFailed, RestoreRefused, ValueError) as exc:
            print(f"clienta: restore refused: {exc}", file=sys.stderr)
            return 2
    print(f"restored {report.tables} tables, {report.rows} rows; erasures replayed: "
          f"{report.erasures_replayed}; messages opened: {report.opened} of a sample of "
          f"up to {report.sampled}")
    for table, expected, found in report.mismatches:
        print(f"clienta: check failed: {table} has {found} rows, the archive {expected}",
              file=sys.stderr)
    if report.sample_error:
        print(f"clienta: check failed: a sampled message did not open "
              f"({report.sample_error}): is CLIENTA_MASTER_KEY (and _PREVIOUS) the one "
              "the backup's data was sealed under?", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    if settings.metrics_addr and args.workers > 1:
        # each worker would bind the same address and a scrape reach any one of them
        print("clienta: CLIENTA_METRICS_ADDR serves one process: with --workers > 1 use "
              "CLIENTA_METRICS_TOKEN on the public port (docs/operations.md)", file=sys.stderr)
        return 2
    if settings.metrics_addr:
        from server.http.metrics_listener import parse_addr

        try:
            parse_addr(settings.metrics_addr)
        except ValueError as exc:
            print(f"clienta: {exc}", file=sys.stderr)
            return 2
    settings.secret_bytes()  # created once here, before workers race to make it
    settings.master_key_text()  # likewise
    # uvicorn ends a SIGTERM by raising it again once it has shut down: with the default
    # action the process would die there, before the ExitStack stops embedded Postgres
    # and Redis (docker stop and systemd send SIGTERM). Ours unwinds the stack as SIGINT's
    # KeyboardInterrupt does, then exits 0.
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with ExitStack() as stack:
            _serve(_resolve_services(settings, stack), args)
    except _Terminated:
        pass
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from server.storage.migrate import apply_migrations

    asyncio.run(apply_migrations(settings.migrate_database_url or ""))
    _encrypt_existing(settings)
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
        # a float works (asyncio timers); uvicorn's hint says int
        timeout_keep_alive=settings.http_keepalive_s,  # type: ignore[arg-type]  # (above)
        # upgrades go to the hub's own websocket protocol (frame limit, keepalive and
        # no per-message deflate are its settings: server/transport/wire.py)
        ws="server.transport.wire:WireSocket",
        http="server.transport.http_switch:HubHttpProtocol",
    )


def cmd_widget_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from server.http.cdn import build

    try:
        written = build(Path(args.out), args.server, site_key=args.site_key,
                        omise=Settings.from_env().billing.omise_browser)
    except ValueError as exc:
        print(f"clienta: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {args.out}: " + ", ".join(p.name for p in written))
    return 0


def cmd_health(settings: Settings) -> int:
    """The image's HEALTHCHECK: /healthz on this machine, on the port serve would take."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/healthz",
                                    timeout=2) as answer:
            return 0 if answer.status == 200 else 1
    except OSError:
        return 1


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
    sub.add_parser("health", help="exit 0 when this machine's server answers /healthz")
    keys = sub.add_parser("keys", help="encryption keys (docs/privacy.md)")
    keys.add_argument("keys_command", choices=["rotate", "encrypt-existing", "replay-erasures"],
                      help="rotate: re-wrap org keys under CLIENTA_MASTER_KEY (the old one in "
                      "CLIENTA_MASTER_KEY_PREVIOUS); encrypt-existing: seal rows stored "
                      "before encryption; replay-erasures: after a restore, destroy again "
                      "every key in the erasure ledger")
    backup = sub.add_parser("backup", help="write an encrypted pg_dump archive "
                            "(docs/operations.md)")
    backup.add_argument("--out", required=True, help="the archive to write (never overwritten)")
    restore = sub.add_parser("restore", help="restore an archive into an empty database, "
                             "replay the erasure ledger and check the copy")
    restore.add_argument("archive", help="a file `clienta backup` wrote")
    restore.add_argument("--database-url", default=None, help="the empty database to restore "
                         "into (default: CLIENTA_DIRECT_DATABASE_URL or DATABASE_URL, or the "
                         "embedded one); a role that bypasses row-level security")
    restore.add_argument("--sample", type=int, default=20,
                         help="messages opened to check the keys (default 20)")
    policy = sub.add_parser("policy", help="the privacy policy's versions (docs/privacy.md)")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    publish = policy_sub.add_parser("publish", help="store a version; a material one is "
                                    "mailed to every owner, 30 days ahead at least")
    publish.add_argument("--version", required=True, help="e.g. 2027-01")
    publish.add_argument("--effective", required=True, help="the day it takes effect, "
                         "YYYY-MM-DD")
    publish.add_argument("--material", action="store_true", help="a material change: owners "
                         "are mailed and the console shows a banner until it takes effect")
    publish.add_argument("--summary", default=None, help="what changes, in a sentence or two")
    widget = sub.add_parser("widget", help="the widget and console as static files")
    widget_sub = widget.add_subparsers(dest="widget_command", required=True)
    build = widget_sub.add_parser("build", help="write a folder for a CDN (Vercel)")
    build.add_argument("--server", required=True, help="the API origin, https://api.example.com")
    build.add_argument("--out", required=True, help="the folder to write")
    build.add_argument("--site-key", default="", help="embed this site key in the demo page")
    args = parser.parse_args(argv)
    if args.command == "widget":
        return cmd_widget_build(args)
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    if settings.log_level.lower() != "debug":
        # pgserver logs every initdb and pg_ctl command line with its output at info:
        # the first screen of `make run` is for the URLs and logins
        logging.getLogger("pgserver").setLevel(logging.WARNING)
    if args.command == "health":
        return cmd_health(settings)
    try:
        if args.command == "migrate":
            return cmd_migrate(settings)
        if args.command == "keys":
            return cmd_keys(settings, args.keys_command)
        if args.command == "policy":
            return cmd_policy(settings, args)
        if args.command == "backup":
            return cmd_backup(settings, args.out)
        if args.command == "restore":
            return cmd_restore(settings, args.archive, args.database_url, args.sample)
        args.host = args.host or settings.host
        args.port = args.port or settings.port
        return cmd_serve(settings, args)
    except EmbeddedRefused as exc:
        print(f"clienta: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

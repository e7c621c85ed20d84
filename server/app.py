"""The composition root: settings -> services -> Starlette routes. Nothing else wires."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from starlette.applications import Starlette
from starlette.routing import BaseRoute, WebSocketRoute

from server.broker.base import Broker
from server.broker.memory import MemoryBroker
from server.broker.redis import RedisBroker
from server.hub.rooms import Hub
from server.llm.chat import build_chat_provider
from server.metrics import Metrics
from server.services.accounts import AccountService
from server.services.bot import BotRunner, StreamTexts
from server.services.conversations import ConversationService
from server.services.visitor_tokens import VisitorTokens
from server.settings import Settings
from server.storage.db import Database
from server.storage.migrate import apply_migrations

log = logging.getLogger("clienta.app")


@dataclass
class Services:
    """Everything a request handler may use, built once per process."""

    settings: Settings
    db: Database
    broker: Broker
    hub: Hub
    metrics: Metrics
    accounts: AccountService
    visitor_tokens: VisitorTokens
    conversations: ConversationService
    bot: BotRunner
    kb: Any = None
    agents: Any = None
    presence: Any = None
    demo_site_key: str | None = None
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    async def after_queued(self, org_id: UUID, conversation_id: UUID) -> None:
        """Hook run once a visitor's conversation is waiting for a person."""
        if self.agents is not None:
            await self.agents.after_queued(org_id, conversation_id)


async def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be resolved before the app starts "
                           "(the CLI starts embedded services when they are unset)")
    if migrate:
        await apply_migrations(settings.database_url)
    db = await Database.connect(settings.database_url, min_size=settings.db_pool_min,
                                max_size=settings.db_pool_max)
    broker: Broker = RedisBroker(settings.redis_url) if settings.redis_url != "memory://" \
        else MemoryBroker()
    metrics = Metrics()
    hub = Hub(broker)
    conversations = ConversationService(db, hub, metrics)
    redis_client = getattr(broker, "client", None)
    bot = BotRunner(db, hub, conversations, build_chat_provider(settings), metrics,
                    StreamTexts(redis_client), delta_window_s=settings.delta_window_s,
                    max_unresolved_turns=settings.max_unresolved_turns)
    services = Services(
        settings=settings, db=db, broker=broker, hub=hub, metrics=metrics,
        accounts=AccountService(db, settings.token_ttl_s),
        visitor_tokens=VisitorTokens(settings.secret_bytes()),
        conversations=conversations, bot=bot, demo_site_key=settings.demo_site_key,
    )
    _wire_optional(services)
    await broker.start(hub.on_message, conversations.resync)
    return services


def _wire_optional(services: Services) -> None:
    """Capabilities that live in their own packages: knowledge base, agents, presence."""
    try:
        from server.kb.service import build_knowledge_base
    except ImportError:
        build_knowledge_base = None  # type: ignore[assignment]
    if build_knowledge_base is not None:
        kb = services.kb = build_knowledge_base(services.settings, services.db)

        async def lookup(org_id: UUID, conversation_id: UUID,
                         question: str) -> tuple[list[Any], bool]:
            passages = await kb.search(org_id, question)
            best = passages[0].score if passages else 0.0
            if not passages or best < await kb.threshold(org_id):
                await kb.record_unanswered(org_id, conversation_id, question, best)
                return passages, False
            return passages, True

        services.bot.knowledge = lookup
    try:
        from server.services.agents import build_agents
    except ImportError:
        build_agents = None  # type: ignore[assignment]
    if build_agents is not None:
        build_agents(services)


async def close_services(services: Services) -> None:
    for task in services.background:
        task.cancel()
    await asyncio.gather(*services.background, return_exceptions=True)
    await services.bot.close()
    if services.kb is not None:
        await services.kb.close()
    if services.agents is not None:
        await services.agents.close()
    await services.broker.close()
    await services.db.close()


def _routes() -> list[BaseRoute]:
    from server.http import accounts, conversations, health
    from server.transport.visitor_ws import visitor_endpoint

    routes: list[BaseRoute] = [WebSocketRoute("/v1/ws/visitor", visitor_endpoint)]
    routes += health.routes() + accounts.routes() + conversations.routes()
    with contextlib.suppress(ImportError):
        from server.transport.agent_ws import agent_endpoint

        routes.append(WebSocketRoute("/v1/ws/agent", agent_endpoint))
    for module in ("server.http.org", "server.http.kb", "server.http.agent_tools",
                   "server.http.static"):
        try:
            mod = __import__(module, fromlist=["routes"])
        except ImportError:
            continue
        routes += mod.routes()
    return routes


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(settings)
        app.state.services = services
        if services.kb is not None:
            await services.kb.start()
        try:
            yield
        finally:
            await drain(services)
            await close_services(services)

    from server.http.errors import exception_handlers

    app = Starlette(routes=_routes(), lifespan=lifespan,
                    exception_handlers=exception_handlers())
    return app


async def drain(services: Services) -> None:
    """Graceful stop: tell every client to reconnect elsewhere (1012), bounded in time."""
    from server.protocol.codes import CloseCode

    conns = {c for members in services.hub.members.values() for c in members}
    await asyncio.gather(*(c.flush_and_close(CloseCode.RESTARTING, 1.0) for c in conns),
                         return_exceptions=True)


def app_factory() -> Starlette:
    """uvicorn --factory entry point: settings from the environment."""
    from server.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings)


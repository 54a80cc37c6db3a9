"""The composition root of the core: one engine, one set of services, their loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from hangar.core.clock import Clock, SystemClock
from hangar.core.identity.bootstrap import FirstAdmin, bootstrap
from hangar.core.identity.secrets import SecretBox
from hangar.core.identity.service import IdentityService
from hangar.core.manager.service import ManagerService
from hangar.db.engine import DbSession, create_engine, make_sessionmaker, migrate
from hangar.settings import Settings

log = logging.getLogger("hangar.core")


@dataclass
class Services:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[DbSession]
    identity: IdentityService
    manager: ManagerService
    first_admin: FirstAdmin | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start_loops(self) -> None:
        self._tasks.append(asyncio.create_task(self._flush_usage_loop(), name="usage-flush"))

    async def _flush_usage_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.usage_flush_seconds)
            try:
                await self.identity.flush_usage()
            except Exception:  # a failed flush is retried with the next batch
                log.exception("could not write keypair usage counters")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        try:
            await self.identity.flush_usage()
        finally:
            await self.engine.dispose()


def secret_box_for(settings: Settings) -> SecretBox:
    if settings.server_key is not None:
        return SecretBox(settings.server_key.get_secret_value().encode())
    return SecretBox.from_file(settings.server_key_path)


async def open_services(
    settings: Settings, *, clock: Clock | None = None, run_bootstrap: bool = True
) -> Services:
    """Migrate the database, build the services and, on first start, create the admin."""
    settings.ensure_dirs()
    clock = clock or SystemClock()
    engine = create_engine(settings.resolved_database_url)
    try:
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        identity = IdentityService(
            sessions,
            secret_box_for(settings),
            clock,
            cache_seconds=settings.auth_cache_seconds,
            default_rate_limit=settings.default_rate_limit,
            login_failure_limit=settings.login_failure_limit,
            login_session_hours=settings.login_session_hours,
        )
        services = Services(
            settings, clock, engine, sessions, identity, ManagerService(sessions, clock)
        )
        if run_bootstrap:
            services.first_admin = await bootstrap(
                sessions, identity, clock, admin_email=settings.admin_email
            )
    except BaseException:
        await engine.dispose()
        raise
    return services

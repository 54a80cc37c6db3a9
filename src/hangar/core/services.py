"""The composition root of the core: one engine, one set of services, their loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from hangar.core.admin import AdminPlane, build_admin_plane
from hangar.core.agents.remote import RemoteAgents, RemoteLinks
from hangar.core.agents.service import AgentService
from hangar.core.bgtasks.service import BackgroundTasks
from hangar.core.billing.service import BillingService
from hangar.core.census import CensusTaker
from hangar.core.clock import Clock, SystemClock
from hangar.core.compute.apps import AppService
from hangar.core.compute.execution import Executions
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.reads import SessionReads
from hangar.core.compute.restarts import RestartRules
from hangar.core.compute.service import ComputeService
from hangar.core.compute.webhooks import WebhookFormat, WebhookNotifier
from hangar.core.diskspace import DiskReserve
from hangar.core.endpoint_tasks.dispatcher import Dispatcher, DispatchRules
from hangar.core.endpoint_tasks.service import TaskService
from hangar.core.endpoint_tasks.webhooks import DeliveryRules, NoticeFormat, Notifier
from hangar.core.endpoints.decide import Rules
from hangar.core.endpoints.hints import HintRelay
from hangar.core.endpoints.holders import EndpointAuthHolders, EndpointPullCredentials
from hangar.core.endpoints.loop import EndpointLoop
from hangar.core.endpoints.runner import WorkerRunner
from hangar.core.endpoints.service import EndpointService
from hangar.core.endpoints.signals import Signals
from hangar.core.events import EventBus, InProcessBus
from hangar.core.events.relay import RelayBus
from hangar.core.identity.apikeys.service import ApiKeyService
from hangar.core.identity.bootstrap import FirstAdmin, bootstrap
from hangar.core.identity.reads import DirectoryReads, KeyPairReads
from hangar.core.identity.secrets import SecretBox, secret_file
from hangar.core.identity.service import IdentityService
from hangar.core.images.auths.service import RegistryAuthService
from hangar.core.images.registries import RegistryService
from hangar.core.images.service import ImageService
from hangar.core.manager.service import ManagerService
from hangar.core.pods.holders import PodAuthHolders
from hangar.core.pods.pulls import PodPullCredentials
from hangar.core.pods.service import PodService
from hangar.core.pods.starter import PodStarter
from hangar.core.queues.executor.feed import QueueFeedOf, WorkerReportsOf
from hangar.core.queues.executor.ledger import RunLedger, home_of
from hangar.core.queues.executor.mounts import TaskMounts
from hangar.core.queues.executor.service import Executor
from hangar.core.queues.plane import QueuePlane, build_queue_plane
from hangar.core.queues.service import QueueService
from hangar.core.queues.workers import UserNamesOf
from hangar.core.reconcile import Leases, NoWakeups, process_identity
from hangar.core.resources.accelerators import Accelerators
from hangar.core.scheduler import ResourceSlots
from hangar.core.storage.plane import StoragePlane, build_storage_plane
from hangar.core.storage.reads import FolderReads
from hangar.core.tracking.plane import TrackingPlane, build_tracking_plane
from hangar.core.tracking.purge import UserFilesPurge
from hangar.core.tracking.tasks.reads import TaskDirectory
from hangar.core.vms.service import VmService
from hangar.core.volumes.hosts import volume_hosts
from hangar.core.volumes.service import VolumeService
from hangar.db.engine import DbSession, create_engine, make_sessionmaker, migrate
from hangar.db.notify import PgChannel, PgWakeups
from hangar.settings import Settings

log = logging.getLogger("hangar.core")
LEASE = timedelta(seconds=20)  # the endpoints loop's


@dataclass(frozen=True)
class Reads:
    """The domains' scoped reads, for the faces: they never hold the sessionmaker."""

    sessions: SessionReads
    keypairs: KeyPairReads
    directory: DirectoryReads
    folders: FolderReads

    @classmethod
    def over(cls, db: async_sessionmaker[DbSession]) -> Reads:
        return cls(SessionReads(db), KeyPairReads(db), DirectoryReads(db), FolderReads(db))


@dataclass
class Services:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[DbSession]
    identity: IdentityService
    manager: ManagerService
    images: ImageService
    agents: AgentService
    bus: EventBus
    lifecycle: SessionLifecycle
    compute: ComputeService
    executions: Executions
    bgtasks: BackgroundTasks
    storage: StoragePlane
    apps: AppService
    remote_agents: RemoteAgents
    census: CensusTaker
    admin: AdminPlane
    tracking: TrackingPlane
    queues: QueuePlane
    billing: BillingService  # prices, meters, cost of pods/VMs/volumes/endpoints, limits
    first_admin: FirstAdmin | None = None
    executor: Executor | None = None  # runs the queued tasks of the queues Hangar serves
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @cached_property
    def reads(self) -> Reads:
        return Reads.over(self.sessions)

    @cached_property
    def apikeys(self) -> ApiKeyService:
        """The GPU-cloud face's API keys (a credential kind of the principal model)."""
        return ApiKeyService(self.sessions, self.clock)

    @cached_property
    def accelerators(self) -> Accelerators:
        """The live agents' devices by model and scaling group, and how many are free."""
        return Accelerators(self.sessions)

    @cached_property
    def volumes(self) -> VolumeService:
        """The GPU-cloud face's volumes, each a virtual folder on its type's storage host."""
        hosts = volume_hosts(self.settings.storage.volume_hosts, self.storage.service.hosts)
        return VolumeService(self.sessions, self.clock, self.storage.service, hosts,
                             meter=self.billing, projects=self.identity)  # fmt: skip

    @cached_property
    def vms(self) -> VmService:
        """The GPU-cloud face's VMs: long-lived sessions with sshd on one GPU type."""
        return VmService(self.sessions, self.clock, compute=self.compute,
                         lifecycle=self.lifecycle, accelerators=self.accelerators,
                         volumes=self.volumes,
                         disk_gb=self.settings.sessions.default_disk_bytes >> 30)  # fmt: skip

    @cached_property
    def registry_auths(self) -> RegistryAuthService:
        """Users' own registry credentials, sealed like the container registries'."""
        holders = EndpointAuthHolders(self.sessions, PodAuthHolders(self.sessions, self.compute))
        return RegistryAuthService(self.sessions, secret_box_for(self.settings), self.clock,
                                   holders)  # fmt: skip

    @cached_property
    def pods(self) -> PodService:
        """The GPU-cloud face's pods: compute sessions of origin kind pod."""
        return PodService(self.sessions, self.clock, compute=self.compute,
                          accelerators=self.accelerators, auths=self.registry_auths,
                          volumes=self.volumes, images=self.images)  # fmt: skip

    @cached_property
    def endpoint_signals(self) -> Signals:
        """What the endpoints' API, loop, gateway and task dispatcher share in-process."""
        relay = None
        if isinstance(self.bus, RelayBus):  # other processes: hints go both ways
            relay = HintRelay(self.bus, self.clock, process_identity())
        return Signals(self.clock, relay)

    @cached_property
    def endpoints(self) -> EndpointService:
        """The GPU-cloud face's serverless endpoints: workers are compute sessions of origin
        kind endpoint worker; the gateway and the task dispatcher reach them through it."""
        return EndpointService(self.sessions, self.clock, self.endpoint_signals,
                               agents=self.agents, accelerators=self.accelerators,
                               auths=self.registry_auths, billing=self.billing,
                               images=self.images)  # fmt: skip

    @cached_property
    def task_notifier(self) -> Notifier:
        """Delivers QUEUE tasks' results to their webhooks, with retries."""
        s = self.settings
        rules = DeliveryRules(retries=tuple(s.endpoints.webhook_retry_seconds),
                              timeout=s.endpoints.webhook_timeout_seconds)  # fmt: skip
        leases = Leases(process_identity(), ttl=timedelta(seconds=s.endpoints.task_lease_seconds))
        return Notifier(self.sessions, self.clock, leases, rules)

    @cached_property
    def task_dispatcher(self) -> Dispatcher:
        """Sends QUEUE endpoints' tasks to their RUNNING workers."""
        s = self.settings
        retention = s.endpoints.task_retention_days * 86400
        rules = DispatchRules(concurrency=s.endpoints.task_concurrency,
                              timeout=s.endpoints.task_timeout_seconds,
                              retention_seconds=retention)  # fmt: skip
        leases = Leases(process_identity(), ttl=timedelta(seconds=s.endpoints.task_lease_seconds))
        return Dispatcher(self.sessions, self.clock, self.endpoints, leases, self.task_notifier,
                          rules)  # fmt: skip

    @cached_property
    def endpoint_tasks(self) -> TaskService:
        """Tasks of QUEUE endpoints (T1-T4)."""
        return TaskService(self.sessions, self.clock, self.endpoints, self.task_dispatcher)

    async def start_loops(
        self,
        *,
        embedded_agent: bool = True,
        api: tuple[str, int] | None = None,
        webhooks: WebhookFormat | None = None,
        task_notices: NoticeFormat | None = None,
    ) -> None:
        """Start the embedded agent and the background loops (usage counters, lifecycle;
        the queued-task executor when ``api``, the server's address, is given: without an
        embedded agent it serves the groups of the remote agents reporting here; lifecycle
        webhooks in the ``webhooks`` format when given)."""
        if isinstance(self.bus, RelayBus):
            await self.bus.open()
        agent_id = await self.start_embedded_agent() if embedded_agent else None
        if api is not None and self.executor is not None:
            run = self.executor.run(*api, agent_id=agent_id)
            self._tasks.append(asyncio.create_task(run, name="task-executor"))
        self._tasks.append(asyncio.create_task(self._flush_usage_loop(), name="usage-flush"))
        self._tasks.append(asyncio.create_task(self.billing.run(), name="billing"))
        self._tasks.append(asyncio.create_task(self.lifecycle.run(), name="session-lifecycle"))
        if webhooks is not None:
            notifier = WebhookNotifier(self.clock, self.bus, webhooks)
            self._tasks.append(asyncio.create_task(notifier.run(), name="webhooks"))
        await self.bgtasks.recover()
        await self.volumes.recover()
        self._tasks.append(asyncio.create_task(self.storage.run_sweeps(), name="storage-sweeps"))
        starter = PodStarter(self.sessions, self.bus, self.compute, self.lifecycle)
        self._tasks.append(asyncio.create_task(starter.run(), name="pod-init-commands"))
        endpoints = build_endpoint_loop(self)
        self._tasks.append(asyncio.create_task(endpoints.run(), name="endpoints"))
        if isinstance(self.bus, RelayBus):
            hints = self.endpoint_signals.follow()
            self._tasks.append(asyncio.create_task(hints, name="endpoint-hints"))
        self._tasks.append(asyncio.create_task(self.task_dispatcher.run(), name="endpoint-tasks"))
        if task_notices is not None:
            notify = self.task_notifier.run(task_notices)
            self._tasks.append(asyncio.create_task(notify, name="task-webhooks"))
        watchdog = self.tracking.experiments.watchdog.run()
        self._tasks.append(asyncio.create_task(watchdog, name="task-watchdog"))
        every = min(self.settings.agent.heartbeat_seconds, self.settings.agent.lost_seconds / 3)
        watch = self.remote_agents.watch(every)
        self._tasks.append(asyncio.create_task(watch, name="remote-agents"))

    async def start_embedded_agent(self) -> str | None:
        """Register this machine's agent and bring back the sessions it ran before; its id
        (None: this server has no embedded agent)."""
        from hangar.core.agents.local import build_embedded_agent

        built = await build_embedded_agent(self.settings)
        if built is None:
            return None
        client, running = built
        info = await self.agents.register(client)
        for note in info.notes:
            log.info("agent %s: %s", info.agent_id, note)
        await self.lifecycle.recover(info.agent_id, running)
        self.on_close(lambda: self.lifecycle.release_agent(info.agent_id))
        return info.agent_id

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    async def _flush_usage_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sessions.usage_flush_seconds)
            try:
                await self.identity.flush_usage()
                await self.compute.flush_query_counts()
            except Exception:  # a failed flush is retried with the next batch
                log.exception("could not write usage counters")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.lifecycle.close()
        await self.lifecycle.wakeups.close()
        if isinstance(self.bus, RelayBus):
            await self.bus.aclose()
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:
                log.exception("error while closing")
        try:
            await self.identity.flush_usage()
            await self.compute.flush_query_counts()
        finally:
            await self.engine.dispose()


def _assemble(
    settings: Settings,
    clock: Clock,
    engine: AsyncEngine,
    sessions: async_sessionmaker[DbSession],
    identity: IdentityService,
    first_admin: FirstAdmin | None,
) -> Services:
    manager = ManagerService(sessions, clock)
    registries = RegistryService(sessions, secret_box_for(settings), clock)
    images = ImageService(sessions, clock, registries=registries)
    agents = AgentService(sessions, clock)
    links = RemoteLinks()  # remote agents' connections, for shipping queued tasks' runs
    leases = Leases(process_identity())
    relayed = PgWakeups.available(engine)  # several server processes may share the database
    bus: EventBus = RelayBus(PgChannel(engine, leases.owner)) if relayed else InProcessBus()
    bgtasks = BackgroundTasks(sessions, clock, bus)
    storage = build_storage_plane(settings, sessions, clock, manager, bgtasks)
    wakeups = PgWakeups(engine, leases.owner) if PgWakeups.available(engine) else NoWakeups()
    auths = RegistryAuthService(sessions, secret_box_for(settings), clock)  # for image pulls
    lifecycle = SessionLifecycle(
        sessions,
        clock,
        agents=agents,
        images=images,
        bus=bus,
        policy=settings.sessions.scheduler_policy,
        idle_timeout=settings.sessions.idle_timeout_seconds,
        restart_rules=RestartRules(
            settings.sessions.restart_backoff_seconds,
            settings.sessions.restart_backoff_max_seconds,
            settings.sessions.restart_limit,
        ),
        kernel_extras=TaskMounts(storage, settings, links),
        pull_credentials=EndpointPullCredentials(
            sessions, auths, PodPullCredentials(sessions, auths)
        ),
        leases=leases,
        wakeups=wakeups,
    )
    billing = BillingService(sessions, clock, suspender=lifecycle, bus=bus)
    compute = ComputeService(
        sessions,
        clock,
        identity=identity,
        images=images,
        manager=manager,
        lifecycle=lifecycle,
        agents=agents,
        bus=bus,
        default_memory=int(ResourceSlots.parse({"mem": settings.sessions.default_memory})["mem"]),
        disk=DiskReserve(settings.data_dir, settings.storage.disk_reserve_bytes),
        mounts=storage,
        admission=billing,
    )
    executions = Executions(
        lifecycle,
        settings.sessions.execute_flush_seconds,
        agents=agents,
        query_timeout=settings.sessions.query_exec_timeout_seconds,
    )
    remote_agents = RemoteAgents(
        agents, lifecycle, clock, token=agent_token_for(settings),
        lost_after=settings.agent.lost_seconds, links=links,
    )  # fmt: skip
    admin = build_admin_plane(
        sessions, clock, identity=identity, images=images, manager=manager, compute=compute,
        lifecycle=lifecycle,
    )  # fmt: skip
    queue_entries = QueueService(sessions, clock, TaskDirectory(sessions), bus)
    tracking = build_tracking_plane(settings, sessions, clock, storage, [queue_entries])
    admin.identity.on_user_purge(UserFilesPurge(tracking.files, TaskDirectory(sessions)))
    services = Services(
        settings=settings, clock=clock, engine=engine, sessions=sessions, identity=identity,
        manager=manager, images=images, agents=agents, bus=bus, lifecycle=lifecycle,
        compute=compute, executions=executions, bgtasks=bgtasks, storage=storage,
        apps=AppService(compute=compute, images=images, agents=agents, lifecycle=lifecycle),
        remote_agents=remote_agents, census=CensusTaker(sessions), admin=admin,
        tracking=tracking,
        queues=build_queue_plane(
            sessions, clock, tracking.experiments, queue_entries, UserNamesOf(identity)
        ),
        billing=billing,
        first_admin=first_admin,
    )  # fmt: skip
    services.executor = Executor(
        settings, clock,
        feed=QueueFeedOf(queue_entries, services.queues.reads, services.reads.directory),
        experiments=tracking.experiments, metrics=tracking.metrics, identity=identity,
        compute=compute, resources=admin.resources, bus=bus,
        workers=WorkerReportsOf(services.queues.workers),
        ledger=RunLedger(sessions, clock, leases, home_of(settings.data_dir)), agents=agents,
    )  # fmt: skip
    services.on_close(remote_agents.close)
    services.on_close(storage.close)
    services.on_close(bgtasks.close)  # closers run in reverse: tasks end first
    return services


def build_endpoint_loop(services: Services) -> EndpointLoop:
    """The loop that keeps the endpoints' workers (rules from the settings). Its leases
    last 20 s: a killed server's endpoints go to another process (or its restart) then."""
    settings = services.settings
    runner = WorkerRunner(services.sessions, services.clock, compute=services.compute,
                          lifecycle=services.lifecycle, agents=services.agents,
                          accelerators=services.accelerators,
                          images=services.images, signals=services.endpoint_signals)  # fmt: skip
    rules = Rules(start_seconds=settings.endpoints.worker_start_seconds,
                  max_failures=settings.endpoints.max_failures,
                  backoff_seconds=settings.endpoints.backoff_seconds)  # fmt: skip
    leases = Leases(process_identity(), LEASE)
    return EndpointLoop(services.sessions, services.clock, services.endpoint_signals, runner,
                        services.compute, leases, services.bus, rules=rules,
                        check_seconds=settings.endpoints.check_seconds)  # fmt: skip


def agent_token_for(settings: Settings) -> str:
    """The remote agents' shared secret: from the settings, else the data dir's token file
    (created with a fresh random token on first use, readable by its owner only)."""
    if settings.agent.token is not None:
        return settings.agent.token.get_secret_value()
    token = secret_file(settings.agent_token_path, lambda: secrets.token_urlsafe(32).encode())
    return token.decode()


def secret_box_for(settings: Settings) -> SecretBox:
    if settings.auth.server_key is not None:
        return SecretBox(settings.auth.server_key.get_secret_value().encode())
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
            cache_seconds=settings.auth.cache_seconds,
            default_rate_limit=settings.auth.default_rate_limit,
            login_failure_limit=settings.auth.login_failure_limit,
            login_session_hours=settings.auth.login_session_hours,
        )
        first_admin = (
            await bootstrap(sessions, identity, clock, admin_email=settings.auth.admin_email)
            if run_bootstrap
            else None
        )
        services = _assemble(settings, clock, engine, sessions, identity, first_admin)
        if run_bootstrap:
            await services.images.register_host_python()
            await services.queues.service.ensure_default("default")  # the first domain's
    except BaseException:
        await engine.dispose()
        raise
    return services

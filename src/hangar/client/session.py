"""Client sessions: :class:`Session` (plain calls) and :class:`AsyncSession` (coroutines).

A session owns one HTTP connection pool, negotiates the API version on open and exposes the
function classes (``session.ComputeSession``, ``session.VFolder``, ...) bound to itself.
The synchronous session runs the same coroutines on a private event-loop thread.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import inspect
import sys
import threading
import warnings
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx

from hangar.client import state
from hangar.client.config import (
    MIN_API_VERSION,
    APIConfig,
    get_config,
    parse_api_version,
)
from hangar.client.exceptions import APIVersionWarning, BackendAPIError, BackendClientError

if TYPE_CHECKING:
    from hangar.client.func.admin import Admin
    from hangar.client.func.agent import Agent
    from hangar.client.func.auth import Auth
    from hangar.client.func.base import BaseFunction
    from hangar.client.func.dotfile import Dotfile
    from hangar.client.func.keypair import KeyPair
    from hangar.client.func.manager import Manager
    from hangar.client.func.scaling_group import ScalingGroup
    from hangar.client.func.session import ComputeSession
    from hangar.client.func.session_template import SessionTemplate
    from hangar.client.func.vfolder import VFolder

__all__ = ["AsyncSession", "BaseSession", "Session", "api_session"]

T = TypeVar("T")

api_session: ContextVar[BaseSession] = ContextVar("api_session")
"""The session most recently opened in this context (used by unbound function classes)."""

FUNCTION_NAMES = (
    "Admin",
    "Agent",
    "Auth",
    "ComputeSession",
    "Dotfile",
    "KeyPair",
    "Manager",
    "ScalingGroup",
    "SessionTemplate",
    "VFolder",
)


def _function_classes() -> dict[str, type[BaseFunction]]:
    from hangar.client.func import (
        admin,
        agent,
        auth,
        dotfile,
        keypair,
        manager,
        scaling_group,
        session,
        session_template,
        vfolder,
    )

    return {
        "Admin": admin.Admin,
        "Agent": agent.Agent,
        "Auth": auth.Auth,
        "ComputeSession": session.ComputeSession,
        "Dotfile": dotfile.Dotfile,
        "KeyPair": keypair.KeyPair,
        "Manager": manager.Manager,
        "ScalingGroup": scaling_group.ScalingGroup,
        "SessionTemplate": session_template.SessionTemplate,
        "VFolder": vfolder.VFolder,
    }


def _bind(cls: type[BaseFunction], session: BaseSession) -> type[BaseFunction]:
    """A subclass of ``cls`` whose calls go through ``session``."""
    namespace = {"_bound": session, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    return type(cls.__name__, (cls,), namespace)


def _timeout(config: APIConfig) -> httpx.Timeout:
    read = config.read_timeout or None
    return httpx.Timeout(connect=config.connection_timeout, read=read, write=None, pool=None)


class BaseSession(metaclass=abc.ABCMeta):
    """What both sessions share: the configuration, the HTTP client and the API version."""

    api_version: tuple[int, str]
    http: httpx.AsyncClient

    def __init__(self, *, config: APIConfig | None = None, proxy_mode: bool = False) -> None:
        self._closed = False
        self._config = config if config is not None else get_config()
        self._proxy_mode = proxy_mode
        self._context_token: Token[BaseSession] | None = None
        self.api_version = parse_api_version(self._config.version)

    def _make_http(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            timeout=_timeout(self._config),
            verify=not self._config.skip_sslcert_validation,
            follow_redirects=False,
        )
        if self._config.endpoint_type == "session":
            for name, value in state.load_cookies(str(self._config.endpoint)).items():
                client.cookies.set(name, value)
        return client

    @property
    def proxy_mode(self) -> bool:
        """If True, opening the session skips API version negotiation."""
        return self._proxy_mode

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def config(self) -> APIConfig:
        """The configuration used by this session."""
        return self._config

    @abc.abstractmethod
    def open(self) -> Any:
        """Initialize the session and negotiate the API version."""

    @abc.abstractmethod
    def close(self) -> Any:
        """Terminate the session and release its connections."""

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion for a synchronous caller."""
        coro.close()
        raise BackendClientError("This operation needs a synchronous Session.")

    def iterate_sync(self, agen: AsyncIterator[T]) -> Iterator[T]:
        raise BackendClientError("This operation needs a synchronous Session.")

    def _enter_context(self) -> None:
        self._context_token = api_session.set(self)

    def _leave_context(self) -> None:
        if self._context_token is not None:
            # closed from another context than the one that opened it
            with contextlib.suppress(ValueError):
                api_session.reset(self._context_token)
            self._context_token = None

    async def _negotiate(self) -> None:
        if not self._proxy_mode:
            self.api_version = await negotiate_api_version(self.http, self._config)

    async def _announce(self, manager: Any) -> None:
        handler = self._config.announcement_handler
        if handler is None:
            return
        try:
            payload = await manager.get_announcement()
        except (BackendClientError, BackendAPIError):
            return
        if payload.get("enabled") and payload.get("message"):
            handler(payload["message"])


async def negotiate_api_version(http: httpx.AsyncClient, config: APIConfig) -> tuple[int, str]:
    """``min(server, client)`` API version; the client's own when the probe fails."""
    client_version = parse_api_version(config.version)
    headers = {"User-Agent": config.user_agent}
    for _ in config.endpoints:
        base = str(config.endpoint).rstrip("/")
        probe = base + ("/func/" if config.endpoint_type == "session" else "/")
        try:
            response = await http.get(probe, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            config.rotate_endpoints()
            continue
        except httpx.HTTPError:
            return client_version
        try:
            response.raise_for_status()
            server_version = parse_api_version(response.json()["version"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return client_version
        if server_version > client_version:
            warnings.warn(
                "The server API version is higher than the client's.",
                category=APIVersionWarning,
                stacklevel=3,
            )
        if server_version < MIN_API_VERSION:
            warnings.warn(
                "The server is too old for this client.", category=APIVersionWarning, stacklevel=3
            )
        return min(server_version, client_version)
    return client_version


def _quiet_interrupt() -> KeyboardInterrupt:
    """A KeyboardInterrupt that, left uncaught, ends the program with one line instead of a
    traceback (the process still ends as interrupted, exit status 130 in shells)."""
    exc = KeyboardInterrupt()
    exc.hangar_cancelled = True  # type: ignore[attr-defined]
    previous = sys.excepthook
    if not getattr(previous, "hangar_quiet", False):

        def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
            if getattr(value, "hangar_cancelled", False):
                sys.stderr.write("Interrupted; the request in progress was cancelled.\n")
                return
            previous(kind, value, tb)

        hook.hangar_quiet = True  # type: ignore[attr-defined]
        sys.excepthook = hook
    return exc


class _LoopThread:
    """An event loop on a daemon thread that runs coroutines for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="hangar-client", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            # Ctrl+C: drop the request in flight, then let the interrupt go on quietly
            future.cancel()
            raise _quiet_interrupt() from None

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self.run(agen.__anext__())  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
        finally:
            closer = getattr(agen, "aclose", None)
            if closer is not None and self.loop.is_running():
                self.run(closer())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class SyncFunctions:
    """Wraps a bound function class (or one of its instances) so calls return plain values."""

    _target: Any
    _session: Session

    def __init__(self, target: Any, session: Session) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_session", session)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if inspect.iscoroutinefunction(attr):

            def call(*args: Any, **kwargs: Any) -> Any:
                return self._wrap(self._session.run_sync(attr(*args, **kwargs)))

            return call
        if inspect.isasyncgenfunction(attr):

            def iterate(*args: Any, **kwargs: Any) -> Iterator[Any]:
                return self._session.iterate_sync(attr(*args, **kwargs))

            return iterate
        if callable(attr) and not isinstance(attr, type):

            def plain(*args: Any, **kwargs: Any) -> Any:
                return self._wrap(attr(*args, **kwargs))

            return plain
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrap(self._target(*args, **kwargs))

    def _wrap(self, value: Any) -> Any:
        from hangar.client.func.base import BaseFunction

        if isinstance(value, BaseFunction):
            return SyncFunctions(value, self._session)
        return value

    def __repr__(self) -> str:
        return f"<sync {self._target!r}>"


class Session(BaseSession):
    """API calls as plain functions; streaming calls (WebSocket, SSE) need AsyncSession."""

    Admin: Any
    Agent: Any
    Auth: Any
    ComputeSession: Any
    Dotfile: Any
    KeyPair: Any
    Manager: Any
    ScalingGroup: Any
    SessionTemplate: Any
    VFolder: Any

    def __init__(self, *, config: APIConfig | None = None, proxy_mode: bool = False) -> None:
        super().__init__(config=config, proxy_mode=proxy_mode)
        self._worker = _LoopThread()

        async def make() -> httpx.AsyncClient:
            return self._make_http()

        self.http = self._worker.run(make())
        for name, cls in _function_classes().items():
            setattr(self, name, SyncFunctions(_bind(cls, self), self))

    @property
    def worker_thread(self) -> threading.Thread:
        """The thread that runs the asynchronous implementations of the calls."""
        return self._worker.thread

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise BackendClientError("The session is closed.")
        return self._worker.run(coro)

    def iterate_sync(self, agen: AsyncIterator[T]) -> Iterator[T]:
        return self._worker.iterate(agen)

    def open(self) -> None:
        self._enter_context()
        self._worker.run(self._negotiate())

    def close(self) -> None:
        """Close the connection pool, then stop and join the worker thread."""
        if self._closed:
            return
        self._worker.run(self.http.aclose())
        self._closed = True
        self._worker.stop()
        self._leave_context()

    def __enter__(self) -> Session:
        if self._closed:
            raise BackendClientError("Cannot reuse a closed session.")
        self.open()
        self._worker.run(self._announce(self.Manager._target))
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        self.close()
        return False


class AsyncSession(BaseSession):
    """API calls as coroutines, plus WebSocket and Server-Sent Events streams."""

    Admin: type[Admin]
    Agent: type[Agent]
    Auth: type[Auth]
    ComputeSession: type[ComputeSession]
    Dotfile: type[Dotfile]
    KeyPair: type[KeyPair]
    Manager: type[Manager]
    ScalingGroup: type[ScalingGroup]
    SessionTemplate: type[SessionTemplate]
    VFolder: type[VFolder]

    def __init__(self, *, config: APIConfig | None = None, proxy_mode: bool = False) -> None:
        super().__init__(config=config, proxy_mode=proxy_mode)
        self.http = self._make_http()
        for name, cls in _function_classes().items():
            setattr(self, name, _bind(cls, self))

    async def open(self) -> None:
        self._enter_context()
        await self._negotiate()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.http.aclose()
        self._leave_context()

    async def __aenter__(self) -> AsyncSession:
        if self._closed:
            raise BackendClientError("Cannot reuse a closed session.")
        await self.open()
        await self._announce(self.Manager)
        return self

    async def __aexit__(self, *exc_info: object) -> Literal[False]:
        await self.close()
        return False

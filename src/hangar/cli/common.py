"""What the client commands share: the output format, opening a session, turning errors
into one clear line."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from rich.markdown import Markdown
from rich.panel import Panel

from hangar.cli.render import console, emit, err_console, fail
from hangar.client import APIConfig, AsyncSession, BackendAPIError, BackendClientError
from hangar.client.config import client_config_path

T = TypeVar("T")


@dataclass
class Output:
    """The global ``--output`` choice, shared by every command."""

    json: bool = False


OUTPUT = Output()


@dataclass
class ClientContext:
    """What error lines need to know about the configuration in use."""

    endpoint_type: str = "api"


CLIENT = ClientContext()
REFUSED = "Unauthorized access"  # the server's message when a valid caller lacks privilege


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def show(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows as a table, or as ``{"count", "items"}`` JSON with ``--output json``."""
    emit(title, columns, rows, as_json=OUTPUT.json)


def done(message: str, data: Mapping[str, Any] | None = None) -> None:
    """A success line, or ``data`` (plus the message) as JSON."""
    if OUTPUT.json:
        print_json({"ok": True, "message": message, **(data or {})})
    else:
        console.print(f"[green]✓[/] {message}")


def _announce(message: str) -> None:
    err_console.print(Panel(Markdown(message), title="Announcement", expand=False))


def make_config() -> APIConfig:
    """The client configuration, or exit with one line saying what is missing."""
    try:
        config = APIConfig(announcement_handler=None if OUTPUT.json else _announce)
    except ValueError as exc:
        fail(f"Invalid client configuration: {exc}")
        raise typer.Exit(2) from exc
    CLIENT.endpoint_type = config.endpoint_type
    if config.endpoint_type == "api" and not config.access_key:
        fail(
            "No API keypair: set BACKEND_ACCESS_KEY and BACKEND_SECRET_KEY, or start "
            f"`hangar server` once to write {client_config_path()}."
        )
        raise typer.Exit(2)
    return config


def open_session() -> AsyncSession:
    return AsyncSession(config=make_config())


def describe(exc: BackendAPIError) -> str:
    """One line for an API error, with a hint for the usual causes."""
    data = exc.data if isinstance(exc.data, dict) else {}
    kind = str(data.get("type", "")).rsplit("/", 1)[-1]
    msg = str(data.get("msg") or "")
    # a generic title ("Missing or invalid API parameters.") says less than the message
    text = f"{msg or exc.title} ({exc.status})" if kind == "invalid-api-params" else None
    if exc.status == 401 and msg == REFUSED:
        if CLIENT.endpoint_type == "session":
            text = "Not allowed (401): log in with `hangar login`, or this needs an administrator."
        else:
            text = "Permission denied (401): this needs an administrator's keypair."
    elif kind == "auth-failed" or exc.status == 401:
        hint = "check the access and secret keys"
        text = f"Authentication failed: {msg or data.get('title') or exc.reason}"
        text += f" ({exc.status}); {hint}."
    elif exc.status == 403:
        text = f"Permission denied ({exc.status}): {msg or exc.title}"
    elif kind == "graphql-error":
        messages = "; ".join(str(e.get("message")) for e in data.get("data", []))
        text = f"GraphQL error: {messages}"
    elif kind == "too-many-sessions-matched":
        names = ", ".join(str(m.get("name")) for m in data.get("data", {}).get("matches", []))
        text = f"{exc.message} ({exc.status}): {names}"
    return text or f"{exc.message} ({exc.status})"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; API and connection errors end it with one line, exit 1."""
    try:
        return asyncio.run(coro)
    except BackendAPIError as exc:
        fail(describe(exc))
        raise typer.Exit(1) from None
    except BackendClientError as exc:
        fail(str(exc))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def read_input(path: str | None) -> str:
    """The content of ``path``, or of stdin when no path is given."""
    if path:
        try:
            with open(path) as f:
                return f.read()
        except OSError as exc:
            fail(f"Cannot read {path}: {exc.strerror}")
            raise typer.Exit(2) from exc
    if sys.stdin.isatty():
        err_console.print("Reading from standard input (end with Ctrl+D)...")
    return sys.stdin.read()


def parse_pairs(values: Sequence[str], what: str) -> dict[str, str]:
    """``["A=1", "B=2"]`` → ``{"A": "1", "B": "2"}``; exits with a clear line otherwise."""
    result = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            fail(f"Invalid {what} {value!r}: expected KEY=VALUE.")
            raise typer.Exit(2)
        result[key] = val
    return result


def parse_mounts(values: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``-m name`` or ``-m name=/path``: the names and the custom mount paths."""
    names, paths = [], {}
    for value in values:
        name, sep, path = value.partition("=")
        names.append(name)
        if sep:
            paths[name] = path
    return names, paths

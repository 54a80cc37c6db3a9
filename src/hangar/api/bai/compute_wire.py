"""Compute values in Backend.AI's wire forms: result objects of runs, Service Port Objects,
the status of a create call, and ``preopen_ports`` as the client sends them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from hangar.core.compute.execution import ConsoleItem, RunResult
from hangar.core.compute.models import CreateOutcome
from hangar.core.compute.ports import (
    MAX_SPEC_PORTS,
    RESERVED_PORTS,
    ExposedPort,
    PortProtocol,
    PortSource,
    PortSpec,
)
from hangar.core.errors import InvalidRequest


def console(items: Sequence[ConsoleItem]) -> list[list[Any]]:
    """Console items: ``[stream, text]``, rich media as ``["media", [mime, data]]``."""
    return [
        ["media", [item.mime, item.text]] if item.stream == "media" else [item.stream, item.text]
        for item in items
    ]


def output_files(session_id: uuid.UUID, names: Sequence[str] | None) -> list[dict[str, str]] | None:
    """Files under /home/work/.output with where ``download_single`` serves them."""
    if not names:
        return None
    base = f"/session/{session_id}/download_single?file=.output/"
    return [{"name": name, "url": base + name} for name in names]


def run_result(result: RunResult, *, with_run_id: bool = True) -> dict[str, Any]:
    """A result object (§4.2)."""
    body: dict[str, Any] = {
        "status": result.status.value,
        "exitCode": result.exit_code,
        "options": None if result.password is None else {"is_password": result.password},
        "files": output_files(result.session_id, result.files),
        "console": console(result.console),
    }
    if result.error:  # Hangar's addition: the exit code of a query cell stays 0
        body["error"] = result.error
    if with_run_id:
        body["runId"] = result.run_id
    return body


def service_port(port: ExposedPort) -> dict[str, Any]:
    """A Service Port Object; the ports a session's spec exposes are ``preopen`` ones."""
    protocol = "preopen" if port.source is PortSource.SPEC else port.protocol.value
    body: dict[str, Any] = {
        "name": port.name,
        "protocol": protocol,
        "ports": list(port.ports),
        "container_ports": list(port.ports),
    }
    if protocol == PortProtocol.HTTP.value:
        body["url_template"] = "http://{host}:{port}/"
    return body


def create_status(outcome: CreateOutcome) -> str:
    """The ``status`` of a create answer: the session's, or TIMEOUT when the wait ran out."""
    return "TIMEOUT" if outcome.timed_out else outcome.status.value


def preopen_ports(ports: Sequence[int | str] | None) -> tuple[PortSpec, ...]:
    """``preopen_ports`` (the client sends numeric strings): distinct ports 1024-65535 the
    session will listen on, reached through the app proxy. Raises InvalidRequest."""
    chosen: list[int] = []
    for value in ports or ():
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or not 1024 <= int(text) <= 65535:
            raise InvalidRequest(f"preopen_ports: {value!r} is not a port number 1024-65535")
        if int(text) in RESERVED_PORTS:
            raise InvalidRequest(f"preopen_ports: {text} is the port of a built-in app")
        if int(text) not in chosen:
            chosen.append(int(text))
    if len(chosen) > MAX_SPEC_PORTS:
        raise InvalidRequest(f"preopen_ports: at most {MAX_SPEC_PORTS} ports")
    return tuple(PortSpec(number) for number in chosen)

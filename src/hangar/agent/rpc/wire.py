"""The messages between the manager and a remote agent, as pydantic models over the node's
own dataclasses (bytes travel as base64), and the errors that cross the wire by name.

Every request and response body is one of these models in JSON; run outputs stream as one
``Output`` (or a final ``Failure``) per line.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hangar.agent import node_errors
from hangar.agent.errors import AgentError
from hangar.agent.kernels.jupyter import QueryKernelFailed
from hangar.agent.models import (
    BatchSteps,
    ContainerStats,
    FileEntry,
    ImagePull,
    KernelRequest,
    NodeInfo,
    NodeUsage,
    RunOutput,
)
from hangar.agent.rpc.runs import RunRefused
from hangar.agent.services import AppLaunchFailed, UnknownApp

TOKEN_HEADER = "Authorization"
PROTOCOL = "hangar-agent/1"


class Wire(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )


class Heartbeat(Wire):
    """What a remote agent tells the manager every few seconds (and on start)."""

    protocol: str = PROTOCOL
    agent_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://\S+$")
    boot: str = Field(min_length=1, max_length=64)  # new with every start of the agent process
    scaling_group: str = Field(default="default", min_length=1, max_length=64)
    kernels: list[uuid.UUID] = Field(default_factory=list, max_length=100_000)


class Info(Wire):
    info: NodeInfo


class CreateKernel(Wire):
    request: KernelRequest


class Stats(Wire):
    stats: ContainerStats | None


class Usage(Wire):
    usage: NodeUsage


class PullAsked(Wire):
    reference: str


class PullStatus(Wire):
    pull: ImagePull | None = None


class RunBatch(Wire):
    steps: BatchSteps


class RunQuery(Wire):
    code: str
    timeout: float | None = None


class Output(Wire):
    output: RunOutput


class Input(Wire):
    text: str


class Complete(Wire):
    code: str
    options: dict[str, Any] | None = None


class Strings(Wire):
    """Completion matches, output file names."""

    items: list[str]


class Text(Wire):
    text: str


class Upload(Wire):
    files: list[tuple[str, bytes]]


class Download(Wire):
    paths: list[str]


class Archives(Wire):
    archives: list[bytes]


class ListFiles(Wire):
    path: str


class Listing(Wire):
    path: str
    entries: list[FileEntry]


class Resize(Wire):
    op: str = "resize"
    rows: int = Field(ge=1, le=1000)
    cols: int = Field(ge=1, le=1000)


class ShipRun(Wire):
    """A queued task's run directory (a tar archive) for the kernel ``kernel_id``."""

    key: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")
    kernel_id: uuid.UUID
    archive: bytes = Field(max_length=512 << 20)


class Failure(Wire):
    """An error the node raised on purpose, by class name, with its user-facing message."""

    error: str
    message: str


# Errors that cross the wire keep their class; any other becomes a plain AgentError.
ERRORS: dict[str, type[AgentError]] = {
    cls.__name__: cls
    for cls in (
        node_errors.UnknownKernel,
        node_errors.KernelExists,
        node_errors.InvalidKernelRequest,
        node_errors.KernelStartFailed,
        node_errors.FileError,
        node_errors.PathEscapes,
        node_errors.FileMissing,
        node_errors.NotADirectory,
        node_errors.IsADirectory,
        node_errors.FileTooLarge,
        node_errors.FileAccessFailed,
        UnknownApp,
        AppLaunchFailed,
        QueryKernelFailed,
        RunRefused,
    )
}


def failure(exc: AgentError) -> Failure:
    return Failure(error=type(exc).__name__, message=str(exc) or type(exc).__name__)


def raise_failure(body: Failure) -> None:
    raise ERRORS.get(body.error, AgentError)(body.message)

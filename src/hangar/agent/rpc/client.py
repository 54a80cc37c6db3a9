"""The manager's side of a remote agent: :class:`NodeProxy` has the methods of
:class:`~hangar.agent.node.Node` and raises the node's own errors, so the core's node adapter
serves a remote node exactly as it serves the embedded one."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from hangar.agent.errors import AgentError
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
from hangar.agent.rpc import wire

W = TypeVar("W", bound=wire.Wire)
CALL_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
LONG_TIMEOUT = httpx.Timeout(None, connect=5.0)  # kernel starts, runs: bounded by the node
# Every running cell or batch run holds a connection for as long as it runs.
LIMITS = httpx.Limits(max_connections=1024, max_keepalive_connections=32)


class AgentUnreachable(AgentError):
    """The agent did not answer (down, restarting, or the network failed)."""


class NodeProxy:
    """A remote node at ``url`` (``http://host:port``), called with the shared agent token."""

    def __init__(self, url: str, token: str, agent_id: str) -> None:
        self.url, self.agent_id = url.rstrip("/"), agent_id
        self._headers = {wire.TOKEN_HEADER: f"Bearer {token}"}
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=self._headers, timeout=CALL_TIMEOUT, limits=LIMITS
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: wire.Wire | None = None,
        reply: type[W] | None = None,
        *,
        timeout: httpx.Timeout = CALL_TIMEOUT,  # noqa: ASYNC109 - httpx's per-request limit
    ) -> W | None:
        content = body.model_dump_json() if body is not None else None
        try:
            response = await self._http.request(
                method, path, content=content, timeout=timeout,
                headers={"Content-Type": "application/json"} if content is not None else None,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise AgentUnreachable(f"The agent at {self.url} did not answer: {exc}") from exc
        if response.status_code >= 400:
            _raise_for(response.status_code, response.content)
        if reply is None:
            return None
        try:
            return reply.model_validate_json(response.content)
        except ValidationError as exc:
            raise AgentError(f"The agent at {self.url} sent a malformed reply.") from exc

    async def _get(
        self,
        method: str,
        path: str,
        body: wire.Wire | None,
        reply: type[W],
        *,
        timeout: httpx.Timeout = CALL_TIMEOUT,  # noqa: ASYNC109 - httpx's per-request limit
    ) -> W:
        result = await self._call(method, path, body, reply, timeout=timeout)
        assert result is not None
        return result

    async def _stream(self, path: str, body: wire.Wire) -> AsyncGenerator[RunOutput, None]:
        request = self._http.build_request(
            "POST", path, content=body.model_dump_json(), timeout=LONG_TIMEOUT,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise AgentUnreachable(f"The agent at {self.url} did not answer: {exc}") from exc
        try:
            if response.status_code >= 400:
                _raise_for(response.status_code, await response.aread())
            async for line in response.aiter_lines():
                if not line:
                    continue
                data = json.loads(line)
                if "error" in data:
                    wire.raise_failure(wire.Failure.model_validate(data))
                yield wire.Output.model_validate(data).output
        except httpx.HTTPError as exc:
            raise AgentUnreachable(f"The agent at {self.url} broke off the run: {exc}") from exc
        finally:
            await response.aclose()

    def _kernel(self, kernel_id: uuid.UUID, tail: str = "") -> str:
        return f"/kernels/{kernel_id}{tail}"

    # -- the node's methods --------------------------------------------------------------

    async def info(self) -> NodeInfo:
        return (await self._get("GET", "/info", None, wire.Info)).info

    async def usage(self) -> NodeUsage:
        return (await self._get("GET", "/usage", None, wire.Usage)).usage

    async def image_pull(self, reference: str) -> ImagePull | None:
        body = wire.PullAsked(reference=reference)
        return (await self._get("POST", "/images/pull", body, wire.PullStatus)).pull

    async def create_kernel(self, request: KernelRequest) -> None:
        body = wire.CreateKernel(request=request)
        await self._call("POST", "/kernels", body, timeout=LONG_TIMEOUT)

    async def destroy_kernel(self, kernel_id: uuid.UUID) -> ContainerStats | None:
        return (await self._get("DELETE", self._kernel(kernel_id), None, wire.Stats)).stats

    async def restart_kernel(self, kernel_id: uuid.UUID) -> None:
        await self._call("POST", self._kernel(kernel_id, "/restart"), timeout=LONG_TIMEOUT)

    async def suspend_kernel(self, kernel_id: uuid.UUID) -> None:
        await self._call("POST", self._kernel(kernel_id, "/suspend"), timeout=LONG_TIMEOUT)

    def run_batch(self, kernel_id: uuid.UUID, steps: BatchSteps) -> AsyncGenerator[RunOutput, None]:
        return self._stream(self._kernel(kernel_id, "/batch"), wire.RunBatch(steps=steps))

    def run_query(
        self,
        kernel_id: uuid.UUID,
        code: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the cell's limit
    ) -> AsyncGenerator[RunOutput, None]:
        body = wire.RunQuery(code=code, timeout=timeout)
        return self._stream(self._kernel(kernel_id, "/query"), body)

    async def send_input(self, kernel_id: uuid.UUID, text: str) -> None:
        await self._call("POST", self._kernel(kernel_id, "/input"), wire.Input(text=text))

    async def complete(
        self, kernel_id: uuid.UUID, code: str, options: Mapping[str, Any] | None
    ) -> list[str]:
        body = wire.Complete(code=code, options=dict(options) if options is not None else None)
        return (await self._get("POST", self._kernel(kernel_id, "/complete"), body,
                                wire.Strings)).items  # fmt: skip

    async def interrupt(self, kernel_id: uuid.UUID) -> None:
        await self._call("POST", self._kernel(kernel_id, "/interrupt"))

    async def stats(self, kernel_id: uuid.UUID) -> ContainerStats:
        stats = (await self._get("GET", self._kernel(kernel_id, "/stats"), None, wire.Stats)).stats
        return stats or ContainerStats()

    async def logs(self, kernel_id: uuid.UUID) -> str:
        return (await self._get("GET", self._kernel(kernel_id, "/logs"), None, wire.Text)).text

    async def upload(self, kernel_id: uuid.UUID, files: Sequence[tuple[str, bytes]]) -> None:
        body = wire.Upload(files=list(files))
        await self._call("POST", self._kernel(kernel_id, "/upload"), body, timeout=LONG_TIMEOUT)

    async def download(self, kernel_id: uuid.UUID, paths: Sequence[str]) -> list[bytes]:
        body = wire.Download(paths=list(paths))
        path = self._kernel(kernel_id, "/download")
        return (await self._get("POST", path, body, wire.Archives, timeout=LONG_TIMEOUT)).archives

    async def list_files(self, kernel_id: uuid.UUID, path: str) -> tuple[str, list[FileEntry]]:
        body = wire.ListFiles(path=path)
        reply = await self._get("POST", self._kernel(kernel_id, "/files"), body, wire.Listing)
        return reply.path, reply.entries

    async def output_files(self, kernel_id: uuid.UUID) -> list[str]:
        path = self._kernel(kernel_id, "/output-files")
        return (await self._get("GET", path, None, wire.Strings)).items

    async def shutdown(self) -> None:
        await self._call("POST", "/shutdown", timeout=LONG_TIMEOUT)

    async def ship_run(self, key: str, kernel_id: uuid.UUID, archive: bytes) -> str:
        """Hand a queued task's run directory to the agent for ``kernel_id``; returns where
        the agent put it (see :mod:`hangar.agent.rpc.runs`)."""
        body = wire.ShipRun(key=key, kernel_id=kernel_id, archive=archive)
        return (await self._get("POST", "/runs", body, wire.Text, timeout=LONG_TIMEOUT)).text

    async def open_app(self, kernel_id: uuid.UUID, app: str) -> RemoteStream:
        return await self._open(self._kernel(kernel_id, f"/apps/{app}"))

    async def open_terminal(self, kernel_id: uuid.UUID) -> RemoteStream:
        return await self._open(self._kernel(kernel_id, "/terminal"))

    async def _open(self, path: str) -> RemoteStream:
        url = "ws" + self.url[len("http") :] + path
        try:
            socket = await connect(
                url, additional_headers=self._headers, max_size=None, open_timeout=10,
                ping_interval=20, compression=None,
            )  # fmt: skip
        except (OSError, TimeoutError, InvalidStatus, WebSocketException) as exc:
            raise AgentUnreachable(f"The agent at {self.url} did not answer: {exc}") from exc
        try:
            ack = await socket.recv()
            data = json.loads(ack)
        except (ConnectionClosed, ValueError, TypeError) as exc:
            await socket.close()
            raise AgentError(f"The agent at {self.url} broke off the connection.") from exc
        if "error" in data:
            await socket.close()
            wire.raise_failure(wire.Failure.model_validate(data))
        return RemoteStream(socket)


class RemoteStream:
    """A service app connection or terminal attachment on a remote node (the core's
    ``AppStream``/``TerminalStream``): bytes in binary frames, control in text frames."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket

    async def read(self) -> bytes:
        while True:
            try:
                message = await self._socket.recv()
            except ConnectionClosed:
                return b""
            if isinstance(message, bytes):
                return message

    async def write(self, data: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._socket.send(data)

    async def resize(self, rows: int, cols: int) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._socket.send(wire.Resize(rows=rows, cols=cols).model_dump_json())

    async def restart(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._socket.send('{"op":"restart"}')

    async def close(self) -> None:
        await self._socket.close()


def _raise_for(status: int, content: bytes) -> None:
    try:
        body = wire.Failure.model_validate_json(content)
    except ValidationError:
        raise AgentError(f"The agent answered HTTP {status}.") from None
    wire.raise_failure(body)

"""ComputeSession: creating, driving and ending compute sessions."""

from __future__ import annotations

import base64
import json
import secrets
import tarfile
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from hangar.client.exceptions import BackendClientError
from hangar.client.func.base import BaseFunction, local_files, paginated
from hangar.client.progress import ReportingReader, transfer_bar
from hangar.client.request import (
    AttachedFile,
    SSEContextManager,
    WebSocketContextManager,
    WebSocketResponse,
)
from hangar.client.utils import Undefined, undefined

__all__ = ["ComputeSession", "StreamPty"]

LIST_FIELDS = (
    "name", "session_id", "group_name", "id", "image", "type", "status", "status_info",
    "status_changed", "result",
)  # fmt: skip
EXEC_MODES = {"query", "continue", "continued", "input", "batch", "complete"}


def _batch_opts(opts: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "clean": opts.get("clean"),
        "build": opts.get("build"),
        "buildLog": bool(opts.get("buildLog", False)),
        "exec": opts.get("exec"),
    }


def _defined(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not isinstance(v, Undefined)}


def _multipart_parts(content_type: str, body: bytes) -> list[bytes]:
    """The bodies of a multipart response, in order."""
    boundary = ""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise BackendClientError("The download response is not multipart.")
    parts = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        _, _, payload = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        parts.append(payload.removesuffix(b"\r\n"))
    return parts


def _extract_parts(parts: Sequence[bytes], dest: Path) -> list[str]:
    """Unpack tar archives into ``dest``; returns the member names."""
    names: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    for part in parts:
        with tempfile.TemporaryFile() as tmp:
            tmp.write(part)
            tmp.seek(0)
            with tarfile.open(fileobj=tmp) as tar:
                tar.extractall(path=dest, filter="data")
                names.extend(tar.getnames())
    return names


class ComputeSession(BaseFunction):
    """A compute session, addressed by its name (or its id once known).

    Calls act on the main kernel of multi-container sessions, except ``destroy`` and
    ``restart``, which act on all of them.
    """

    id: UUID | None
    created: bool
    status: str
    status_info: str
    service_ports: list[Any]
    domain: str
    group: str

    def __init__(self, name: str | None, owner_access_key: str | None = None) -> None:
        self.id = None
        self.name = name
        self.owner_access_key = owner_access_key
        self.created = False
        self.status = ""
        self.status_info = ""
        self.service_ports = []

    def __repr__(self) -> str:
        return f"<ComputeSession {self.name or self.id}>"

    @classmethod
    def from_session_id(cls, session_id: UUID) -> ComputeSession:
        session = cls(None)
        session.id = session_id
        return session

    # -- listing and creation -------------------------------------------------------------

    @classmethod
    async def paginated_list(
        cls,
        status: str | None = None,
        access_key: str | None = None,
        *,
        fields: Sequence[Any] = LIST_FIELDS,
        page_offset: int = 0,
        page_size: int = 20,
        filter: str | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        """One page of sessions: ``{"total_count", "items"}`` (``status``: comma list)."""
        return await paginated(
            cls,
            "compute_session_list",
            {
                "status": (status, "String"),
                "access_key": (access_key, "String"),
                "filter": (filter, "String"),
                "order": (order, "String"),
            },
            fields,
            page_offset=page_offset,
            page_size=page_size,
        )

    @classmethod
    async def hello(cls) -> Any:
        """The server's version information."""
        return await cls._call("GET", "/")

    @classmethod
    async def get_task_logs(cls, task_id: str, *, chunk_size: int = 8192) -> AsyncIterator[bytes]:
        """The stored console log of a batch session, chunk by chunk."""
        rqst = cls._request("GET", "/session/_/logs", params={"taskId": task_id})
        async with rqst.fetch() as resp:
            async for chunk in resp.iter_chunks():
                yield chunk

    @classmethod
    async def get_or_create(
        cls,
        image: str,
        *,
        name: str | None = None,
        client_token: str | None = None,
        type_: str = "interactive",
        starts_at: str | None = None,
        enqueue_only: bool = False,
        max_wait: int = 0,
        no_reuse: bool = False,
        dependencies: Sequence[str] | None = None,
        callback_url: str | None = None,
        mounts: Sequence[str] | None = None,
        mount_map: Mapping[str, str] | None = None,
        envs: Mapping[str, str] | None = None,
        startup_command: str | None = None,
        resources: Mapping[str, Any] | None = None,
        resource_opts: Mapping[str, Any] | None = None,
        cluster_size: int = 1,
        cluster_mode: Literal["single-node", "multi-node"] = "single-node",
        domain_name: str | None = None,
        group_name: str | None = None,
        bootstrap_script: str | None = None,
        tag: str | None = None,
        scaling_group: str | None = None,
        owner_access_key: str | None = None,
        preopen_ports: Sequence[int] | None = None,
        assign_agent: Sequence[str] | None = None,
        restart_policy: Literal["never", "on-failure", "always"] | None = None,
    ) -> ComputeSession:
        """Create a session, or reuse the running one with the same name and image.

        ``client_token`` is the older spelling of ``name``. Without a name, a new session
        named ``pysdk-<hex>`` is created. The call waits until the session runs, fails, or
        ``max_wait`` seconds pass (status ``TIMEOUT``); ``enqueue_only`` returns at once.
        ``restart_policy`` (Hangar's own): when a batch session's command runs again.
        """
        name = name or client_token
        if name is None:
            name = f"pysdk-{secrets.token_hex(5)}"
        elif not 4 <= len(name) <= 64:
            raise BackendClientError("A session name must be 4 to 64 characters long.")
        config = cls._session().config
        all_mounts = list(dict.fromkeys([*(mounts or ()), *config.vfolder_mounts]))
        session_config: dict[str, Any] = {
            "mounts": all_mounts,
            "environ": dict(envs or {}),
            "resources": dict(resources or {}),
            "resource_opts": dict(resource_opts or {}),
            "scalingGroup": scaling_group,
            "mount_map": dict(mount_map or {}),
            "preopen_ports": [str(p) for p in preopen_ports or ()],
        }
        if assign_agent is not None:
            session_config["agentList"] = list(assign_agent)
        if restart_policy is not None:
            session_config["restartPolicy"] = restart_policy
        body = {
            "tag": tag,
            "name": name,
            "config": session_config,
            "dependencies": list(dependencies) if dependencies is not None else None,
            "callback_url": callback_url,
            "clusterSize": cluster_size,
            "clusterMode": cluster_mode,
            "starts_at": starts_at,
            "bootstrap_script": bootstrap_script,
            "owner_access_key": owner_access_key,
            "domain": domain_name or config.domain,
            "group": group_name or config.group,
            "type": type_,
            "enqueueOnly": enqueue_only,
            "maxWaitSeconds": max_wait,
            "reuseIfExists": not no_reuse,
            "startupCommand": startup_command,
            "image": image,
        }
        data = await cls._call("POST", "/session", json=body)
        return cls._from_created(
            data, name, owner_access_key, str(body["domain"]), str(body["group"])
        )

    @classmethod
    def _from_created(
        cls, data: Mapping[str, Any], name: str, owner: str | None, domain: str, group: str
    ) -> ComputeSession:
        session = cls(data.get("sessionName") or name, owner)
        if data.get("sessionId"):
            session.id = UUID(str(data["sessionId"]))
        session.created = bool(data.get("created", True))
        session.status = str(data.get("status", "RUNNING"))
        session.service_ports = list(data.get("servicePorts") or data.get("service_ports") or [])
        session.domain, session.group = domain, group
        return session

    @classmethod
    async def create_from_template(
        cls,
        template_id: str,
        *,
        name: str | Undefined = undefined,
        type_: str | Undefined = undefined,
        starts_at: str | None = None,
        enqueue_only: bool | Undefined = undefined,
        max_wait: int | Undefined = undefined,
        dependencies: Sequence[str] | None = None,
        callback_url: str | None = None,
        no_reuse: bool | Undefined = undefined,
        image: str | Undefined = undefined,
        mounts: Sequence[str] | Undefined = undefined,
        mount_map: Mapping[str, str] | Undefined = undefined,
        envs: Mapping[str, str] | Undefined = undefined,
        startup_command: str | Undefined = undefined,
        resources: Mapping[str, Any] | Undefined = undefined,
        resource_opts: Mapping[str, Any] | Undefined = undefined,
        cluster_size: int | Undefined = undefined,
        cluster_mode: str | Undefined = undefined,
        domain_name: str | Undefined = undefined,
        group_name: str | Undefined = undefined,
        bootstrap_script: str | Undefined = undefined,
        tag: str | Undefined = undefined,
        scaling_group: str | Undefined = undefined,
        owner_access_key: str | Undefined = undefined,
    ) -> ComputeSession:
        """Start a session from a stored template; given arguments override the template's
        values (mounts are replaced, not appended)."""
        config = cls._session().config
        session_name = name if isinstance(name, str) else f"pysdk-{secrets.token_hex(5)}"
        body = _defined(
            {
                "template_id": template_id,
                "name": session_name,
                "type": type_,
                "image": image,
                "enqueueOnly": enqueue_only,
                "maxWaitSeconds": max_wait,
                "reuseIfExists": undefined if isinstance(no_reuse, Undefined) else not no_reuse,
                "startupCommand": startup_command,
                "bootstrap_script": bootstrap_script,
                "tag": tag,
                "owner_access_key": owner_access_key,
                "clusterSize": cluster_size,
                "clusterMode": cluster_mode,
                "domain": domain_name if isinstance(domain_name, str) else config.domain,
                "group": group_name if isinstance(group_name, str) else config.group,
            }
        )
        body["starts_at"] = starts_at
        if dependencies is not None:
            body["dependencies"] = list(dependencies)
        if callback_url is not None:
            body["callback_url"] = callback_url
        session_config = _defined(
            {
                "mounts": mounts,
                "mount_map": mount_map,
                "environ": envs,
                "resources": resources,
                "resource_opts": resource_opts,
                "scalingGroup": scaling_group,
            }
        )
        if session_config:
            body["config"] = session_config
        data = await cls._call("POST", "/session/_/create-from-template", json=body)
        owner = owner_access_key if isinstance(owner_access_key, str) else None
        return cls._from_created(data, session_name, owner, str(body["domain"]), str(body["group"]))

    # -- one session ----------------------------------------------------------------------

    @property
    def _ref(self) -> str:
        if self.name:
            return self.name
        if self.id:
            return str(self.id)
        raise BackendClientError("The session has neither a name nor an id.")

    @property
    def _stream_ref(self) -> str:
        return str(self.id) if self.id else self._ref

    def _params(self, **extra: Any) -> dict[str, Any]:
        params = {k: v for k, v in extra.items() if v is not None}
        if self.owner_access_key:
            params["owner_access_key"] = self.owner_access_key
        return params

    async def destroy(self, *, forced: bool = False) -> Any:
        """End the session (running code is killed); returns its final statistics."""
        params = self._params(forced="true" if forced else None)
        return await self._call("DELETE", f"/session/{self._ref}", params=params)

    async def restart(self) -> None:
        """Restart the kernels, keeping the files in the scratch directory."""
        await self._call("PATCH", f"/session/{self._ref}", params=self._params())

    async def rename(self, new_id: str) -> None:
        await self._call("POST", f"/session/{self._ref}/rename", params=self._params(name=new_id))
        self.name = new_id

    async def interrupt(self) -> None:
        """Try to interrupt the code being executed."""
        await self._call("POST", f"/session/{self._ref}/interrupt", params=self._params())

    async def complete(self, code: str, opts: Mapping[str, Any] | None = None) -> Any:
        """Auto-completion candidates for ``code`` (the server's answer)."""
        opts = opts or {}
        body = {
            "code": code,
            "options": {
                "row": int(opts.get("row", 0)),
                "col": int(opts.get("col", 0)),
                "line": opts.get("line", ""),
                "post": opts.get("post", ""),
            },
        }
        return await self._call(
            "POST", f"/session/{self._ref}/complete", params=self._params(), json=body
        )

    async def get_info(self) -> Any:
        return await self._call("GET", f"/session/{self._ref}", params=self._params())

    async def get_logs(self) -> Any:
        """The console log: ``{"result": {"logs": str}}``."""
        return await self._call("GET", f"/session/{self._ref}/logs", params=self._params())

    async def execute(
        self,
        run_id: str | None = None,
        code: str | None = None,
        mode: str = "query",
        opts: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run code (or a batch clean/build/exec) and return one result object.

        Call again with the returned ``runId`` and mode ``continue`` (or ``input`` with the
        user's line as ``code``) until the status is ``finished``.
        """
        if mode == "user-input":
            mode = "input"
        if mode not in EXEC_MODES:
            raise BackendClientError(f"Invalid execution mode: {mode}")
        opts = opts or {}
        if mode == "complete":
            body: dict[str, Any] = {
                "code": code or "",
                "options": {
                    "row": int(opts.get("row", 0)),
                    "col": int(opts.get("col", 0)),
                    "line": opts.get("line", ""),
                    "post": opts.get("post", ""),
                },
            }
        else:
            body = {"mode": mode, "code": code if code is not None else "", "runId": run_id}
            if mode == "batch":
                body["options"] = _batch_opts(opts)
        data = await self._call("POST", f"/session/{self._ref}", params=self._params(), json=body)
        return data["result"]

    async def upload(
        self,
        files: Sequence[str | Path],
        basedir: str | Path | None = None,
        show_progress: bool = False,
    ) -> None:
        """Upload local files into ``/home/work``, keeping their paths relative to
        ``basedir`` (default: the current directory)."""
        pairs = local_files(files, basedir)
        relative = [rel for rel, _ in pairs]
        paths = [path for _, path in pairs]
        total = sum(p.stat().st_size for p in paths)
        with ExitStack() as stack, transfer_bar("Uploading", total, show=show_progress) as bar:
            attachments = [
                AttachedFile(rel, ReportingReader(stack.enter_context(path.open("rb")), bar),
                             "application/octet-stream")
                for rel, path in zip(relative, paths, strict=True)
            ]  # fmt: skip
            rqst = self._request("POST", f"/session/{self._ref}/upload", params=self._params())
            rqst.attach_files(attachments)
            async with rqst.fetch():
                pass

    async def download(
        self,
        files: Sequence[str | Path],
        dest: str | Path = ".",
        show_progress: bool = False,
    ) -> dict[str, list[str]]:
        """Download files (relative to ``/home/work``) into ``dest``; returns the names."""
        rqst = self._request(
            "GET",
            f"/session/{self._ref}/download",
            params=self._params(),
            json={"files": [str(f) for f in files]},
        )
        chunks = []
        async with rqst.fetch() as resp:
            with transfer_bar("Downloading", resp.content_length, show=show_progress) as bar:
                async for chunk in resp.iter_chunks():
                    chunks.append(chunk)
                    bar(len(chunk))
            content_type = resp.headers.get("content-type", "")
        names = _extract_parts(_multipart_parts(content_type, b"".join(chunks)), Path(dest))
        return {"file_names": names}

    async def list_files(self, path: str | Path = ".") -> Any:
        """The directory listing of ``path`` (relative to ``/home/work``)."""
        return await self._call(
            "GET", f"/session/{self._ref}/files", params=self._params(), json={"path": str(path)}
        )

    async def stream_app_info(self) -> Any:
        """The service apps of the session (jupyter, ttyd, sshd, ...)."""
        return await self._call("GET", f"/stream/session/{self._stream_ref}/apps",
                                params=self._params())  # fmt: skip

    # -- streams (AsyncSession) -----------------------------------------------------------

    def listen_events(self, scope: Literal["*", "session", "kernel"] = "*") -> SSEContextManager:
        """The lifecycle events of this session, as an SSE stream."""
        if self.id:
            params: dict[str, Any] = {"sessionId": str(self.id)}
        else:
            params = self._params(sessionName=self._ref)
        params["scope"] = scope
        return self._request("GET", "/events/session", params=params).connect_events()

    stream_events = listen_events

    def stream_pty(self) -> WebSocketContextManager:
        """A terminal in the session over a WebSocket (:class:`StreamPty`)."""
        rqst = self._request("GET", f"/stream/session/{self._stream_ref}/pty",
                             params=self._params())  # fmt: skip
        return rqst.connect_websocket(response_cls=StreamPty)

    def stream_execute(
        self, code: str = "", *, mode: str = "query", opts: Mapping[str, Any] | None = None
    ) -> WebSocketContextManager:
        """Run code over a WebSocket: iterate the stream for result objects and answer
        ``waiting-input`` with ``send_str``. The socket is the run; no run id is needed."""
        if mode == "query":
            options: dict[str, Any] = {}
        elif mode == "batch":
            options = _batch_opts(opts or {})
        else:
            raise BackendClientError(f"Invalid stream-execution mode: {mode}")
        rqst = self._request("GET", f"/stream/session/{self._stream_ref}/execute",
                             params=self._params())  # fmt: skip

        async def send_code(ws: WebSocketResponse) -> None:
            await ws.send_json({"code": code, "mode": mode, "options": options})

        return rqst.connect_websocket(on_enter=send_code)


class StreamPty(WebSocketResponse):
    """A terminal stream with helpers to resize and restart it.

    Frames are JSON: ``{"type": "stdin", "chars": <base64>}`` in, ``{"type": "out",
    "data": <base64>}`` out; :meth:`send_stdin` and :meth:`output` do the encoding.
    """

    async def resize(self, rows: int, cols: int) -> None:
        await self.send_json({"type": "resize", "rows": rows, "cols": cols})

    async def restart(self) -> None:
        await self.send_json({"type": "restart"})

    async def send_stdin(self, data: str | bytes) -> None:
        """Type ``data`` into the terminal."""
        raw = data.encode() if isinstance(data, str) else data
        await self.send_json({"type": "stdin", "chars": base64.b64encode(raw).decode("ascii")})

    async def output(self) -> AsyncIterator[bytes]:
        """What the terminal prints, as it arrives, until it closes."""
        async for message in self:
            try:
                frame = json.loads(message.data)
            except (TypeError, ValueError):
                continue
            if isinstance(frame, dict) and frame.get("type") == "out":
                yield base64.b64decode(str(frame.get("data") or ""))

"""A small client of the ClearML API that ``hangar server`` speaks: tracked experiments
(tasks), their hyperparameters, last metrics and scalar series, for terminal users.

    async with Experiments(ExperimentsConfig.load()) as x:
        for task in await x.tasks(project="demo"):
            print(task.name, task.status)

Configuration: ``CLEARML_API_HOST`` / ``CLEARML_API_ACCESS_KEY`` / ``CLEARML_API_SECRET_KEY``,
else the Backend.AI settings (``BACKEND_*`` or the client config ``hangar server`` writes):
a ClearML credential is a Hangar keypair.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from hangar.client.config import read_config_file
from hangar.client.exceptions import BackendAPIError, BackendClientError

__all__ = ["ClearmlAPIError", "Experiments", "ExperimentsConfig", "Point", "TaskSummary"]

TASK_ID = re.compile(r"[0-9a-f]{32}")
API = "v2.23"
PAGE_SIZE_MAX = 500


class ClearmlAPIError(BackendAPIError):
    """The server answered a ClearML call with an error envelope."""

    def __init__(self, status: int, code: int, subcode: int, msg: str) -> None:
        data = {"title": msg or f"Error {code}", "code": code, "subcode": subcode}
        super().__init__(status, msg, data)

    @property
    def subcode(self) -> int:
        return int(self.data["subcode"])


@dataclass(frozen=True)
class ExperimentsConfig:
    api_host: str
    access_key: str
    secret_key: str

    @classmethod
    def load(cls) -> ExperimentsConfig:
        """From ``CLEARML_*``, then ``BACKEND_*``, then the client config file."""
        file = read_config_file()

        def pick(clearml: str, backend: str, key: str) -> str:
            return os.environ.get(clearml) or os.environ.get(backend) or str(file.get(key, ""))

        host = pick("CLEARML_API_HOST", "BACKEND_ENDPOINT", "endpoint").split(",")[0].strip()
        access = pick("CLEARML_API_ACCESS_KEY", "BACKEND_ACCESS_KEY", "access_key")
        secret = pick("CLEARML_API_SECRET_KEY", "BACKEND_SECRET_KEY", "secret_key")
        if not host or not access or not secret:
            raise BackendClientError(
                "No server or credentials: set CLEARML_API_HOST, CLEARML_API_ACCESS_KEY and "
                "CLEARML_API_SECRET_KEY (or `source client.env` written by `hangar server`)."
            )
        return cls(host.rstrip("/"), access, secret)


@dataclass(frozen=True)
class TaskSummary:
    id: str
    name: str
    project: str  # the project's name ("" for none)
    status: str
    type: str
    last_update: str | None


@dataclass(frozen=True)
class Point:
    metric: str
    variant: str
    iteration: int
    value: float


class Experiments:
    """The calls behind ``hangar experiments``; use as an async context manager."""

    def __init__(self, config: ExperimentsConfig, *, timeout: float = 60.0) -> None:
        self.config = config
        self._http = httpx.AsyncClient(base_url=config.api_host, timeout=timeout)
        self._token: str | None = None

    async def __aenter__(self) -> Experiments:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def _send(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        try:
            response = await self._http.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise BackendClientError(f"Cannot reach {self.config.api_host}: {exc}") from exc
        try:
            document = response.json()
            meta = document["meta"]
        except (ValueError, KeyError, TypeError):
            raise BackendClientError(
                f"{self.config.api_host} did not answer as a ClearML API server "
                f"(HTTP {response.status_code})"
            ) from None
        if response.status_code != 200:
            raise ClearmlAPIError(
                response.status_code,
                int(meta.get("result_code", response.status_code)),
                int(meta.get("result_subcode", 0)),
                str(meta.get("result_msg", "")),
            )
        return document.get("data") or {}

    async def _login(self) -> str:
        if self._token is None:
            pair = f"{self.config.access_key}:{self.config.secret_key}".encode()
            headers = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
            data = await self._send("/auth.login", {}, headers)
            self._token = str(data["token"])
        return self._token

    async def call(self, endpoint: str, /, **body: Any) -> Any:
        """One call's ``data``; raises ClearmlAPIError or BackendClientError."""
        token = await self._login()
        return await self._send(f"/{API}/{endpoint}", body, {"Authorization": f"Bearer {token}"})

    # Queries --------------------------------------------------------------------------

    async def project_id(self, name: str) -> str:
        """The id of the project named exactly ``name``; ClearmlAPIError 400/401 if none."""
        found = await self.call(
            "projects.get_all", name=f"^{re.escape(name)}$", only_fields=["id", "name"]
        )
        for project in found.get("projects", []):
            if project.get("name") == name:
                return str(project["id"])
        raise ClearmlAPIError(400, 400, 401, f"No project named {name!r}")

    async def project_names(self, ids: set[str]) -> dict[str, str]:
        if not ids:
            return {}
        found = await self.call("projects.get_all", id=sorted(ids), only_fields=["id", "name"])
        return {str(p["id"]): str(p.get("name", "")) for p in found.get("projects", [])}

    async def tasks(
        self, *, project: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[TaskSummary]:
        """The newest tasks first (by last update), ``limit`` of them at most."""
        query: dict[str, Any] = {
            "only_fields": ["id", "name", "project", "status", "type", "last_update"],
            "order_by": ["-last_update", "id"],
            "page": 0,
            "page_size": max(1, min(limit, PAGE_SIZE_MAX)),
            "system_tags": ["-archived"],
        }
        if project is not None:
            query["project"] = [await self.project_id(project)]
        if status is not None:
            query["status"] = [status]
        found = (await self.call("tasks.get_all", **query)).get("tasks", [])
        names = await self.project_names({t["project"] for t in found if t.get("project")})
        return [
            TaskSummary(
                id=str(t["id"]),
                name=str(t.get("name", "")),
                project=names.get(str(t.get("project") or ""), ""),
                status=str(t.get("status", "")),
                type=str(t.get("type", "")),
                last_update=t.get("last_update"),
            )
            for t in found
        ]

    async def task(self, ref: str) -> dict[str, Any]:
        """A task by id, or the most recently updated task named exactly ``ref``."""
        if TASK_ID.fullmatch(ref):
            task: dict[str, Any] = (await self.call("tasks.get_by_id", task=ref))["task"]
            return task
        found = await self.call(
            "tasks.get_all",
            name=f"^{re.escape(ref)}$",
            order_by=["-last_update"],
            page=0,
            page_size=1,
            only_fields=["id"],
        )
        if not found.get("tasks"):
            raise ClearmlAPIError(400, 400, 101, f"No task with id or name {ref!r}")
        return await self.task(str(found["tasks"][0]["id"]))

    async def last_points(self, task_id: str, metric: str, last: int = 10) -> list[Point]:
        """The last ``last`` points of each variant of ``metric``, newest first."""
        data = await self.call(
            "events.get_scalar_metric_data",
            task=task_id,
            metric=metric,
            batch_size=min(10_000, max(100, last * 50)),
        )
        taken: dict[str, int] = {}
        points = []
        for event in data.get("events", []):
            variant = str(event.get("variant", ""))
            if taken.get(variant, 0) >= last:
                continue
            taken[variant] = taken.get(variant, 0) + 1
            points.append(
                Point(metric, variant, int(event.get("iter", 0)), float(event.get("value", 0)))
            )
        return sorted(points, key=lambda p: (p.variant, -p.iteration))

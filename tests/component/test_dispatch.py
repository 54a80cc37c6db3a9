"""The dispatcher's table: a face mounted beside Backend.AI is reached, and every Backend.AI
route still goes where it went."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from hangar.api.app import mounts, serve
from hangar.api.common.mounts import Mount, MountTable
from hangar.core.services import Services
from tests.component.conftest import BASE_URL
from tests.support.bai import Signer
from tests.support.routes import PARAM, registered_routes


class Recorder:
    """A stand-in face that answers with its name and the path it saw."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"face": self.name, "path": scope["path"]})
        await response(scope, receive, send)


def with_new_faces(services: Services) -> MountTable:
    return MountTable(
        [
            *mounts(services),
            Mount.prefix("/web-next", "web", Recorder("web")),
        ]
    )


@pytest.fixture
async def wide(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=serve(with_new_faces(services), services))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "face"),
    [("/web-next/sessions", "web")],
)
async def test_a_face_mounted_through_the_table_is_reached(
    wide: httpx.AsyncClient, path: str, face: str
) -> None:
    response = await wide.post(path)
    assert response.status_code == 200
    assert response.json() == {"face": face, "path": path}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/v2/no-such", 404, 10007), ("/v2", 404, 10007), ("/api/v2/resource/gpu/list", 401, 40101)],
)
async def test_cloud_paths_reach_the_cloud_face(
    wide: httpx.AsyncClient, path: str, status: int, code: int
) -> None:
    response = await wide.post(path)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert set(response.json()) == {"message", "code", "data"}


@pytest.mark.parametrize(
    ("path", "name"), [("/auth.login", "auth.login"), ("/v2.31/no.such", "no.such")]
)
async def test_clearml_paths_reach_the_clearml_face(
    wide: httpx.AsyncClient, path: str, name: str
) -> None:
    response = await wide.post(path)
    assert response.status_code in (401, 404)
    assert response.json()["meta"]["endpoint"]["name"] == name


def concrete(path: str) -> str:
    return PARAM.sub("x", path)


async def test_every_backend_ai_route_resolves_as_before(services: Services) -> None:
    before = MountTable(mounts(services))
    after = with_new_faces(services)
    for route in registered_routes():
        kind = "websocket" if route.method == "WS" else "http"
        for path in (concrete(route.path), "/func" + concrete(route.path)):
            assert after.resolve(kind, path).face == before.resolve(kind, path).face, route
            assert after.resolve(kind, path).face in ("bai", "bai-session", "ops"), route


async def test_backend_ai_answers_the_same_beside_new_faces(
    client: httpx.AsyncClient, wide: httpx.AsyncClient, admin: Signer
) -> None:
    for path in ("/", "/func/", "/auth", "/no-such-path"):
        expected, got = await client.get(path), await wide.get(path)
        assert (got.status_code, got.json()) == (expected.status_code, expected.json()), path
    signed = admin.headers("GET", "/folders")
    expected, got = (
        await client.get("/folders", headers=signed),
        await wide.get("/folders", headers=signed),
    )
    assert got.status_code == expected.status_code == 200
    assert got.json() == expected.json()
    assert (await wide.get("/healthz")).json()["status"] == "ok"


async def test_the_metrics_name_each_face(wide: httpx.AsyncClient) -> None:
    await wide.post("/api/v2/resource/gpu/list")
    await wide.get("/")
    metrics = (await wide.get("/metrics")).text
    assert 'hangar_http_requests_total{face="cloud",method="POST",status="401"}' in metrics
    assert 'hangar_http_requests_total{face="bai",method="GET",status="200"}' in metrics

"""The face's ASGI app: the registered routes over the shared :class:`FaceApp`, every
answer (unknown paths and methods, errors) in the ``{message, code, data}`` envelope."""

from __future__ import annotations

from hangar.api.cloud import routes  # noqa: F401 - registers the routes
from hangar.api.cloud.envelope import CloudProblems
from hangar.api.cloud.registry import ROUTES, serve
from hangar.api.common.routing import FaceApp, FaceRoute
from hangar.core.services import Services

PREFIXES = ("/v2", "/api")
"""What the dispatcher sends here: the v2 API and the GPU list route's ``/api/v2/...``."""


def create_cloud_app(services: Services) -> FaceApp:
    face_routes = [FaceRoute(r.path, serve(r), [r.method], 200) for r in ROUTES]
    return FaceApp(face_routes, services, CloudProblems())

"""Every route the Backend.AI face registers, read from the app itself; every endpoint the
ClearML face registers, read from its registry."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType
from typing import cast

from pydantic import AliasChoices, BaseModel
from starlette.routing import Route, WebSocketRoute

import hangar.api.bai.routes as route_package
import hangar.api.clearml.endpoints as clearml_package
from hangar.api.bai.app import create_bai_app
from hangar.api.clearml.registry import ENDPOINTS, Endpoint
from hangar.core.services import Services

PARAM = re.compile(r"{(\w+)(?::\w+)?}")


@dataclass(frozen=True, order=True)
class RouteId:
    method: str  # an HTTP method, or "WS"
    path: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)


def registered_routes() -> list[RouteId]:
    """The face's routes as the app serves them (HEAD, which Starlette adds to every GET,
    left out)."""
    # The face only keeps the services for handlers; the routing table needs none.
    face = create_bai_app(cast(Services, None))
    found: set[RouteId] = set()
    for route in face.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, WebSocketRoute):
            found.add(RouteId("WS", route.path))
        elif isinstance(route, Route):
            methods = set(route.methods or ()) - (
                {"HEAD"} if "GET" in (route.methods or ()) else set()
            )
            found.update(RouteId(method, route.path) for method in methods)
    return sorted(found)


def parameter_names() -> list[str]:
    """Every request key the face's parameter models know (names and aliases), plus the
    keys handlers read themselves: the fuzzers' vocabulary."""
    modules = [
        importlib.import_module(f"{route_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(route_package.__path__)
    ]
    modules.append(importlib.import_module("hangar.api.bai.graphql.routes"))
    return _names_in(modules)


def _names_in(modules: list[ModuleType]) -> list[str]:
    """The request keys named in ``modules``: fields and aliases of their pydantic models,
    and the keys read with ``.get("...")``."""
    names: set[str] = set()
    for module in modules:
        source = inspect.getsource(module)
        names.update(re.findall(r"""\.get\(\s*["']([A-Za-z_][\w-]*)["']""", source))
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, BaseModel) or cls is BaseModel:
                continue
            for name, info in cls.model_fields.items():
                names.add(name)
                alias = info.validation_alias
                if isinstance(alias, AliasChoices):
                    names.update(str(a) for a in alias.choices if isinstance(a, str))
                elif isinstance(alias, str):
                    names.add(alias)
    return sorted(names)


def clearml_endpoints() -> list[Endpoint]:
    """Every endpoint the ClearML face registers (its endpoint modules imported), by name."""
    return [ENDPOINTS[name] for name in sorted(ENDPOINTS)]


def clearml_parameter_names() -> list[str]:
    """Every request key the ClearML face's endpoint modules and wire helpers name: the
    vocabulary of its fuzzer."""
    modules = [
        importlib.import_module(f"{clearml_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(clearml_package.__path__)
    ]
    parent = clearml_package.__name__.rpartition(".")[0]
    modules += [
        importlib.import_module(f"{parent}.{info.name}")
        for info in pkgutil.iter_modules(importlib.import_module(parent).__path__)
        if not info.ispkg
    ]
    return _names_in(modules)


def cloud_routes() -> list[RouteId]:
    """Every route the GPU-cloud face registers (its route modules imported)."""
    from hangar.api.cloud.app import create_cloud_app  # noqa: F401 - imports the routes
    from hangar.api.cloud.registry import ROUTES

    return sorted(RouteId(r.method, r.path) for r in ROUTES)


def cloud_parameter_names() -> list[str]:
    """Every request key the GPU-cloud face's route modules name (camelCase aliases
    included): the vocabulary of its fuzzer."""
    import hangar.api.cloud.routes as cloud_package

    modules = [
        importlib.import_module(f"{cloud_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(cloud_package.__path__)
    ]
    names = set(_names_in(modules))
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseModel) and cls is not BaseModel:
                names.update(i.alias for i in cls.model_fields.values() if i.alias)
    return sorted(names)

"""What every resolver gets: the verified caller and the services."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from starlette.requests import Request

from hangar.core.principal import Principal
from hangar.core.services import Services


@dataclass(frozen=True, slots=True)
class Context:
    request: Request
    caller: Principal
    services: Services


Info = strawberry.Info[Context, None]

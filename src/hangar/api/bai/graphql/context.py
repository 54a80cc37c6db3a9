"""What every resolver gets: the verified caller and the services."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from starlette.requests import Request

from hangar.core.identity.models import Caller
from hangar.core.services import Services


@dataclass(frozen=True, slots=True)
class Context:
    request: Request
    caller: Caller
    services: Services


Info = strawberry.Info[Context, None]

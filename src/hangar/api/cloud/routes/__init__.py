"""Importing a module registers its routes (order matters: ``/v2/vms/types`` before
``/v2/vms/{id}``)."""

from hangar.api.cloud.routes import apikeys, catalogue, credentials  # noqa: F401
from hangar.api.cloud.routes import pods  # noqa: F401
from hangar.api.cloud.routes import volumes  # noqa: F401
from hangar.api.cloud.routes import vms  # noqa: F401  (after catalogue: /v2/vms/types first)

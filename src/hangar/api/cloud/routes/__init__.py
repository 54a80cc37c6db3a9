"""Importing a module registers its routes (order matters: ``/v2/vms/types`` before
``/v2/vms/{id}``)."""

from hangar.api.cloud.routes import (  # noqa: F401
    apikeys,
    catalogue,
    credentials,
    endpoints,
    pods,
    tasks,
    vms,
    volumes,
    workers,
)

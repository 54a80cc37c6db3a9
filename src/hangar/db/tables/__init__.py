"""SQLAlchemy tables, one module per core domain; rows stay in the data layer.

Importing the package loads every table module so that ``Base.metadata`` (which migrations and
foreign keys between domains resolve against) is complete whichever module a caller names."""

from hangar.db.tables import (  # noqa: F401  (each import registers its tables on Base.metadata)
    agents,
    bgtasks,
    billing,
    compute,
    endpoint_tasks,
    endpoints,
    identity,
    images,
    manager,
    pods,
    queues,
    registries,
    registry_auths,
    resources,
    scaling,
    storage,
    templates,
    tracking_events,
    tracking_models,
    tracking_tasks,
    vms,
    volumes,
)
from hangar.db.tables.base import Base

__all__ = ["Base"]

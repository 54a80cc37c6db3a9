"""What the core's background loops share: an exception a pass goes on after is logged and
counted (``hangar_reconcile_errors_total`` by step), whichever domain's loop caught it."""

from __future__ import annotations

import logging

from prometheus_client import Counter

log = logging.getLogger("hangar.core.loops")

RECONCILE_ERRORS = Counter(
    "hangar_reconcile_errors_total",
    "Exceptions a reconcile pass caught, logged and went on after",
    ["step"],
)


def swallowed(step: str, exc: BaseException) -> None:
    """Log and count an exception a loop goes on after (a pass, a session's task)."""
    RECONCILE_ERRORS.labels(step=step).inc()
    log.error("%s failed: %r", step, exc, exc_info=exc)

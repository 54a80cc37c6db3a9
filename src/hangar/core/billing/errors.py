"""The billing domain's errors (leaves of the core's tree)."""

from __future__ import annotations

from hangar.core.errors import QuotaExceeded


class DailyLimitReached(QuotaExceeded):
    """A user's or project's cost today reached its daily limit: no new paid resources."""

    code = "daily-limit-reached"
    default_message = "The daily cost limit is reached."

"""The restart policy of a session's main process (a batch session's command): when it is
run again, and after how long. Pure; :mod:`.batch_runs` follows it."""

from __future__ import annotations

from dataclasses import dataclass

from hangar.core.compute.models import RestartPolicy
from hangar.core.compute.states import SessionType
from hangar.core.errors import InvalidValue


@dataclass(frozen=True, slots=True)
class RestartRules:
    """Back-off between restarts: ``backoff`` seconds, doubled for each restart in a row, at
    most ``max_backoff``; a run that lasted longer than ``max_backoff`` ends the row.
    ``limit``: restarts in a row before the session ends with its last run (0: no limit)."""

    backoff: float = 1.0
    max_backoff: float = 60.0
    limit: int = 0


def restart_due(policy: RestartPolicy, exit_code: int | None) -> bool:
    """Whether a main process that ended with ``exit_code`` (None: without one, as when it
    could not be run) is run again."""
    if policy is RestartPolicy.ALWAYS:
        return True
    return policy is RestartPolicy.ON_FAILURE and exit_code != 0


def restart_delay(rules: RestartRules, in_a_row: int) -> float:
    """The wait before the restart that follows ``in_a_row`` restarts in a row."""
    return min(rules.backoff * float(2 ** min(in_a_row, 32)), rules.max_backoff)


def check_restart_policy(policy: RestartPolicy, session_type: SessionType) -> None:
    """Only a batch session has a main process of its own (an interactive session's kernel is
    restarted by its user). Raises InvalidValue."""
    if policy is not RestartPolicy.NEVER and session_type is not SessionType.BATCH:
        raise InvalidValue(
            "restart_policy",
            f"{policy.value!r} needs a batch session, whose command is its main process",
        )

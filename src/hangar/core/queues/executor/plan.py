"""What a queued task's run is made of, and how it ends: pure functions of the task.

A task names its code as ClearML does (spec 5.6): a git ``repository`` at ``branch`` /
``version_num`` with an uncommitted ``diff``, or no repository and the whole script in
``diff`` (a "standalone script"); ``entry_point`` runs from ``working_dir``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hangar.core.errors import InvalidRequest

WORKER_PREFIX = "hangar:"
STOPPING = "stopping"
_UNSAFE = re.compile(r"[^\w.-]+", re.ASCII)
_SDK_PACKAGES = frozenset({"clearml"})


class InvalidTaskScript(InvalidRequest):
    """The task does not say what to run."""

    code = "invalid-task-script"


@dataclass(frozen=True, slots=True)
class CodePlan:
    """Where the code comes from and what runs: ``argv`` after ``python``."""

    repository: str
    branch: str
    commit: str
    tag: str
    diff: str
    working_dir: str
    script_file: str | None  # standalone: the file ``diff`` is written to
    argv: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunPlan:
    task_id: str
    session_name: str
    image: str
    code: CodePlan
    requirements: tuple[str, ...]
    env: Mapping[str, str]


def worker_name(scaling_group: str) -> str:
    return f"{WORKER_PREFIX}{scaling_group}"


def session_name(task_name: str, task_id: str) -> str:
    """A session name (4-64 of ``\\w.-``) that shows the task: its name, then its id."""
    slug = _UNSAFE.sub("-", task_name).strip("-._")[:44] or "task"
    return f"{slug}-{task_id[:12]}"


def _text(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    return value.strip() if isinstance(value, str) else ""


def _relative(path: str, what: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidTaskScript(f"The task's {what} leads outside its code: {path!r}")
    return "/".join(parts)


def code_plan(script: Mapping[str, Any]) -> CodePlan:
    """The code of a task's ``script``. Raises InvalidTaskScript without an entry point."""
    entry = _text(script, "entry_point")
    if not entry:
        raise InvalidTaskScript("The task has no script.entry_point: nothing to run")
    try:
        argv = tuple(shlex.split(entry))
    except ValueError as exc:
        raise InvalidTaskScript(f"Invalid script.entry_point {entry!r}: {exc}") from None
    repository, diff = _text(script, "repository"), str(script.get("diff") or "")
    script_file = None
    if not repository:
        if argv[0] == "-m" or not diff.strip():
            raise InvalidTaskScript(
                "The task has neither a repository nor its script (script.diff)"
            )
        script_file = _relative(argv[0], "entry point")
        argv = (script_file, *argv[1:])
    return CodePlan(
        repository=repository, branch=_text(script, "branch"),
        commit=_text(script, "version_num"), tag=_text(script, "tag"), diff=diff,
        working_dir=_relative(_text(script, "working_dir"), "working dir"),
        script_file=script_file, argv=argv,
    )  # fmt: skip


def requirement_lines(script: Mapping[str, Any], *, sdk_given: bool) -> tuple[str, ...]:
    """The pip requirements of a task (text or list, as the SDK and the agent store them),
    without comments, options and, when the server provides the SDK, ``clearml`` itself."""
    pip = (
        (script.get("requirements") or {}).get("pip")
        if isinstance(script.get("requirements"), Mapping)
        else None
    )
    lines = pip.splitlines() if isinstance(pip, str) else [str(x) for x in pip or []]
    kept: list[str] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name = re.split(r"[\s=<>!~;\[@]", line, maxsplit=1)[0].lower().replace("_", "-")
        if sdk_given and name in _SDK_PACKAGES:
            continue
        kept.append(line)
    return tuple(kept)


def image_of(container: Mapping[str, Any], default: str) -> str:
    image = container.get("image") if isinstance(container, Mapping) else None
    return image.strip() if isinstance(image, str) and image.strip() else default


def environment_of(hyperparams: Mapping[str, Any]) -> dict[str, str]:
    """``hyperparams.Environment``: variables the task sets for its process."""
    section = hyperparams.get("Environment") if isinstance(hyperparams, Mapping) else None
    env: dict[str, str] = {}
    for item in (section or {}).values() if isinstance(section, Mapping) else ():
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            name = item["name"]
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and not name.startswith("CLEARML_"):
                env[name] = str(item.get("value") or "")
    return env


def run_plan(
    task_id: str,
    task_name: str,
    documents: Mapping[str, Mapping[str, Any]],
    *,
    default_image: str,
    sdk_given: bool,
    skip_requirements: bool,
) -> RunPlan:
    """The run of a task from its documents (script, container, hyperparams)."""
    script = documents.get("script") or {}
    requirements = () if skip_requirements else requirement_lines(script, sdk_given=sdk_given)
    return RunPlan(
        task_id=task_id,
        session_name=session_name(task_name, task_id),
        image=image_of(documents.get("container") or {}, default_image),
        code=code_plan(script),
        requirements=requirements,
        env=environment_of(documents.get("hyperparams") or {}),
    )


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    LEAVE = "leave"  # someone else moved the task: its status stays


@dataclass(frozen=True, slots=True)
class Ending:
    outcome: Outcome
    reason: str


def stop_requested(status: str, message: str) -> bool:
    """Whether the task was asked to stop while running (``tasks.stop``: "stopping"), or
    moved away from in_progress by someone else."""
    return status != "in_progress" or message == STOPPING


def ending(status: str, message: str, exit_code: int | None, succeeded: bool | None) -> Ending:
    """How a task whose session ended ends: by the exit code (or the session's result
    when the code was lost), stopped when that was asked, untouched when it already left
    in_progress."""
    if status != "in_progress":
        return Ending(Outcome.LEAVE, "")
    if message == STOPPING:
        return Ending(Outcome.STOPPED, "task was stopped by tasks.stop")
    if exit_code == 0 or (exit_code is None and succeeded):
        return Ending(Outcome.COMPLETED, "worker execution done")
    if exit_code is None:
        return Ending(Outcome.FAILED, "the task's session ended without an exit code")
    return Ending(Outcome.FAILED, f"exit code {exit_code}")

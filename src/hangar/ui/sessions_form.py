"""The new-session form read into the core's request: name, image, type, resources or a
preset, folders to mount (each at an optional path) and environment variables."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData

from hangar.core.compute.models import CreateRequest, MountSpec, SessionSpec
from hangar.core.compute.states import SessionType
from hangar.core.errors import InvalidRequest

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MOUNT_PATH = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
MAX_ENV = 64
MAX_ENV_VALUE = 4096


def environment(text: str) -> dict[str, str]:
    """``NAME=value`` lines (blank lines and ``#`` comments skipped) as a mapping; raises
    InvalidRequest naming the first bad line."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not ENV_NAME.fullmatch(name):
            raise InvalidRequest(f"Environment, line {number}: write NAME=value "
                                 "(a letter or '_' first, then letters, digits, '_').")  # fmt: skip
        if len(value) > MAX_ENV_VALUE or "\x00" in value:
            raise InvalidRequest(f"Environment, line {number}: the value is too long.")
        found[name] = value
    if len(found) > MAX_ENV:
        raise InvalidRequest(f"Environment: at most {MAX_ENV} variables.")
    return found


def mounts(form: FormData) -> tuple[MountSpec, ...]:
    """The folders ticked in the form (``mount``), each at ``mount_path.<name>`` under
    /home/work when given (its name otherwise)."""
    chosen: list[MountSpec] = []
    for raw in dict.fromkeys(str(v) for v in form.getlist("mount")):
        name = raw.strip()
        if not name:
            continue
        path = str(form.get(f"mount_path.{name}") or "").strip().strip("/")
        if path.startswith("home/work/"):
            path = path[len("home/work/") :]
        if path and (not MOUNT_PATH.fullmatch(path) or ".." in path.split("/")):
            raise InvalidRequest(f"Mount path of {name}: a path under /home/work, "
                                 "letters, digits, '.', '_', '-' and '/'.")  # fmt: skip
        chosen.append(MountSpec(name, path or None))
    paths = [m.path or m.folder for m in chosen]
    if len(set(paths)) != len(paths):
        raise InvalidRequest("Mounts: two folders at the same path.")
    return tuple(chosen)


def create_request(form: FormData, preset: dict[str, Any] | None = None) -> CreateRequest:
    """The form's fields as the core's request (``preset``: the chosen preset's slots, which
    replace the CPU, memory and GPU fields). Raises InvalidRequest naming the field."""
    text = {key: str(form.get(key) or "").strip() for key in form}
    name = text.get("name", "")
    if not NAME.fullmatch(name):
        raise InvalidRequest("Name: letters, digits, '.', '_' or '-' (at most 64).")
    if not text.get("image"):
        raise InvalidRequest("Image: choose one.")
    try:
        session_type = SessionType(text.get("type") or "interactive")
    except ValueError as exc:
        raise InvalidRequest("Type: interactive or batch.") from exc
    resources: dict[str, Any] = {"cpu": text.get("cpu") or "1", "mem": text.get("mem") or "1g"}
    if text.get("gpu"):
        resources["cuda.device"] = text["gpu"]
    if preset is not None:
        resources = preset
    command = text.get("command") or None
    if session_type is SessionType.BATCH and not command:
        raise InvalidRequest("Command: a batch session needs one.")
    env = environment(str(form.get("env") or ""))
    spec = SessionSpec(image=text["image"], resources=resources, command=command, env=env,
                       mounts=mounts(form))  # fmt: skip
    return CreateRequest(name=name, spec=spec, session_type=session_type, enqueue_only=True,
                         reuse_if_exists=False)  # fmt: skip

"""A run's directory on the host, shown read-only in its session at ``/home/work/.hangar-task``:
the launcher, the run spec, the task's code, and the Unix socket through which the session
reaches the server's API (:class:`ApiLine`, a byte relay to the server's TCP address).

The code is fetched here, by the server: ``git clone`` of the task's repository at its
branch / commit (local paths and ``file://`` only with ``executor_local_repos``), its diff
applied; or, for a standalone script, the script written to its entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hangar.core.errors import InvalidRequest
from hangar.core.queues.executor import launch
from hangar.core.queues.executor.plan import CodePlan, RunPlan
from hangar.util.unixrelay import hold_current, listen_unix, relay_to

IN_SESSION = "/home/work/.hangar-task"
SDK_IN_SESSION = "/home/work/.hangar-sdk"
WHEELS_IN_SESSION = "/home/work/.hangar-wheels"
SOCKET = "api.sock"
GIT_TIMEOUT = 300
REMOTE_PROTOCOLS = ("https://", "http://", "ssh://", "git://", "git@")


class CodeUnavailable(InvalidRequest):
    """The task's code could not be fetched (the message says why)."""

    code = "task-code-unavailable"


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Where a run's files are on the host."""

    root: Path

    @property
    def socket(self) -> Path:
        return self.root / SOCKET

    @property
    def spec(self) -> Path:
        return self.root / "spec.json"

    @property
    def code(self) -> Path:
        return self.root / "code"

    def command(self) -> str:
        return f"python3 {IN_SESSION}/launch.py {IN_SESSION}/spec.json"


def run_files(base: Path, task_id: str) -> RunFiles:
    """The run directory of a task."""
    return RunFiles(base / task_id[:16])


def _git(args: list[str], cwd: Path | None, *, local: bool) -> None:
    allowed = "https:http:ssh:git" + (":file" if local else "")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd or "/"),
        "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": allowed,
        "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C",
    }  # fmt: skip
    done = subprocess.run(
        ["git", "-c", "safe.directory=*", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=GIT_TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise CodeUnavailable(f"git {args[0]} failed: {message[-1] if message else '?'}")


def check_repository(repository: str, *, local: bool) -> None:
    if repository.startswith(REMOTE_PROTOCOLS) or (local and repository):
        return
    raise CodeUnavailable(
        f"The repository {repository!r} is not a remote URL (https, ssh, git); local paths "
        "and file:// URLs need the server setting executor_local_repos"
    )


def fetch_code(code: CodePlan, target: Path, *, local: bool) -> None:
    """The task's code at ``target`` (blocking: run it in a thread). Raises CodeUnavailable."""
    if not code.repository:
        assert code.script_file is not None
        path = target / code.working_dir / code.script_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code.diff)
        return
    check_repository(code.repository, local=local)
    ref = code.branch or code.tag
    branch = ["--branch", ref] if ref and not code.commit else []
    _git(["clone", "--quiet", *branch, "--", code.repository, str(target)], None, local=local)
    if code.commit:
        _git(["checkout", "--quiet", "--detach", code.commit], target, local=local)
    if code.diff.strip():
        patch = target / ".hangar.diff"
        patch.write_text(code.diff if code.diff.endswith("\n") else code.diff + "\n")
        _git(["apply", "--whitespace=nowarn", str(patch)], target, local=local)
        patch.unlink()
    if not (target / code.working_dir).is_dir():
        raise CodeUnavailable(f"The working dir {code.working_dir!r} is not in the repository")


def _readable(root: Path, uid: int, gid: int) -> None:
    """Everything under ``root`` readable (and dirs searchable) by the sandbox's user."""
    for path in (root, *root.rglob("*")):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode | (0o555 if path.is_dir() else 0o444))
    os.chown(root, uid, gid)


def prepare(
    files: RunFiles,
    plan: RunPlan,
    spec: dict[str, Any],
    *,
    local_repos: bool,
    uid: int,
    gid: int,
) -> None:
    """Write the run directory (blocking). Raises CodeUnavailable."""
    remove(files)
    files.root.mkdir(parents=True, mode=0o755)
    fetch_code(plan.code, files.code, local=local_repos)
    shutil.copyfile(launch.__file__, files.root / "launch.py")
    files.spec.write_text(json.dumps(spec))
    _readable(files.root, uid, gid)
    os.chown(files.spec, uid, gid)
    files.spec.chmod(0o400)  # the run's credentials: for the sandbox's user alone


def archive(files: RunFiles) -> bytes:
    """The run directory as a tar archive (blocking) for a remote agent: the launcher, the
    spec, the code; not the local API socket nor the session note."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(files.root.iterdir()):
            if path.name not in (SOCKET, "session"):
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


def remove(files: RunFiles) -> None:
    shutil.rmtree(files.root, ignore_errors=True)


def session_spec(
    plan: RunPlan,
    *,
    task_id: str,
    worker: str,
    api_port: int,
    keys: tuple[str, str],
    sdk: bool,
    pip_args: list[str],
) -> dict[str, Any]:
    """What the launcher reads (``spec.json``)."""
    return {
        "task": task_id, "worker": worker, "api_socket": f"{IN_SESSION}/{SOCKET}",
        "api_port": api_port, "access_key": keys[0], "secret_key": keys[1],
        "code": f"{IN_SESSION}/code", "working_dir": plan.code.working_dir,
        "argv": list(plan.code.argv), "requirements": list(plan.requirements),
        "pip_args": pip_args, "sdk": SDK_IN_SESSION if sdk else None, "env": dict(plan.env),
    }  # fmt: skip


class ApiLine:
    """The server's API on a run's Unix socket: each connection relayed to ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._servers: dict[str, asyncio.Server] = {}
        self._relays: set[asyncio.Task[None]] = set()  # held: a pending task is not collected
        self.contacted: set[str] = set()  # runs whose session called in (the launcher ran)

    async def open(self, task_id: str, path: Path) -> None:
        await self.close(task_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.contacted.discard(task_id)

        async def relayed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.contacted.add(task_id)
            await self._relay(reader, writer)

        server = await asyncio.start_unix_server(relayed, sock=listen_unix(path))
        os.chmod(path, 0o666)  # the sandbox's user connects
        self._servers[task_id] = server

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hold_current(self._relays)
        with contextlib.suppress(OSError):  # the server is down: the session's call fails
            await relay_to(reader, writer, self._host, self._port)

    async def close(self, task_id: str) -> None:
        self.contacted.discard(task_id)
        server = self._servers.pop(task_id, None)
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    async def close_all(self) -> None:
        for task_id in list(self._servers):
            await self.close(task_id)
        for relay in list(self._relays):
            relay.cancel()

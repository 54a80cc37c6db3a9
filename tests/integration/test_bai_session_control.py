"""Controlling compute sessions with the official CLI and SDK against a real server and sandbox.

File transfer (``session upload/ls/download``, path traversal), lifecycle events, logs,
rename, restart, interrupt, the scheduling queue (``--enqueue-only``, ``--max-wait``,
keypair concurrency) and fake GPUs. Everything asserted is what a user sees: CLI output and
exit codes, SDK results, API answers.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.live import BAI_CLI, LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

T = TypeVar("T")

ANSI = re.compile(r"\x1b\[[0-9;]*m")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SESSION_ID = re.compile(rf"Session ID ({UUID})")
LIFECYCLE_START = ["session_enqueued", "session_scheduled", "session_started"]
LIFECYCLE_END = ["kernel_terminating", "kernel_terminated", "session_terminated"]
FAKE_GPUS = '[{"model": "FakeGPU-16G", "memory": "16g", "count": 2}]'


# Helpers -------------------------------------------------------------------------------


def text(done: subprocess.CompletedProcess[str]) -> str:
    """Everything a CLI run showed, without colours."""
    return ANSI.sub("", done.stdout + done.stderr)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    shown = text(done)
    assert done.returncode == 0, shown
    return shown


def session_id(shown: str) -> str:
    match = SESSION_ID.search(shown)
    assert match, shown
    return match.group(1)


def write(directory: Path, name: str, content: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(content))
    return path


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def compute_session(server: LiveServer, sid: str) -> dict[str, Any]:
    """``compute_session(id:)`` through GraphQL, as ``backend.ai info`` asks for it."""
    query = f'query {{ compute_session(id: "{sid}") {{ name status status_info result }} }}'
    response = server.signed("POST", "/admin/gql", {"query": query, "variables": {}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    found: dict[str, Any] = body["data"]["compute_session"]
    return found


def status_of(server: LiveServer, sid: str) -> str:
    return str(compute_session(server, sid)["status"])


def wait_status(server: LiveServer, sid: str, *wanted: str, timeout: float = 30.0) -> str:
    def reached() -> str | None:
        status = status_of(server, sid)
        return status if status in wanted else None

    return wait_for(reached, f"session {sid} to become {'/'.join(wanted)}", timeout)


def dead_sessions(server: LiveServer) -> dict[str, dict[str, Any]]:
    """``backend.ai --output json ps --dead``, by session id."""
    done = server.official("--output", "json", "ps", "--dead")
    assert done.returncode == 0, text(done)
    return {item["session_id"]: item for item in json.loads(done.stdout)["items"]}


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0))


@contextlib.contextmanager
def cpus_held(server: LiveServer) -> Iterator[None]:
    """A running session holds every CPU, so a session asking for one more stays PENDING
    (a request no agent could ever hold is refused at creation instead)."""
    ok(server.official("start", "-r", f"cpu={usable_cpus()}", "-t", "cpuholder", "python"))
    try:
        yield
    finally:
        ok(server.official("rm", "cpuholder"))


class LineReader:
    """The output lines of a long-running CLI command, collected by a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(ANSI.sub("", line).rstrip("\n"))
        self._queue.put(None)

    def expect(self, predicate: Callable[[str], bool], what: str, timeout: float) -> str | None:
        """The first new line matching ``predicate`` (all lines are kept in ``lines``), or
        None when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the command ended while waiting for {what}:\n" + self.dump())
            self.lines.append(line)
            if predicate(line):
                return line
        return None

    def must(self, predicate: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        line = self.expect(predicate, what, timeout)
        if line is None:
            pytest.fail(f"timed out waiting for {what}; output so far:\n" + self.dump())
        return line

    def dump(self) -> str:
        return "\n".join(self.lines)


def parse_event(line: str) -> tuple[str, dict[str, Any]] | None:
    """``backend.ai events`` prints ``<event-name> <payload dict>``."""
    name, _, payload = line.partition(" ")
    if not payload.startswith("{"):
        return None
    try:
        data = ast.literal_eval(payload)
    except (SyntaxError, ValueError):
        return None
    return (name, data) if isinstance(data, dict) else None


def event_of(sid: str, *names: str) -> Callable[[str], bool]:
    def matches(line: str) -> bool:
        parsed = parse_event(line)
        return parsed is not None and parsed[0] in names and parsed[1].get("sessionId") == sid

    return matches


def events_for(lines: list[str], sid: str) -> list[tuple[str, dict[str, Any]]]:
    parsed = [parse_event(line) for line in lines]
    return [p for p in parsed if p is not None and p[1].get("sessionId") == sid]


def in_order(names: list[str], expected: list[str]) -> bool:
    """``expected`` appears in ``names`` as a subsequence."""
    it = iter(names)
    return all(name in it for name in expected)


@pytest.fixture
def gpu_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose agent has two fake GPUs."""
    server = LiveServer(
        home=tmp_path / "gpu-home",
        database_url=database_url,
        extra_env={"HANGAR_FAKE_ACCELERATORS": FAKE_GPUS},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


# Session files ---------------------------------------------------------------------------


def test_upload_ls_download(live_server: LiveServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "f1", "first file\n")
    payload = os.urandom(200_000) + b"\x00\r\n\xff"
    (src / "sub").mkdir()
    (src / "sub" / "f2").write_bytes(payload)
    (src / "sub" / "with space é.txt").write_text("unicode name\n")
    ok(live_server.official("start", "-t", "files", "python"))

    shown = ok(
        live_server.official(
            "session", "upload", "files", "f1", "sub/f2", "sub/with space é.txt", cwd=src
        )
    )
    assert "Uploaded." in shown

    listing = ok(live_server.official("session", "ls", "files"))
    names = {line.split()[0] for line in listing.splitlines() if line.strip()}
    assert {"f1", "sub"} <= names, listing
    assert re.search(r"^sub\s.*\sd[rwx-]{9}\s*$", listing, re.M), listing
    sub_listing = ok(live_server.official("session", "ls", "files", "sub"))
    assert re.search(r"^f2\s", sub_listing, re.M), sub_listing
    assert "with space é.txt" in sub_listing
    assert "f1" not in sub_listing
    absolute = ok(live_server.official("session", "ls", "files", "/home/work/sub"))
    assert re.search(r"^f2\s", absolute, re.M), absolute

    dest = tmp_path / "dest"
    dest.mkdir()
    shown = ok(
        live_server.official(
            "session", "download", "files", "f1", "sub/f2", "--dest", str(dest), cwd=tmp_path
        )
    )
    assert "Downloaded to" in shown
    assert (dest / "f1").read_text() == "first file\n"
    assert (dest / "f2").read_bytes() == payload  # the basename, byte for byte

    missing = live_server.official("session", "ls", "files", "nosuchdir")
    assert missing.returncode == 1
    assert "No such file or directory" in text(missing)
    outside = live_server.official("session", "ls", "files", "../..")
    assert outside.returncode == 1
    assert "No such file or directory" in text(outside)
    escape = live_server.official(
        "session", "download", "files", "../../etc/passwd", "--dest", str(dest)
    )
    assert escape.returncode == 1
    assert not (dest / "passwd").exists()
    ok(live_server.official("rm", "files"))


TRAVERSAL_UPLOAD = """
import asyncio, io, sys
from ai.backend.client.exceptions import BackendAPIError
from ai.backend.client.request import AttachedFile, Request
from ai.backend.client.session import AsyncSession

async def upload(name, size):
    # ComputeSession.upload() refuses such names client-side, so build its request by hand:
    # the same multipart form, one part named "src" whose filename is the path.
    async with AsyncSession():
        rqst = Request("POST", "/session/files/upload")
        rqst.attach_files([AttachedFile(name, io.BytesIO(b"x" * size), "application/octet-stream")])
        try:
            async with rqst.fetch() as resp:
                print("ACCEPTED", name, resp.status)
        except BackendAPIError as exc:
            print("REFUSED", name, exc.status, exc.data.get("msg") or exc.data.get("title"))

for name in sys.argv[1:]:
    asyncio.run(upload(name, 8))
"""

ESCAPING_NAMES = ["../x", "../../x", "sub/../../x", "/etc/x", "..", "./../x"]


def test_upload_refuses_path_traversal(live_server: LiveServer, tmp_path: Path) -> None:
    ok(live_server.official("start", "-t", "files", "python"))
    script = tmp_path / "traverse.py"
    script.write_text(TRAVERSAL_UPLOAD)
    done = subprocess.run(
        [str(BAI_CLI.parent / "python"), str(script), *ESCAPING_NAMES],
        env=live_server.client_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(ESCAPING_NAMES), done.stdout + done.stderr
    for name, line in zip(ESCAPING_NAMES, lines, strict=True):
        assert line.startswith(f"REFUSED {name} 400 "), line
        assert "escapes /home/work" in line or "Invalid" in line, line

    listing = ok(live_server.official("session", "ls", "files"))
    assert not re.search(r"^x\s", listing, re.M), listing
    # Nothing landed anywhere: not beside the session's home, nor elsewhere on the host.
    planted = [p for p in live_server.home.rglob("x") if p.is_file() and p.read_bytes() == b"x" * 8]
    assert planted == []
    assert not Path("/etc/x").exists()
    ok(live_server.official("rm", "files"))


REFUSED_THEN_LIST = """
import asyncio, io
from ai.backend.client.exceptions import BackendAPIError
from ai.backend.client.request import AttachedFile, Request
from ai.backend.client.session import AsyncSession

async def main():
    async with AsyncSession() as api:
        rqst = Request("POST", "/session/files/upload")
        big = io.BytesIO(b"x" * (8 * 1024 * 1024))  # refused long before it is all sent
        rqst.attach_files([AttachedFile("../x", big, "application/octet-stream")])
        try:
            async with rqst.fetch():
                print("ACCEPTED")
        except BackendAPIError as exc:
            print("REFUSED", exc.status)
        try:
            listing = await asyncio.wait_for(api.ComputeSession("files").list_files("."), 5)
            print("LISTED", sorted(listing))
        except asyncio.TimeoutError:
            print("HUNG")
        except Exception as exc:
            print("FAILED", repr(exc))

asyncio.run(main())
"""


def test_refused_upload_leaves_the_connection_usable(
    live_server: LiveServer, tmp_path: Path
) -> None:
    ok(live_server.official("start", "-t", "files", "python"))
    done = live_server.official_python(REFUSED_THEN_LIST, cwd=tmp_path)
    assert "REFUSED 400" in done.stdout, done.stdout + done.stderr
    assert "LISTED ['abspath', 'errors', 'files']" in done.stdout, done.stdout + done.stderr


# Events, logs, rename, restart -----------------------------------------------------------


def test_events_follow_the_session_lifecycle(live_server: LiveServer) -> None:
    name = "evsess"
    proc = subprocess.Popen(
        [str(BAI_CLI), "events", name],
        env=live_server.client_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        reader = LineReader(proc)
        # The CLI prints nothing once subscribed: a session that can never be scheduled,
        # enqueued and cancelled until its events come through, shows the stream is live.
        deadline = time.monotonic() + 60
        with cpus_held(live_server):
            while True:
                canary = session_id(
                    ok(
                        live_server.official(
                            "start", "--enqueue-only", "-r", "cpu=1", "-t", name, "python"
                        )
                    )
                )
                seen = reader.expect(event_of(canary, "session_enqueued"), "the canary", 2.0)
                ok(live_server.official("rm", name))
                if seen is not None:
                    break
                assert time.monotonic() < deadline, "events never came:\n" + reader.dump()
        reader.must(event_of(canary, "session_cancelled"), "the canary's cancellation")

        shown = ok(live_server.official("start", "--enqueue-only", "-t", name, "python"))
        assert "is enqueued for scheduling" in shown
        sid = session_id(shown)
        reader.must(event_of(sid, "session_started"), "session_started")
        wait_status(live_server, sid, "RUNNING")
        ok(live_server.official("rm", name))
        reader.must(event_of(sid, "session_terminated"), "session_terminated")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    canary_events = [n for n, _ in events_for(reader.lines, canary)]
    assert in_order(canary_events, ["session_enqueued", "session_cancelled"]), canary_events
    assert "session_started" not in canary_events

    events = events_for(reader.lines, sid)
    names = [n for n, _ in events]
    assert in_order(names, LIFECYCLE_START + LIFECYCLE_END), names
    assert names.index("session_started") < names.index("kernel_terminating"), names
    for event, data in events:
        assert data["sessionName"] == name
        assert data["ownerAccessKey"] == live_server.access_key
        assert data["kernelId"]
        assert ("clusterRole" in data) == event.startswith("kernel_"), (event, data)
    terminated = dict(events)["session_terminated"]
    assert terminated["reason"] == "user-requested"


def test_logs_of_batch_sessions(live_server: LiveServer) -> None:
    command = (
        'python -c \'import sys; print("batch-out-42"); print("batch-err-7", file=sys.stderr)\''
    )
    shown = ok(
        live_server.official("start", "-t", "batchok", "--type", "batch", "-c", command, "python")
    )
    sid = session_id(shown)
    failing = "python -c 'import sys; print(\"about to fail\"); sys.exit(4)'"
    bad = session_id(
        ok(
            live_server.official(
                "start", "-t", "batchbad", "--type", "batch", "-c", failing, "python"
            )
        )
    )
    wait_status(live_server, sid, "TERMINATED")
    wait_status(live_server, bad, "TERMINATED")

    logs = ok(live_server.official("session", "logs", "batchok"))
    assert "batch-out-42" in logs
    assert "batch-err-7" in logs
    by_id = ok(live_server.official("session", "logs", sid))
    assert "batch-out-42" in by_id
    assert "about to fail" in ok(live_server.official("session", "logs", "batchbad"))

    dead = dead_sessions(live_server)
    assert dead[sid]["status"] == "TERMINATED"
    assert dead[sid]["type"] == "BATCH"
    assert dead[sid]["result"] == "SUCCESS"
    assert dead[bad]["result"] == "FAILURE"
    assert live_server.sessions_alive() == []


def test_rename_then_rm_by_the_new_name(live_server: LiveServer) -> None:
    sid = session_id(ok(live_server.official("start", "-t", "oldname", "python")))
    ok(live_server.official("start", "-t", "othername", "python"))

    taken = live_server.official("session", "rename", "oldname", "othername")
    assert taken.returncode == 1
    assert "already exists" in text(taken)
    invalid = live_server.official("session", "rename", "oldname", "x")
    assert invalid.returncode == 1
    assert "400" in text(invalid)

    shown = ok(live_server.official("session", "rename", "oldname", "newname"))
    assert "Session renamed to newname." in shown
    alive = {s["name"]: s["id"] for s in live_server.sessions_alive()}
    assert alive == {"newname": sid, "othername": alive["othername"]}
    assert compute_session(live_server, sid)["name"] == "newname"
    assert "newname" in ok(live_server.official("ps"))

    gone = live_server.official("rm", "oldname")
    assert gone.returncode == 1
    assert "No such session" in text(gone)
    ok(live_server.official("rm", "newname"))
    ok(live_server.official("rm", "othername"))
    assert live_server.sessions_alive() == []
    assert dead_sessions(live_server)[sid]["name"] == "newname"


def test_rename_needs_a_running_session(live_server: LiveServer) -> None:
    with cpus_held(live_server):
        ok(live_server.official("start", "--enqueue-only", "-r", "cpu=1", "-t", "queued", "python"))
        refused = live_server.official("session", "rename", "queued", "renamed")
        assert refused.returncode == 1
        assert "running" in text(refused).lower()
        ok(live_server.official("rm", "queued"))


def test_restart_keeps_uploaded_files(live_server: LiveServer, tmp_path: Path) -> None:
    write(tmp_path, "kept.txt", "still here\n")
    write(tmp_path, "deep/nested.txt", "nested\n")
    sid = session_id(ok(live_server.official("start", "-t", "restartme", "python")))
    ok(
        live_server.official(
            "session", "upload", "restartme", "kept.txt", "deep/nested.txt", cwd=tmp_path
        )
    )

    shown = ok(live_server.official("restart", "restartme"))
    assert "Done." in shown
    assert status_of(live_server, sid) == "RUNNING"  # the restart answers once it is done
    listing = ok(live_server.official("session", "ls", "restartme"))
    assert re.search(r"^kept\.txt\s", listing, re.M), listing
    assert re.search(r"^deep\s", listing, re.M), listing
    assert "nested.txt" in ok(live_server.official("session", "ls", "restartme", "deep"))

    # The restarted kernel works, and still sees the file.
    write(tmp_path, "reader.py", "print(open('kept.txt').read().strip().upper())\n")
    done = live_server.official(
        "run", "-t", "restartme", "--exec", "python reader.py", "python", "reader.py", cwd=tmp_path
    )
    out = ok(done)
    assert "STILL HERE" in out
    assert "Execution finished. (exit code = 0)" in out
    assert [s["id"] for s in live_server.sessions_alive()] == [sid]
    ok(live_server.official("rm", "restartme"))


# Interrupt -------------------------------------------------------------------------------

SDK_INTERRUPT = """
import time
from ai.backend.client.session import Session

SLEEPER = "python -c 'import time; print(\\"sleeping\\", flush=True); time.sleep(60)'"

with Session() as api:
    sess = api.ComputeSession.get_or_create("python", name="intsess")
    sess.interrupt()  # nothing runs yet: no error
    result = sess.execute(None, "", mode="batch", opts={"exec": SLEEPER})
    run_id = result["runId"]
    out = "".join(rec[1] for rec in result["console"] if rec[0] == "stdout")
    deadline = time.monotonic() + 30
    while "sleeping" not in out and result["status"] != "finished":
        assert time.monotonic() < deadline, result
        result = sess.execute(run_id, "", mode="continue")
        out += "".join(rec[1] for rec in result["console"] if rec[0] == "stdout")
    print("before", result["status"])
    started = time.monotonic()
    sess.interrupt()
    err = ""
    while result["status"] != "finished":
        result = sess.execute(run_id, "", mode="continue")
        err += "".join(rec[1] for rec in result["console"] if rec[0] == "stderr")
    print("after", result["status"], result["exitCode"], round(time.monotonic() - started, 2))
    print("stderr", "KeyboardInterrupt" in err)
    again = sess.execute(None, "", mode="batch", opts={"exec": "python -c 'print(6 * 7)'"})
    while again["status"] != "finished":
        again = sess.execute(again["runId"], "", mode="continue")
    print("next", again["exitCode"], again["console"])
    sess.destroy()
"""


def test_sdk_interrupt_ends_a_polled_run(live_server: LiveServer) -> None:
    done = live_server.official_python(SDK_INTERRUPT)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "before continued" in done.stdout, out
    match = re.search(r"^after finished (-?\d+) ([\d.]+)$", done.stdout, re.M)
    assert match, out
    assert int(match.group(1)) != 0  # not a normal end: 130 (SIGINT) or the like
    assert float(match.group(2)) < 10, out  # the sleep had 60 s to go
    assert "stderr True" in done.stdout
    assert "next 0 [['stdout', '42\\n']]" in done.stdout, out
    assert live_server.sessions_alive() == []


SDK_INTERRUPT_BY_NAME = """
from ai.backend.client.session import Session
with Session() as api:
    api.ComputeSession("intws").interrupt()
print("interrupted")
"""


def test_sdk_interrupt_ends_a_streamed_cli_run(live_server: LiveServer, tmp_path: Path) -> None:
    write(tmp_path, "sleeper.py", "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen(
        [str(BAI_CLI), "run", "-t", "intws", "--exec", "python sleeper.py", "python", "sleeper.py"],
        env=live_server.client_env(PYTHONUNBUFFERED="1"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        reader = LineReader(proc)
        reader.must(lambda line: line.strip() == "sleeping", "the program's first output")
        started = time.monotonic()
        assert "interrupted" in ok(live_server.official_python(SDK_INTERRUPT_BY_NAME))
        line = reader.must(lambda line: "Execution finished" in line, "the end of the run", 20)
        assert time.monotonic() - started < 10
        assert "exit code = 0" not in line, reader.dump()
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in reader.dump()
    ok(live_server.official("rm", "intws"))


# Queue and scheduling --------------------------------------------------------------------


def test_enqueue_only_returns_pending_then_runs(live_server: LiveServer) -> None:
    shown = ok(live_server.official("start", "--enqueue-only", "-t", "queued", "python"))
    assert "is enqueued for scheduling" in shown
    sid = session_id(shown)
    wait_status(live_server, sid, "RUNNING")
    again = ok(live_server.official("start", "-t", "queued", "python"))
    assert "already running" in again
    ok(live_server.official("rm", "queued"))
    assert dead_sessions(live_server)[sid]["status"] == "TERMINATED"


def test_max_wait_times_out_and_rm_cancels(live_server: LiveServer) -> None:
    with cpus_held(live_server):
        started = time.monotonic()
        done = live_server.official(
            "start", "--max-wait", "1", "-r", "cpu=1", "-t", "toobig", "python"
        )
        elapsed = time.monotonic() - started
        shown = ok(done)
        assert "is still on the job queue" in shown
        assert elapsed < 15, elapsed
        sid = session_id(shown)

        info = wait_for(
            lambda: (s := compute_session(live_server, sid))["status_info"] and s,
            "a pending reason",
        )
        assert info["status"] == "PENDING"
        assert "cpu" in info["status_info"].lower(), info
        assert "toobig" in ok(live_server.official("ps"))

        removed = ok(live_server.official("rm", "toobig"))
        assert "Done." in removed
        assert status_of(live_server, sid) == "CANCELLED"
        dead = dead_sessions(live_server)
        assert dead[sid]["status"] == "CANCELLED"
    assert live_server.sessions_alive() == []


def set_concurrency_limit(server: LiveServer, limit: int) -> None:
    """``admin keypair-resource-policy update default --max-concurrent-sessions``; while the
    server's GraphQL has no policy mutations, the same change straight in its database."""
    done = server.official(
        "admin", "keypair-resource-policy", "update", "default",
        "--max-concurrent-sessions", str(limit),
    )  # fmt: skip
    if done.returncode == 0 and "Failed" not in text(done):
        return
    assert "not supported by the schema" in text(done), text(done)

    async def update() -> None:
        engine = create_async_engine(server.database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sql(
                        "UPDATE keypair_resource_policies SET max_concurrent_sessions = :n "
                        "WHERE name = 'default'"
                    ),
                    {"n": limit},
                )
        finally:
            await engine.dispose()

    asyncio.run(update())


def test_keypair_concurrency_limit_queues_the_next_session(live_server: LiveServer) -> None:
    # The default policy allows 5 concurrent sessions, but each session needs a whole core
    # (the image minimum): on a smaller host, lower the limit to the core count instead.
    limit = min(5, usable_cpus())
    if limit < 2:
        pytest.skip("needs at least two CPU cores")
    if limit < 5:
        set_concurrency_limit(live_server, limit)
    names = [f"conc{i}" for i in range(limit + 1)]
    ids = [
        session_id(
            ok(live_server.official("start", "--enqueue-only", "-r", "cpu=1", "-t", name, "python"))
        )
        for name in names[:limit]
    ]
    for sid in ids:
        wait_status(live_server, sid, "RUNNING")
    extra = session_id(
        ok(
            live_server.official(
                "start", "--enqueue-only", "-r", "cpu=1", "-t", names[-1], "python"
            )
        )
    )
    info = wait_for(
        lambda: (s := compute_session(live_server, extra))["status_info"] and s,
        "a pending reason",
    )
    assert info["status"] == "PENDING"
    assert "concurrency" in info["status_info"].lower(), info

    # A freed slot lets the queued session start.
    ok(live_server.official("rm", names[0]))
    wait_status(live_server, extra, "RUNNING")
    ok(live_server.official("rm", *names[1:]))
    assert live_server.sessions_alive() == []


# Fake GPUs -------------------------------------------------------------------------------

GPU_PROBE = """
import os
print("CVD=" + repr(os.environ.get("CUDA_VISIBLE_DEVICES")))
"""


def visible_devices(server: LiveServer, cwd: Path, *resources: str) -> list[str]:
    args = [arg for r in resources for arg in ("-r", r)]
    done = server.official(
        "run", "--rm", *args, "--exec", "python gpu.py", "python", "gpu.py", cwd=cwd
    )
    shown = ok(done)
    assert "Execution finished. (exit code = 0)" in shown
    match = re.search(r"^CVD=(.*)$", shown, re.M)
    assert match, shown
    value = ast.literal_eval(match.group(1))
    return [] if not value else str(value).split(",")


def test_fake_gpus(gpu_server: LiveServer, tmp_path: Path) -> None:
    write(tmp_path, "gpu.py", GPU_PROBE)
    one = visible_devices(gpu_server, tmp_path, "cuda.device=1")
    assert len(one) == 1 and one[0], one
    two = visible_devices(gpu_server, tmp_path, "cuda.device=2")
    assert len(two) == 2 and len(set(two)) == 2, two
    assert one[0] in two
    assert visible_devices(gpu_server, tmp_path) == []

    # More GPUs than any agent has: refused at creation, naming what the largest one has.
    done = gpu_server.official(
        "start", "--enqueue-only", "-r", "cuda.device=3", "-t", "gpu3", "python"
    )
    shown = done.stdout + done.stderr
    assert "can ever hold cuda.device=3" in shown and "cuda.device=2" in shown, shown
    assert gpu_server.sessions_alive() == []


def test_fake_gpus_are_not_shared(gpu_server: LiveServer, tmp_path: Path) -> None:
    write(tmp_path, "gpu.py", GPU_PROBE)
    holder = session_id(
        ok(gpu_server.official("start", "-r", "cuda.device=1", "-t", "holder", "python"))
    )
    held = ok(
        gpu_server.official(
            "run", "-t", "holder", "--exec", "python gpu.py", "python", "gpu.py", cwd=tmp_path
        )
    )
    match = re.search(r"^CVD=(.*)$", held, re.M)
    assert match, held
    [held_device] = str(ast.literal_eval(match.group(1))).split(",")

    [other] = visible_devices(gpu_server, tmp_path, "cuda.device=1")
    assert other != held_device

    waiting = session_id(
        ok(
            gpu_server.official(
                "start", "--enqueue-only", "-r", "cuda.device=2", "-t", "both", "python"
            )
        )
    )
    info = wait_for(
        lambda: (s := compute_session(gpu_server, waiting))["status_info"] and s,
        "a pending reason",
    )
    assert info["status"] == "PENDING"
    assert "cuda.device" in info["status_info"], info
    ok(gpu_server.official("rm", "holder"))
    wait_status(gpu_server, waiting, "RUNNING")
    assert status_of(gpu_server, holder) == "TERMINATED"
    ok(gpu_server.official("rm", "both"))
    assert gpu_server.sessions_alive() == []

"""Compute sessions end to end: the official CLI and SDK against a real server and sandbox."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def test_run_batch_with_a_file_prints_its_output(live_server: LiveServer, tmp_path: Path) -> None:
    write(
        tmp_path,
        "myscript.py",
        """
        import os, sys
        print("args:", sys.argv[1:])
        print("user:", os.environ["USER"], os.getuid() != 0, os.getcwd())
        print("oops", file=sys.stderr)
    """,
    )
    done = live_server.official(
        "run",
        "--rm",
        "--exec",
        "python myscript.py arg1 arg2",
        "python",
        "./myscript.py",
        cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "args: ['arg1', 'arg2']" in out
    assert "user: work True /home/work" in out
    assert "oops" in out
    assert "Execution finished. (exit code = 0)" in out
    assert live_server.sessions_alive() == []


def test_batch_exit_code_and_failed_build(live_server: LiveServer, tmp_path: Path) -> None:
    write(tmp_path, "fail.py", "import sys\nprint('bye')\nsys.exit(3)\n")
    done = live_server.official(
        "run", "--rm", "--exec", "python fail.py", "python", "fail.py", cwd=tmp_path
    )
    assert "Execution finished. (exit code = 3)" in done.stdout + done.stderr
    done = live_server.official(
        "run",
        "--rm",
        "--build",
        "exit 2",
        "--exec",
        "python fail.py",
        "python",
        "fail.py",
        cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    assert "Build finished. (exit code = 2)" in out
    assert "Execution finished. (exit code = 127)" in out


def test_start_logs_rm(live_server: LiveServer) -> None:
    started = live_server.official("start", "-t", "mysess", "python")
    assert started.returncode == 0, started.stdout + started.stderr
    assert [s["name"] for s in live_server.sessions_alive()] == ["mysess"]
    again = live_server.official("start", "-t", "mysess", "python")
    assert again.returncode == 0
    assert "already running" in again.stdout + again.stderr
    logs = live_server.official("session", "logs", "mysess")
    assert logs.returncode == 0, logs.stderr
    removed = live_server.official("rm", "mysess")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert live_server.sessions_alive() == []
    missing = live_server.official("rm", "mysess")
    assert missing.returncode == 1
    assert "No such session" in missing.stdout + missing.stderr


SDK_BATCH = """
import sys
from ai.backend.client.session import Session  # 22.3.2 moved it from ai.backend.client

def handle_media(rec):
    print("media", rec[0], file=sys.stderr)

with Session() as session:
    kern = session.ComputeSession.get_or_create('python:3.6-ubuntu18.04')
    kern.upload(['mycode.py'])
    code = ''
    mode = 'batch'
    run_id = None
    opts = {
        'build': '*',
        'exec': 'python mycode.py arg1 arg2',
    }
    while True:
        result = kern.execute(run_id, code, mode=mode, opts=opts)
        opts.clear()
        run_id = result['runId']
        for rec in result.get('console', []):
            if rec[0] == 'stdout':
                print(rec[1], end='', file=sys.stdout)
            elif rec[0] == 'stderr':
                print(rec[1], end='', file=sys.stderr)
            else:
                handle_media(rec)
        sys.stdout.flush()
        if result['status'] == 'finished':
            break
        else:
            mode = 'continue'  # the seed says 'continued', which 22.3.2 refuses client-side
            code = ''
    print("exit", result['exitCode'])
    kern.destroy()
"""


def test_seed_sdk_batch_example(live_server: LiveServer, tmp_path: Path) -> None:
    write(
        tmp_path,
        "mycode.py",
        """
        import sys, time
        for i in range(3):
            print("tick", i, sys.argv[1:], flush=True)
            time.sleep(1.5)
    """,
    )
    done = live_server.official_python(SDK_BATCH, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("tick") == 3
    assert "tick 2 ['arg1', 'arg2']" in done.stdout
    assert "exit 0" in done.stdout
    assert live_server.sessions_alive() == []


def test_memory_limit_is_enforced(live_server: LiveServer, tmp_path: Path) -> None:
    write(tmp_path, "hog.py", "b = bytearray(600 * 1024 * 1024)\nprint('survived')\n")
    done = live_server.official(
        "run",
        "--rm",
        "-r",
        "cpu=1",
        "-r",
        "mem=256m",
        "--exec",
        "python hog.py",
        "python",
        "hog.py",
        cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    assert "survived" not in out
    # With cgroups the kernel is OOM-killed (137); where only rlimits exist, allocation fails.
    killed = "Execution finished. (exit code = 137)" in out and "memory" in out.lower()
    assert killed or "MemoryError" in out, out


def test_sandbox_contains_the_session(live_server: LiveServer, tmp_path: Path) -> None:
    other = live_server.official("start", "-t", "neighbour", "python")
    assert other.returncode == 0, other.stdout + other.stderr
    [neighbour] = live_server.sessions_alive()
    neighbour_id = neighbour["id"]
    db = json.dumps(str(live_server.data_dir / "hangar.db"))
    key = json.dumps(str(live_server.data_dir / "server.key"))
    write(
        tmp_path,
        "probe.py",
        f"""
        import ctypes, glob, os
        def attempt(label, fn):
            try:
                fn()
                print(label, "ALLOWED")
            except Exception as exc:
                print(label, "refused", type(exc).__name__)
        attempt("write-root", lambda: open("/escape.txt", "w"))
        attempt("write-etc", lambda: open("/etc/escape.txt", "w"))
        attempt("read-db", lambda: open({db}).read())
        attempt("read-key", lambda: open({key}).read())
        print("scratch-visible", glob.glob("/**/{neighbour_id}*", recursive=False))
        libc = ctypes.CDLL(None, use_errno=True)
        print("ptrace", libc.ptrace(0, 0, 0, 0), ctypes.get_errno())
    """,
    )
    done = live_server.official(
        "run", "--rm", "--exec", "python probe.py", "python", "probe.py", cwd=tmp_path
    )
    out = done.stdout + done.stderr
    for label in ("write-root", "write-etc", "read-db", "read-key"):
        assert f"{label} refused" in out, out
    assert "scratch-visible []" in out
    assert "ptrace -1 1" in out  # EPERM
    live_server.official("rm", "neighbour")

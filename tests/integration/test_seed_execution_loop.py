"""Seed 002's own execution loop, verbatim (only the import names our SDK), on a cell and a
batch build that outlast the polling window: every call after the first sends
``mode = 'continued'``, which the server accepts as ``continue``.

The official 22.3.2 SDK refuses ``continued`` before sending anything (its
``BackendClientError: Invalid execution mode``); the wire accepts it from any client, as the
raw signed request below shows.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

QUERY_LOOP = """
import sys
from hangar.client import Session

with Session() as session:
    kern = session.ComputeSession.get_or_create('python:3.6-ubuntu18.04')
    code = 'import time\\nprint("start", flush=True)\\ntime.sleep(5)\\nprint("done")'
    mode = 'query'
    run_id = None
    while True:
        result = kern.execute(run_id, code, mode=mode)
        run_id = result['runId'] # keeps track of this particular run loop
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
            mode = 'continued'
            code = ''
    kern.destroy()
"""

BATCH_LOOP = """
import sys
from hangar.client import Session

with Session() as session:
    kern = session.ComputeSession.get_or_create('python:3.6-ubuntu18.04')
    kern.upload(['mycode.py', 'setup.py'])
    code = ''
    mode = 'batch'
    run_id = None
    opts = {
        'build': '*', # calls "python setup.py install"
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
            mode = 'continued'
            code = ''
    kern.destroy()
"""


def run_loop(server: LiveServer, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=server.client_env(), cwd=cwd,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_seed_query_loop_on_a_5_second_cell(live_server: LiveServer, tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_loop(live_server, QUERY_LOOP, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "start\ndone\n"
    assert time.monotonic() - started >= 5  # longer than the 2 s window: it continued
    assert live_server.sessions_alive() == []


def test_the_seed_batch_loop_with_a_slow_build(live_server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "mycode.py").write_text("import sys\nprint('args', sys.argv[1:])\n")
    (tmp_path / "setup.py").write_text(  # a build that outlasts the 2 s polling window
        "import time\ntime.sleep(3)\nfrom setuptools import setup\n"
        "setup(name='demo', version='0.1', py_modules=['mycode'])\n"
    )
    started = time.monotonic()
    done = run_loop(live_server, BATCH_LOOP, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "args ['arg1', 'arg2']" in done.stdout
    assert time.monotonic() - started >= 3
    assert live_server.sessions_alive() == []


def test_the_wire_accepts_continued(live_server: LiveServer) -> None:
    started = live_server.signed("POST", "/session", {"image": "python", "name": "wire-loop"})
    assert started.status_code == 201, started.text
    body = {"mode": "query", "code": "import time; time.sleep(3); print(7)", "runId": None}
    result = live_server.signed("POST", "/session/wire-loop", body).json()["result"]
    assert result["status"] == "continued"
    seen = ""
    while result["status"] != "finished":
        body = {"mode": "continued", "code": "", "runId": result["runId"]}
        answer = live_server.signed("POST", "/session/wire-loop", body)
        assert answer.status_code == 200, answer.text
        result = answer.json()["result"]
        seen += "".join(text for kind, text in result["console"] if kind == "stdout")
    assert seen == "7\n"
    assert live_server.signed("DELETE", "/session/wire-loop").status_code == 200

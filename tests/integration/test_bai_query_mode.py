"""Query mode with the official client against a real server: the seed's synchronous run loop,
its user-input variant and media handler, the asynchronous ``stream_execute`` example, the
CLI's ``run -c``, interrupt and completion of a running cell, and the exec time limit.

Differences the 22.3.2 SDK forces on the seed's examples: ``Session``/``AsyncSession`` are
imported from ``ai.backend.client.session``, ``get_or_create`` takes ``name=`` (not
``client_token=``), the stream's ``send_text`` is ``send_str``, and the synchronous loop must
say ``continue``: the SDK refuses the seed's ``continued`` before sending (the server accepts
both).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(
        not Path("/usr/lib/python3/dist-packages/ipykernel").is_dir(),
        reason="python3-ipykernel is not installed",
    ),
]

PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

SYNC_LOOP = """
import getpass, json, sys
from ai.backend.client.session import Session

answers = iter(ANSWERS)
media = []

def handle_media(record):
    media.append(record)

def run(kern, code):
    mode, run_id, statuses = 'query', None, []
    while True:
        result = kern.execute(run_id, code, mode=mode)
        run_id = result['runId']
        statuses.append(result['status'])
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
        elif result['status'] == 'waiting-input':
            mode = 'input'
            if result['options'].get('is_password', False):
                code = next(answers)
                print('<password>')
            else:
                code = next(answers)
        else:
            mode = 'continue'
            code = ''
    return statuses

with Session() as session:
    kern = session.ComputeSession.get_or_create('python:3.6-ubuntu18.04', name='query-sync')
    report = {}
    for name, code in CELLS:
        report[name] = run(kern, code)
    report['media'] = media
    print('REPORT ' + json.dumps(report))
    kern.destroy()
"""

ASYNC_STREAM = """
import asyncio, json, sys
import aiohttp
from ai.backend.client.session import AsyncSession

async def main():
    frames = []
    async with AsyncSession() as session:
        kern = await session.ComputeSession.get_or_create(
            'python:3.6-ubuntu18.04', name='query-async')
        code = 'print("hello world")\\nname = input("name? ")\\nprint("hi", name)'
        mode = 'query'
        async with kern.stream_execute(code, mode=mode) as stream:
            async for result in stream:
                if result.type != aiohttp.WSMsgType.TEXT:
                    continue
                result = json.loads(result.data)
                frames.append(result['status'])
                for rec in result.get('console', []):
                    if rec[0] == 'stdout':
                        print(rec[1], end='', file=sys.stdout)
                    elif rec[0] == 'stderr':
                        print(rec[1], end='', file=sys.stderr)
                sys.stdout.flush()
                if result['status'] == 'finished':
                    break
                elif result['status'] == 'waiting-input':
                    mode = 'input'
                    await stream.send_str('Carol')
                else:
                    mode = 'continued'
                    code = ''
        # a second run over a new socket sees the first one's globals
        async with kern.stream_execute('print(name * 2)', mode='query') as stream:
            async for result in stream:
                if result.type == aiohttp.WSMsgType.TEXT:
                    body = json.loads(result.data)
                    print(''.join(r[1] for r in body['console'] if r[0] == 'stdout'), end='')
                    if body['status'] == 'finished':
                        break
        await kern.destroy()
    print('FRAMES ' + json.dumps(frames))

asyncio.run(main())
"""

RUNNING_CELL = """
import json, threading, time
from ai.backend.client.session import Session

with Session() as session:
    kern = session.ComputeSession.get_or_create('python:3.6-ubuntu18.04', name='query-intr')
    defined = kern.execute(None, 'marker_value = 7', mode='query')
    while defined['status'] == 'continued':  # the kernel may still be starting
        defined = kern.execute(defined['runId'], '', mode='continue')
    result = kern.execute(None, 'import time\\nprint("sleeping", flush=True)\\ntime.sleep(60)',
                          mode='query')
    run_id = result['runId']
    statuses, console = [result['status']], list(result['console'])
    while 'sleeping' not in ''.join(c[1] for c in console if c[0] == 'stdout'):
        result = kern.execute(run_id, '', mode='continue')  # until the cell runs
        statuses.append(result['status'])
        console += result['console']
    completions = kern.complete('marker_v')['result']['completions']
    kern.interrupt()
    started = time.monotonic()
    while result['status'] != 'finished':
        result = kern.execute(run_id, '', mode='continue')
        statuses.append(result['status'])
        console += result['console']
    report = {
        'completions': completions,
        'statuses': statuses,
        'stderr': ''.join(c[1] for c in console if c[0] == 'stderr'),
        'seconds': time.monotonic() - started,
    }
    print('REPORT ' + json.dumps(report))
    kern.destroy()
"""


def report(out: str, tag: str = "REPORT") -> dict:  # type: ignore[type-arg]
    line = next(line for line in out.splitlines() if line.startswith(tag + " "))
    return json.loads(line.split(" ", 1)[1])  # type: ignore[no-any-return]


@pytest.fixture
def fast_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose polling window is short, so long cells hand out ``continued``."""
    server = LiveServer(
        home=tmp_path / "home",
        database_url=database_url,
        extra_env={"HANGAR_EXECUTE_FLUSH_SECONDS": "0.3"},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_run_c_prints_hello_world(live_server: LiveServer) -> None:
    done = live_server.official("run", "--rm", "-c", 'print("hello world")', "python")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hello world\n" in done.stdout
    assert "Execution finished. (exit code = 0)" in done.stdout + done.stderr
    assert live_server.sessions_alive() == []


def test_query_output_reaches_the_console_log(live_server: LiveServer) -> None:
    started = live_server.official("start", "-t", "qlog", "python")
    assert started.returncode == 0, started.stdout + started.stderr
    code = 'import sys\nprint("to the log", 6 * 7)\nprint("oops", file=sys.stderr)'
    done = live_server.official("run", "-t", "qlog", "-c", code, "python")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "to the log 42" in done.stdout
    logs = live_server.official("session", "logs", "qlog")
    assert logs.returncode == 0, logs.stdout + logs.stderr
    assert "to the log 42\n" in logs.stdout and "oops\n" in logs.stdout


def test_seed_sync_loop_with_inputs_media_and_state(fast_server: LiveServer) -> None:
    cells = [
        ("hello", 'print("hello world")'),
        ("define", "counter = 41\nimport sys\nprint('err', file=sys.stderr)\nprint('out')"),
        ("slow", "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.4)"),
        ("state", "counter += 1\nprint(counter)"),
        ("ask", "import getpass\nwho = input('who? ')\npin = getpass.getpass()\nprint(who, pin)"),
        (
            "media",
            "import base64, json\nfrom IPython.display import display, Image, SVG, HTML\n"
            f"display(Image(data=base64.b64decode('{PNG}'), format='png'))\n"
            "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))\n"
            "display({'application/x-sorna-drawing': json.dumps([1, 2])}, raw=True)\n"
            "display(HTML('<i>x</i>'))",
        ),
    ]
    script = SYNC_LOOP.replace("ANSWERS", repr(["Dora", "1234"])).replace("CELLS", repr(cells))
    done = fast_server.official_python(script)
    assert done.returncode == 0, done.stdout + done.stderr
    result = report(done.stdout)
    assert done.stdout.startswith("hello world\nout\n0\n1\n2\n42\nwho? <password>\nDora 1234\n")
    assert done.stderr == "err\n"
    assert result["hello"][-1] == "finished"  # "continued" first while the kernel starts
    assert result["slow"][-1] == "finished" and "continued" in result["slow"]
    # "continued" may come between them on a busy machine (the poll window is 0.3 s)
    asked = [status for status in result["ask"] if status != "continued"]
    assert asked == ["waiting-input", "waiting-input", "finished"]
    assert result["media"] == [
        ["media", ["image/png", f"data:image/png;base64,{PNG}"]],
        ["media", ["image/svg+xml", '<svg xmlns="http://www.w3.org/2000/svg"/>']],
        ["media", ["application/x-sorna-drawing", "[1, 2]"]],
        ["html", "<i>x</i>"],
    ]
    assert fast_server.sessions_alive() == []


def test_seed_async_stream_execute_with_input(live_server: LiveServer) -> None:
    done = live_server.official_python(ASYNC_STREAM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("hello world\nname? hi Carol\nCarolCarol\n")
    frames = [status for status in report(done.stdout, "FRAMES") if status != "continued"]
    assert frames[-2:] == ["waiting-input", "finished"]


def test_interrupt_and_complete_a_running_cell(fast_server: LiveServer) -> None:
    done = fast_server.official_python(RUNNING_CELL)
    assert done.returncode == 0, done.stdout + done.stderr
    result = report(done.stdout)
    assert result["completions"] == ["marker_value"]
    assert "KeyboardInterrupt" in result["stderr"]
    assert result["statuses"][-1] == "finished"
    assert result["seconds"] < 20


def test_a_cell_over_the_time_limit_ends_with_exec_timeout(
    database_url: str, tmp_path: Path
) -> None:
    server = LiveServer(
        home=tmp_path / "home",
        database_url=database_url,
        extra_env={"HANGAR_QUERY_EXEC_TIMEOUT_SECONDS": "1"},
    )
    server.start()
    try:
        script = textwrap.dedent(
            """
            from ai.backend.client.session import Session

            def run(kern, code):
                result = kern.execute(None, code, mode='query')
                console = list(result['console'])
                while result['status'] == 'continued':
                    result = kern.execute(result['runId'], '', mode='continue')
                    console += result['console']
                return result, console

            with Session() as session:
                kern = session.ComputeSession.get_or_create('python', name='query-timeout')
                run(kern, 'kept = 5')
                result, _ = run(kern, 'import time; time.sleep(30)')
                print(result['status'], result['exitCode'])
                print(run(kern, 'print(kept)')[1])
                kern.destroy()
            """
        )
        done = server.official_python(script)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines() == ["exec-timeout None", "[['stdout', '5\\n']]"]
    finally:
        server.stop()

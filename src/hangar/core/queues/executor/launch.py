"""The first process of a queued task's session: runs inside the sandbox with the image's
Python, the standard library only (it imports nothing of Hangar).

``python3 launch.py <run spec.json>``:

1. a relay on the session's own loopback (``127.0.0.1:<the server's port>``) to the server's
   API through a Unix socket the server listens on in the run's directory: the session has
   a network of its own and cannot reach the host, this socket is its only way to the API;
2. the task's code copied into ``/home/work/code``; its requirements into a venv;
3. ``python <entry point>`` in the working dir, with the SDK's remote-mode variables, its
   output passed through and sent as the task's console log (``events.add_batch``);
4. exits with the script's exit code.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

HOME = os.environ.get("HOME") or "/home/work"  # the session's scratch dir
MAX_PENDING = 10_000


class UnixConnection(http.client.HTTPConnection):
    """HTTP to the server over the run's Unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self._path)
        self.sock = sock


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                sock.shutdown(how)


def _serve_relay(listener: socket.socket, path: str) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            client.close()
            upstream.close()
            continue
        threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def start_relay(path: str, port: int) -> int:
    """Listen on 127.0.0.1:``port`` (any free port when taken) and relay each connection to
    the Unix socket ``path``; returns the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError:
        listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    threading.Thread(target=_serve_relay, args=(listener, path), daemon=True).start()
    bound: int = listener.getsockname()[1]
    return bound


class ConsoleLog:
    """Sends output lines as the task's log events, in batches, from a thread of its own:
    a line goes as soon as no batch is on its way, so the first one shows at once."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._socket = spec["api_socket"]
        self._task, self._worker = spec["task"], spec["worker"]
        pair = f"{spec['access_key']}:{spec['secret_key']}".encode()
        self._auth = "Basic " + base64.b64encode(pair).decode()
        self._lines: list[dict[str, Any]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def line(self, text: str, level: str = "info") -> None:
        event = {
            "type": "log", "task": self._task, "timestamp": int(time.time() * 1000),
            "level": level, "worker": self._worker, "msg": text,
        }  # fmt: skip
        with self._ready:
            if len(self._lines) < MAX_PENDING:
                self._lines.append(event)
            self._ready.notify()

    def close(self, timeout: float = 30) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        self._hello()
        wait = 0.2
        while True:
            with self._ready:
                while not self._lines and not self._closed:
                    self._ready.wait()
                if not self._lines:
                    return
                batch, self._lines = self._lines, []
            while not self._send(batch):
                if self._closed and wait > 5:
                    return  # the server is away; the output is in the session's log
                time.sleep(wait)
                wait = min(wait * 2, 10)
            wait = 0.2

    def _hello(self) -> None:
        """One call at start: the server learns that the task's code is about to run (a
        session that fails before this never ran it, and its task may be queued again)."""
        conn = UnixConnection(self._socket)
        with contextlib.suppress(OSError):
            conn.request(
                "POST", "/debug.ping", body=b"{}", headers={"Content-Type": "application/json"}
            )
            conn.getresponse().read()
        conn.close()

    def _send(self, batch: list[dict[str, Any]]) -> bool:
        body = "\n".join(json.dumps(event) for event in batch).encode()
        headers = {"Authorization": self._auth, "Content-Type": "application/json-lines"}
        conn = UnixConnection(self._socket)
        try:
            conn.request("POST", "/events.add_batch", body=body, headers=headers)
            return conn.getresponse().status < 500
        except OSError:
            return False
        finally:
            conn.close()


def copy_code(spec: dict[str, Any]) -> str:
    """The task's code in the writable home; returns the working dir."""
    target = os.path.join(HOME, "code")
    shutil.copytree(spec["code"], target, symlinks=True, dirs_exist_ok=True)
    cwd = os.path.join(target, spec["working_dir"]) if spec["working_dir"] else target
    if not os.path.isdir(cwd):
        raise RuntimeError(f"the working dir {spec['working_dir']!r} is not in the code")
    return cwd


def prepare_python(spec: dict[str, Any], log: ConsoleLog) -> str:
    """The interpreter to run the task with: a venv with the task's requirements, or the
    image's own when it has none."""
    requirements: list[str] = spec["requirements"]
    if not requirements:
        return sys.executable
    started = time.monotonic()
    venv = os.path.join(HOME, ".venv")
    run = [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv]
    subprocess.run(run, check=True)
    python = os.path.join(venv, "bin", "python")
    if spec.get("sdk"):
        found = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        with open(os.path.join(found.stdout.strip(), "hangar-sdk.pth"), "w") as pth:
            pth.write(spec["sdk"] + "\n")  # after the task's own packages
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-input",
           "--disable-pip-version-check", "--cache-dir", os.path.join(HOME, ".cache", "pip"),
           *spec["pip_args"], *requirements]  # fmt: skip
    log.line("[hangar] installing requirements: " + " ".join(requirements))
    done = subprocess.run(pip, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for text in done.stdout.splitlines():
        print(text, flush=True)
        log.line(text)
    if done.returncode != 0:
        raise RuntimeError(f"pip install failed with exit code {done.returncode}")
    log.line(f"[hangar] environment ready in {time.monotonic() - started:.2f} s")
    return python


def _forward(stream: Any, out: Any, log: ConsoleLog, level: str) -> None:
    for raw in iter(stream.readline, b""):
        out.buffer.write(raw)
        out.flush()
        log.line(raw.decode("utf-8", "replace").rstrip("\n"), level)


def run_script(
    python: str, spec: dict[str, Any], env: dict[str, str], cwd: str, log: ConsoleLog
) -> int:
    """Run the entry point; its output goes to ours and to the task's log."""
    child = subprocess.Popen(
        [python, *spec["argv"]], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda s, _f: child.send_signal(s))
    readers = [
        threading.Thread(target=_forward, args=(child.stdout, sys.stdout, log, "info")),
        threading.Thread(target=_forward, args=(child.stderr, sys.stderr, log, "error")),
    ]
    for reader in readers:
        reader.start()
    code = child.wait()
    for reader in readers:
        reader.join()
    return code


def environment(spec: dict[str, Any], port: int, python: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(spec["env"])
    api = f"http://127.0.0.1:{port}"
    env.update(
        CLEARML_API_HOST=api, CLEARML_WEB_HOST=api,
        CLEARML_FILES_HOST=spec.get("files_host") or api + "/files",
        CLEARML_API_ACCESS_KEY=spec["access_key"], CLEARML_API_SECRET_KEY=spec["secret_key"],
        CLEARML_TASK_ID=spec["task"], CLEARML_LOG_TASK_TO_BACKEND="0",
        CLEARML_WORKER_ID=spec["worker"], PYTHONUNBUFFERED="1",
    )  # fmt: skip
    if spec.get("sdk") and python == sys.executable:
        parts = [p for p in (env.get("PYTHONPATH", ""), spec["sdk"]) if p]
        env["PYTHONPATH"] = ":".join(parts)
    return env


def main(argv: list[str]) -> int:
    with open(argv[1]) as file:
        spec: dict[str, Any] = json.load(file)
    port = start_relay(spec["api_socket"], int(spec["api_port"]))
    log = ConsoleLog(spec)
    try:
        cwd = copy_code(spec)
        python = prepare_python(spec, log)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"[hangar] could not prepare the task: {exc}", file=sys.stderr, flush=True)
        log.line(f"[hangar] could not prepare the task: {exc}", "error")
        log.close()
        return 1
    code = run_script(python, spec, environment(spec, port, python), cwd, log)
    log.close()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""A QUEUE endpoint's test worker and a webhook receiver for the task tests.

The worker (the host-Python image's init command) serves HTTP on 8080: POST answers
``{"echo": <body>, "tenant": <X-Tenant>, "ctype": <Content-Type>, "times": n}`` (n: how
often it saw that body), ``/fail`` answers 500, ``/slow`` sleeps ``body["sleep"]``
seconds first, ``/seen`` answers every body it saw with its count.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORKER = r"""
import json, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
seen = {}
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.answer(200, {"ok": True})
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.loads(body or b"null")
        if self.path == "/seen":
            return self.answer(200, seen)
        key = json.dumps(data, sort_keys=True)
        seen[key] = seen.get(key, 0) + 1
        if self.path == "/fail":
            return self.answer(500, {"why": "asked to fail"})
        if self.path == "/slow":
            time.sleep(data.get("sleep", 1))
        self.answer(200, {"echo": data, "tenant": self.headers.get("X-Tenant"),
                          "ctype": self.headers.get("Content-Type"), "times": seen[key]})
    def answer(self, code, obj):
        out = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *args):
        pass
print("task worker up", flush=True)
ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""
WORKER_INIT = (
    "exec python3 -c \"import base64; exec(base64.b64decode('"
    + base64.b64encode(WORKER.encode()).decode()
    + "'))\""
)


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """Webhooks on loopback: ``/ok`` answers 200, ``/down`` 500, ``/flaky`` 500 to the
    first two attempts for each task then 200."""

    server: ThreadingHTTPServer
    hooks: list[Hook] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def of(self, key: str) -> list[Hook]:
        with self.lock:
            return [h for h in self.hooks if h.body.get("user_task_id") == key]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            hook = Hook(self.path, dict(self.headers.items()), body)
            with receiver.lock:
                receiver.hooks.append(hook)
                earlier = [h for h in receiver.hooks if h.path == self.path
                           and h.body.get("user_task_id") == body.get("user_task_id")]  # fmt: skip
            ok = self.path == "/ok" or (self.path == "/flaky" and len(earlier) > 2)
            self.send_response(200 if ok else 500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver

"""Query mode's kernel for any Python 3.6 or later, with the standard library alone.

An image whose Python has no ipykernel (and is not the host's version, whose ipykernel Hangar
lends) still runs its cells in its own Python: the kernel launcher hands this module's source
in on stdin with the connection info, so nothing is installed in or bound into the image. It
speaks the Jupyter messaging protocol (HMAC-SHA256 signed messages) on ZeroMQ's wire protocol
(:mod:`.stdlib_wire`), so the agent's client is the one it uses for ipykernel: shell and
control are ROUTER sockets, stdin ROUTER, IOPub PUB, heartbeat REP.

What it serves: execute (a cell's last expression is shown, as in a notebook; tracebacks show
the cell's own frames), stdout/stderr streamed as written (also what subprocesses write to
file descriptors 1 and 2), ``input()``/``getpass()`` over stdin, interrupts on the control
channel (SIGINT to the running cell), completion (``rlcompleter``), kernel_info, is_complete.
No IPython: no magics, no ``display()``. Written for Python 3.6: no ``from __future__ import
annotations``, typing's generics, no parenthesised context managers.
"""

import ast
import base64
import builtins
import codecs
import codeop
import contextlib
import datetime
import getpass
import hashlib
import hmac
import io
import json
import linecache
import os
import queue
import re
import rlcompleter
import selectors
import signal
import sys
import threading
import traceback
import types
import uuid
from typing import Any, Dict, List, Optional, Tuple

# In an image the launcher ran stdlib_wire's source just before this one, in one namespace.
with contextlib.suppress(ImportError):
    from hangar.agent.kernels.stdlib_wire import Peer, Wire

DELIM = b"<IDS|MSG>"
PROTOCOL = "5.3"
FLUSH_EVERY = 0.05  # seconds between flushes of a stream's pending text
RICH = (("_repr_html_", "text/html"), ("_repr_svg_", "image/svg+xml"),
        ("_repr_png_", "image/png"), ("_repr_jpeg_", "image/jpeg"))  # fmt: skip
Msg = Dict[str, Any]


class Stream(io.TextIOBase):
    """sys.stdout or sys.stderr: text goes to the kernel's IOPub stream messages."""

    def __init__(self, kernel: "Kernel", name: str, fd: int) -> None:
        super().__init__()
        self.kernel, self.channel, self.fd = kernel, name, fd

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        self.kernel.out(self.channel, text)
        return len(text)

    def flush(self) -> None:
        self.kernel.flush()


class Stdin(io.TextIOBase):
    """sys.stdin: each line read is asked for over the stdin channel."""

    def __init__(self, kernel: "Kernel") -> None:
        super().__init__()
        self.kernel = kernel

    def readable(self) -> bool:
        return True

    def readline(self, size: Optional[int] = -1) -> str:  # type: ignore[override]
        return self.kernel.ask("", False) + "\n"

    def read(self, size: Optional[int] = -1) -> str:
        return self.readline()


class Kernel:
    """The kernel's state: the user's namespace, the cell counter, pending output."""

    def __init__(self, info: Msg) -> None:
        self.key = str(info.get("key", "")).encode()
        self.session = uuid.uuid4().hex
        self.shell = queue.Queue()  # type: queue.Queue[Tuple[Peer, List[bytes], Msg]]
        self.inputs = queue.Queue()  # type: queue.Queue[Msg]
        self.control = queue.Queue()  # type: queue.Queue[Tuple[Peer, Msg]]
        self.wire = Wire(str(info.get("ip") or "127.0.0.1"), info, self._deliver)
        self.module = types.ModuleType("__main__")
        self.module.__dict__["__builtins__"] = builtins
        self.namespace = self.module.__dict__
        self.count = 0
        self.parent = {}  # type: Msg
        self.requester = b""  # the shell identity of the running cell's client
        self.executing = False
        self.pending = ("", "")  # (stream name, text not yet sent): one stream at a time
        self.out_lock = threading.RLock()

    # -- messages -----------------------------------------------------------------------

    def _sign(self, parts: List[bytes]) -> bytes:
        if not self.key:
            return b""
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode()

    def frames(self, msg_type: str, content: Msg, parent: Msg) -> List[bytes]:
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "work",
                  "session": self.session, "version": PROTOCOL,
                  "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}  # fmt: skip
        parts = [json.dumps(part, default=repr).encode() for part in (header, parent, {}, content)]
        return [DELIM, self._sign(parts), *parts]

    def _parse(self, frames: List[bytes]) -> Optional[Msg]:
        if DELIM not in frames:
            return None
        at = frames.index(DELIM)
        signature, parts = frames[at + 1], frames[at + 2 : at + 6]
        if len(parts) < 4 or not hmac.compare_digest(signature, self._sign(parts)):
            return None
        header, parent, metadata, content = (json.loads(p.decode()) for p in parts)
        return {"header": header, "parent_header": parent, "metadata": metadata,
                "content": content, "msg_type": header.get("msg_type", "")}  # fmt: skip

    def _deliver(self, channel: str, peer: Peer, frames: List[bytes]) -> None:
        msg = self._parse(frames)
        if msg is None:
            return
        if channel == "shell":
            self.shell.put((peer, frames[: frames.index(DELIM)], msg))
        elif channel == "stdin":
            self.inputs.put(msg)
        elif msg["msg_type"] == "interrupt_request":  # at once, even while completing
            self._control(peer, msg)
        else:  # control: served on its own thread, so it works while a cell runs
            self.control.put((peer, msg))

    def publish(self, msg_type: str, content: Msg, parent: Optional[Msg] = None) -> None:
        topic = ("kernel.%s.%s" % (self.session, msg_type)).encode()
        self.wire.publish([topic, *self.frames(msg_type, content, parent or self.parent)])

    def reply(self, peer: Peer, idents: List[bytes], kind: str, content: Msg, parent: Msg) -> None:
        peer.send([*idents, *self.frames(kind, content, parent)])

    # -- output and input ---------------------------------------------------------------

    def out(self, name: str, text: str) -> None:
        with self.out_lock:
            if self.pending[0] != name:
                self.flush()
            self.pending = (name, self.pending[1] + text)
            if len(self.pending[1]) > 1 << 16:
                self.flush()

    def flush(self) -> None:
        with self.out_lock:
            name, text = self.pending
            self.pending = ("", "")
            if text:
                self.publish("stream", {"name": name, "text": text})

    def ask(self, prompt: str, password: bool) -> str:
        """What the client answers to ``prompt`` (input(), getpass(), sys.stdin)."""
        self.flush()
        while not self.inputs.empty():  # an answer to an earlier, interrupted question
            self.inputs.get_nowait()
        peer = self.wire.stdin_peer(self.requester)
        if peer is None:
            raise RuntimeError("input() needs a client listening on the stdin channel")
        content = {"prompt": str(prompt), "password": password}
        peer.send(self.frames("input_request", content, self.parent))
        while True:
            try:
                answer = self.inputs.get(timeout=0.2)  # a wait that an interrupt can end
            except queue.Empty:
                continue
            return str(answer["content"].get("value", ""))

    # -- requests -------------------------------------------------------------------------

    def serve(self) -> None:
        """Answer shell requests on this (the main) thread, one at a time."""
        while True:
            try:
                peer, idents, msg = self.shell.get()
                self.publish("status", {"execution_state": "busy"}, msg["header"])
                try:
                    self._shell(peer, idents, msg)
                finally:
                    self.flush()
                    self.publish("status", {"execution_state": "idle"}, msg["header"])
            except KeyboardInterrupt:  # an interrupt that came as a cell ended
                continue

    def _shell(self, peer: Peer, idents: List[bytes], msg: Msg) -> None:
        kind, content, header = msg["msg_type"], msg["content"], msg["header"]
        if kind == "execute_request":
            self.reply(peer, idents, "execute_reply", self._execute(peer, msg), header)
        elif kind in ("kernel_info_request", "complete_request", "is_complete_request"):
            self.reply(peer, idents, kind[:-8] + "_reply", self._answer(kind, content), header)
        elif kind == "inspect_request":
            found = {"status": "ok", "found": False, "data": {}, "metadata": {}}
            self.reply(peer, idents, "inspect_reply", found, header)
        elif kind == "history_request":
            self.reply(peer, idents, "history_reply", {"status": "ok", "history": []}, header)
        elif kind == "comm_info_request":
            self.reply(peer, idents, "comm_info_reply", {"status": "ok", "comms": {}}, header)
        elif kind == "shutdown_request":
            self.reply(peer, idents, "shutdown_reply", dict(content, status="ok"), header)
            os._exit(0)

    def serve_control(self) -> None:
        while True:
            self._control(*self.control.get())

    def _control(self, peer: Peer, msg: Msg) -> None:
        kind, content, header = msg["msg_type"], msg["content"], msg["header"]
        if kind == "interrupt_request":
            if self.executing:
                os.kill(os.getpid(), signal.SIGINT)
            self.reply(peer, [], "interrupt_reply", {"status": "ok"}, header)
        elif kind in ("kernel_info_request", "complete_request", "is_complete_request"):
            self.reply(peer, [], kind[:-8] + "_reply", self._answer(kind, content), header)
        elif kind == "shutdown_request":
            self.reply(peer, [], "shutdown_reply", dict(content, status="ok"), header)
            os._exit(0)

    def _answer(self, kind: str, content: Msg) -> Msg:
        if kind == "complete_request":
            code = str(content.get("code", ""))
            return complete(self.namespace, code, int(content.get("cursor_pos", len(code))))
        if kind == "is_complete_request":
            return is_complete(str(content.get("code", "")))
        version = "%d.%d.%d" % sys.version_info[:3]
        return {"status": "ok", "protocol_version": PROTOCOL, "implementation": "hangar",
                "implementation_version": "1", "banner": "Python " + sys.version,
                "language_info": {"name": "python", "version": version,
                                  "mimetype": "text/x-python", "file_extension": ".py",
                                  "pygments_lexer": "python3", "codemirror_mode": "python"},
                "help_links": []}  # fmt: skip

    def _execute(self, peer: Peer, msg: Msg) -> Msg:
        content = msg["content"]
        code = str(content.get("code", ""))
        silent = bool(content.get("silent"))
        if content.get("store_history", not silent):
            self.count += 1
        self.parent, self.requester = msg["header"], peer.identity
        if not silent:
            self.publish("execute_input", {"code": code, "execution_count": self.count})
        shown, failure = self._run(code)
        drain_fds()
        self.flush()
        if failure is not None:
            self.publish("error", failure)
            return dict(failure, status="error", execution_count=self.count)
        if shown is not None and not silent:
            result = {"execution_count": self.count, "data": shown, "metadata": {}}
            self.publish("execute_result", result)
        return {"status": "ok", "execution_count": self.count, "payload": [],
                "user_expressions": {}}  # fmt: skip

    def _run(self, code: str) -> Tuple[Optional[Msg], Optional[Msg]]:
        """Run a cell: (its last expression's MIME bundle, its error), each or both None."""
        filename = "<cell %d>" % self.count
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            tree = ast.parse(code, filename, "exec")
            last = tree.body[-1] if tree.body else None
            tail = None
            if isinstance(last, ast.Expr):  # shown, as a notebook shows a cell's value
                tree.body.pop()
                tail = compile(ast.Expression(last.value), filename, "eval")
            body = compile(tree, filename, "exec")
        except (SyntaxError, ValueError, OverflowError) as exc:
            return None, _error(exc, None)
        value = None
        self.executing = True
        try:
            exec(body, self.namespace)
            if tail is not None:
                value = eval(tail, self.namespace)
            self.executing = False
        except BaseException as exc:  # noqa: BLE001 - the user's error, shown as ipykernel does
            self.executing = False
            return None, _error(exc, exc.__traceback__)
        if value is None:
            return None, None
        self.namespace["_"] = value
        return _bundle(value), None


def _error(exc: BaseException, tb: Any) -> Msg:
    """An error message's content; the traceback shows the cell's frames, not the kernel's."""
    own = '  File "%s"' % KERNEL_FILE
    lines = traceback.format_exception(type(exc), exc, tb)
    lines = [line for line in lines if not line.startswith(own)]
    return {"ename": type(exc).__name__, "evalue": str(exc),
            "traceback": [line.rstrip("\n") for line in lines]}  # fmt: skip


def _bundle(value: Any) -> Msg:
    """The MIME bundle of a cell's result: its repr and the rich forms it offers."""
    data = {"text/plain": repr(value)}
    for method, mime in RICH:
        try:
            shown = getattr(value, method, None)
            out = shown() if callable(shown) and not isinstance(value, type) else None
        except Exception:  # noqa: BLE001 - a broken _repr_*_ costs only that form
            out = None
        if isinstance(out, bytes):
            out = base64.b64encode(out).decode()
        if isinstance(out, str):
            data[mime] = out
    return data


def complete(namespace: Msg, code: str, cursor: int) -> Msg:
    """Names and attributes that complete the dotted name before ``cursor``."""
    match = re.search(r"[A-Za-z_][\w.]*$", code[:cursor])
    token = match.group(0) if match else ""
    matches = []  # type: List[str]
    completer = rlcompleter.Completer(namespace)
    for state in range(10000) if token else ():
        try:
            found = completer.complete(token, state)
        except Exception:  # noqa: BLE001 - an attribute that raises ends the list
            break
        if found is None:
            break
        found = found.rstrip("(: ")
        if found not in matches:
            matches.append(found)
    return {"status": "ok", "matches": matches, "cursor_start": cursor - len(token),
            "cursor_end": cursor, "metadata": {}}  # fmt: skip


def is_complete(code: str) -> Msg:
    try:
        compiled = codeop.compile_command(code, "<cell>", "exec")
    except (SyntaxError, ValueError, OverflowError):
        return {"status": "invalid"}
    if compiled is None:
        return {"status": "incomplete", "indent": ""}
    return {"status": "complete"}


_fd_lock = threading.Lock()
_fd_pipes = []  # type: List[Tuple[int, str, Any]]


def _capture_fds(kernel: Kernel) -> None:
    """Point file descriptors 1 and 2 at pipes whose text becomes stream output."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        read, write = os.pipe()
        os.dup2(write, fd)
        os.close(write)
        os.set_blocking(read, False)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        take = lambda data, d=decoder, n=name: kernel.out(n, d.decode(data))  # noqa: E731
        _fd_pipes.append((read, name, take))
    selector = selectors.DefaultSelector()
    for read, _, _ in _fd_pipes:
        selector.register(read, selectors.EVENT_READ)

    def pump() -> None:
        while True:
            selector.select(FLUSH_EVERY)
            drain_fds()
            kernel.flush()

    threading.Thread(target=pump, daemon=True).start()


def drain_fds() -> None:
    """Move what was written to the captured descriptors into the streams."""
    with _fd_lock:
        for read, _, take in _fd_pipes:
            while True:
                try:
                    data = os.read(read, 1 << 16)
                except BlockingIOError:
                    break
                if not data:
                    break
                take(data)


def _on_interrupt(signum: int, frame: Any) -> None:
    if KERNEL is not None and KERNEL.executing:
        raise KeyboardInterrupt


KERNEL = None  # type: Optional[Kernel]
KERNEL_FILE = "<hangar-kernel>"  # the file name this source is compiled under


def main(info: Msg, ready_mark: str) -> None:
    """Listen as ``info`` (a connection file's content; ports 0: any) says, write
    ``ready_mark`` and the ports as JSON on stdout, then serve until killed."""
    global KERNEL
    kernel = KERNEL = Kernel(info)
    os.write(1, (ready_mark + json.dumps(kernel.wire.ports) + "\n").encode())
    sys.modules["__main__"] = kernel.module
    sys.stdout, sys.stderr = Stream(kernel, "stdout", 1), Stream(kernel, "stderr", 2)
    sys.stdin = Stdin(kernel)
    builtins.input = lambda prompt="": kernel.ask(str(prompt), False)
    getpass.getpass = lambda prompt="Password: ", stream=None: kernel.ask(prompt, True)
    signal.signal(signal.SIGINT, _on_interrupt)
    _capture_fds(kernel)
    threading.Thread(target=kernel.wire.serve, daemon=True).start()
    threading.Thread(target=kernel.serve_control, daemon=True).start()
    kernel.serve()

"""Starting ipykernel in a kernel's sandbox and learning where it listens.

The agent never picks ports itself (a port chosen outside may be taken before the kernel
binds it): the launcher hands ipykernel a connection file with the key and port 0 for every
channel, lets it bind free loopback ports, and reports them on its original stdout as one
JSON line. The connection file (it holds the key) lives in the sandbox's private /tmp and is
fed in on stdin, so the key never appears on a command line.

A Python without ipykernel (an image's of another version than the host's, which Hangar's
own ipykernel cannot serve), or whose ipykernel does not import, gets :mod:`.stdlib_kernel`
instead: its source (with :mod:`.stdlib_wire`'s) comes in on stdin too, and it reports its
ports the same way. Nothing is installed in or bound into the image.
"""

from __future__ import annotations

import functools
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hangar.agent.images.runner import PRELUDE  # an image's kernel runner, if it has one
from hangar.agent.kernels.stdlib_kernel import KERNEL_FILE

READY_MARK = "HANGAR-KERNEL-READY "
PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")

# Runs as ``python -c LAUNCHER`` in the sandbox. fd 1 is saved before ipykernel redirects
# the standard streams to the kernel's output channel. ipykernel buffers stdout and stderr
# apart; a write flushes the other stream's pending text first, so their order is kept.
# Completion uses IPython's own completer: jedi takes seconds to load on a busy host.
LAUNCHER = f"""
import json, os, sys, tempfile
request = json.loads(sys.stdin.read())
info = request["connection"]
try:
    from ipykernel.kernelapp import IPKernelApp
except Exception:  # none, or one that cannot load: Hangar's standard-library kernel
    kernel = {{"__name__": "hangar_kernel"}}
    exec(compile(request["runner"], {KERNEL_FILE!r}, "exec"), kernel)
    kernel["main"](info, {READY_MARK!r})
fd, path = tempfile.mkstemp(prefix="hangar-kernel-", suffix=".json")
os.write(fd, json.dumps(info).encode()); os.close(fd)
report = os.dup(1)
app = IPKernelApp.instance()
app.initialize(["-f", path, "--IPKernelApp.log_level=WARN", "--IPCompleter.use_jedi=False"])
ports = {{name: getattr(app, name) for name in {PORT_NAMES!r}}}
os.write(report, ({READY_MARK!r} + json.dumps(ports) + "\\n").encode()); os.close(report)
def ordered(stream, other):
    write = stream.write
    def ordered_write(text):
        if getattr(other, "_flush_pending", False):
            other.flush()
        return write(text)
    stream.write = ordered_write
ordered(sys.stdout, sys.stderr); ordered(sys.stderr, sys.stdout)
app.start()
"""


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and how to talk to one kernel (a Jupyter connection file's content)."""

    key: str
    ip: str = "127.0.0.1"
    ports: tuple[tuple[str, int], ...] = ()

    @classmethod
    def new(cls, ip: str = "127.0.0.1") -> Connection:
        """A fresh key, ports still unknown."""
        return cls(key=secrets.token_hex(32), ip=ip)

    def request(self) -> bytes:
        """What the launcher reads on stdin: ports 0, to be chosen by the kernel, and the
        standard-library kernel's source."""
        connection = {**self._base(), **dict.fromkeys(PORT_NAMES, 0)}
        return json.dumps({"connection": connection, "runner": stdlib_kernel_source()}).encode()

    def with_ports(self, line: str) -> Connection:
        """This connection with the ports of a launcher's ready line. Raises ValueError."""
        ports = json.loads(line.removeprefix(READY_MARK))
        if not isinstance(ports, dict) or not all(
            isinstance(ports.get(name), int) and ports[name] > 0 for name in PORT_NAMES
        ):
            raise ValueError(f"malformed ready line: {line!r}")
        return Connection(self.key, self.ip, tuple((name, ports[name]) for name in PORT_NAMES))

    def info(self) -> dict[str, Any]:
        """The connection info jupyter_client loads."""
        return {**self._base(), **dict(self.ports)}

    def _base(self) -> dict[str, Any]:
        return {
            "transport": "tcp",
            "ip": self.ip,
            "key": self.key,
            "signature_scheme": "hmac-sha256",
            "kernel_name": "python3",
        }


def launcher_argv(interpreter: str) -> list[str]:
    """The command that starts a kernel with ``interpreter`` (run it in the sandbox)."""
    return [interpreter, "-c", PRELUDE + LAUNCHER]


@functools.cache
def stdlib_kernel_source() -> str:
    """The source of :mod:`.stdlib_wire` and :mod:`.stdlib_kernel`, which the launcher runs
    (as one module) without ipykernel."""
    here = Path(__file__).parent
    return "\n".join((here / name).read_text() for name in ("stdlib_wire.py", "stdlib_kernel.py"))

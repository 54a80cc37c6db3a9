"""Query mode in an image's own Python: Hangar brings its Jupyter kernel runner by bind mount,
as Backend.AI does with its runner volume, so nothing has to be installed in the image.

The runner is the host's ``ipykernel`` and what it imports (Debian's ``python3-ipykernel``
under ``/usr/lib/python3/dist-packages``) plus the shared libraries of its compiled parts
(libzmq and its dependencies, not the C library), bound read-only under
``/opt/hangar-runner``. Only the Jupyter kernel's process uses them (:data:`PRELUDE`, run
first by the kernel launcher): it loads the runner's libraries and puts the runner's
packages *after* the image's own on its ``sys.path``, so the image's packages win; the
session's other programs (batch steps, terminals, sshd) never see the host's packages or
libraries. Compiled modules only load into the same
Python minor version, so the runner is offered to images whose Python is the host's
(``usr/lib/python3.X`` or ``usr/local/lib/python3.X`` in the image). An image whose Python
has its own ``ipykernel`` runs that one, whatever its version; any other Python 3.6 or later
runs :mod:`hangar.agent.kernels.stdlib_kernel` (standard library only, handed in by the
launcher on stdin). Only images without such a Python are refused, with
:func:`query_refusal`'s message (batch mode, the terminal and sshd work).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from hangar.agent.images import facts
from hangar.agent.runtimes.base import BindMount, KernelSpec

RUNNER = "/opt/hangar-runner"
HOST_PACKAGES = Path("/usr/lib/python3/dist-packages")
HOST_PYTHON = "/usr/bin/python3"
MIN_MINOR = 6  # the standard-library kernel's oldest Python 3
PYTHON_DIRS = ("/usr/local/bin", "/usr/bin", "/opt/conda/bin", "/opt/venv/bin")
# The C library and its loader stay the image's own.
SYSTEM_LIBRARIES = ("libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so",
                    "libresolv.so", "ld-linux", "linux-vdso")  # fmt: skip


@functools.cache
def host_python_version() -> str | None:
    """``3.11`` for the host's /usr/bin/python3 (None without it)."""
    try:
        argv = [HOST_PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@functools.cache
def _libraries(packages: Path) -> tuple[tuple[Path, str], ...]:
    """(host path, name) of the shared libraries the runner's compiled modules load."""
    found: dict[str, Path] = {}
    for module in sorted((packages / "zmq").rglob("*.so")):
        out = subprocess.run(["ldd", str(module)], capture_output=True, text=True,
                             check=False).stdout  # fmt: skip
        for line in out.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) > 2 and parts[2].startswith("/"):
                name = parts[0]
                if not any(name.startswith(system) for system in SYSTEM_LIBRARIES):
                    found.setdefault(name, Path(parts[2]).resolve())
    return tuple((path, name) for name, path in sorted(found.items()))


def image_python(rootfs: Path) -> str | None:
    """The image's Python version if it matches the host's (its standard library is where
    Debian or python.org images keep it)."""
    version = host_python_version()
    return version if version is not None and facts.python_version(rootfs) == version else None


def own_kernel(rootfs: Path) -> bool:
    """Whether the image's Python has its own ipykernel (then it runs that one)."""
    version = facts.python_version(rootfs)
    return version is not None and facts.has_module(rootfs, version, "ipykernel")


def query_refusal(rootfs: Path | None) -> str | None:
    """Why query mode cannot run in the image (None: it can, or a host kernel)."""
    if rootfs is None or own_kernel(rootfs):
        return None
    version = facts.python_version(rootfs)
    if version is None:
        return "Query mode needs Python in the image, and this image has none; use batch mode."
    if int(version.split(".")[1]) < MIN_MINOR:
        return (
            f"Query mode needs Python 3.{MIN_MINOR} or later (or ipykernel) in the image, and "
            f"its Python is {version}. Batch mode, the terminal and sshd work as they are."
        )
    return None


def query_python(spec: KernelSpec, interpreter: str) -> str:
    """The interpreter of ``spec``'s query kernel (see :func:`query_interpreter`)."""
    return query_interpreter(spec.image.rootfs, interpreter, spec.environ.get("PATH", ""))


@functools.lru_cache(maxsize=256)
def query_interpreter(rootfs: Path | None, interpreter: str, path: str) -> str:
    """The Python that runs the image's query kernel: ``interpreter`` where the image has it,
    else the image's ``python3`` on ``path`` (its Env's PATH) or where images keep one
    (python.org images have no /usr/bin/python3, the default)."""
    if rootfs is None or facts.is_program(rootfs, interpreter):
        return interpreter
    places = [f"{d.rstrip('/')}/python3" for d in path.split(":") if d.startswith("/")]
    places += [f"{d}/python3" for d in PYTHON_DIRS]
    return next((p for p in places if facts.is_program(rootfs, p)), interpreter)


def runner_mounts(rootfs: Path) -> tuple[BindMount, ...]:
    """The runner's binds for an image whose Python can load it and has no ipykernel of
    its own (else none)."""
    if own_kernel(rootfs) or image_python(rootfs) is None:
        return ()
    if not (HOST_PACKAGES / "ipykernel").is_dir():
        return ()
    binds = [BindMount(HOST_PACKAGES, f"{RUNNER}/python")]
    binds += [BindMount(path, f"{RUNNER}/lib/{name}") for path, name in _libraries(HOST_PACKAGES)]
    return tuple(binds)


# Python run by the kernel launcher before it imports ipykernel (a no-op outside a runner
# image). Each library is loaded by path, leaves before those that need them (a load that
# fails for a missing dependency is tried again after the others); a later load of the same
# soname (pyzmq's libzmq.so.5) then finds the one already loaded.
PRELUDE = f"""
import os as _os, sys as _sys
if _os.path.isdir("{RUNNER}/python"):
    import ctypes as _ctypes
    _left = sorted(_os.listdir("{RUNNER}/lib")) if _os.path.isdir("{RUNNER}/lib") else []
    for _ in range(len(_left)):
        for _name in list(_left):
            try:
                _ctypes.CDLL("{RUNNER}/lib/" + _name, mode=_ctypes.RTLD_GLOBAL)
                _left.remove(_name)
            except OSError:
                pass
    _sys.path.append("{RUNNER}/python")
"""

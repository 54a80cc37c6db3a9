"""Build small OCI images from the host's own files, as OCI layouts skopeo can push.

A layer is a list of :class:`Entry` (files, directories, links, whiteouts, opaque markers and
raw hostile names) written as a tar stream and compressed with gzip or zstd. Images:
``shell_rootfs`` (dash + cat + ls, no Python), ``python_rootfs`` (the host's Python 3.11
with its standard library), and hand-made layers for whiteouts and escape attempts.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


@dataclass(frozen=True)
class Entry:
    """One tar member. ``kind``: file, dir, symlink, hardlink, fifo, chardev."""

    name: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""
    uid: int = 0
    gid: int = 0
    mtime: int = 1  # a host file's own, so its Python's cached bytecode stays valid


def file(name: str, data: bytes | str, mode: int = 0o644, uid: int = 0) -> Entry:
    raw = data.encode() if isinstance(data, str) else data
    return Entry(name, "file", raw, mode, uid=uid, gid=uid)


def directory(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, "dir", mode=mode)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, "symlink", target=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, "hardlink", target=target)


def whiteout(path: str) -> Entry:
    parent, _, base = path.rstrip("/").rpartition("/")
    return file(f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"")


def opaque(directory_path: str) -> Entry:
    return file(f"{directory_path.rstrip('/')}/.wh..wh..opq", b"")


def tar_bytes(entries: Iterable[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mode, info.uid, info.gid = entry.mode, entry.uid, entry.gid
            info.mtime = entry.mtime
            kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "fifo": tarfile.FIFOTYPE,
                     "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                     "chardev": tarfile.CHRTYPE}  # fmt: skip
            info.type = kinds[entry.kind]
            info.linkname = entry.target
            if entry.kind == "chardev":
                info.devmajor, info.devminor = 1, 3
            info.size = len(entry.data) if entry.kind == "file" else 0
            tar.addfile(info, io.BytesIO(entry.data) if entry.kind == "file" else None)
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


@dataclass
class ImageBuild:
    """An image to write: layers (entry lists), config fields, labels, platform."""

    layers: list[list[Entry]]
    compression: str = "gzip"
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/bin:/usr/bin:/bin"])
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    architecture: str = "amd64"


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.index: list[dict[str, object]] = []

    def blob(self, data: bytes, media_type: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    def image(self, build: ImageBuild) -> dict[str, object]:
        """Write the image's blobs; its manifest descriptor."""
        layers, diff_ids = [], []
        for entries in build.layers:
            raw = tar_bytes(entries)
            diff_ids.append(f"sha256:{hashlib.sha256(raw).hexdigest()}")
            layers.append(
                self.blob(compress(raw, build.compression), LAYER_TYPES[build.compression])
            )
        config: dict[str, object] = {"Env": build.env, "Labels": build.labels}
        for key, value in (("Cmd", build.cmd), ("Entrypoint", build.entrypoint),
                           ("WorkingDir", build.working_dir), ("User", build.user)):  # fmt: skip
            if value:
                config[key] = value
        document = {"architecture": build.architecture, "os": "linux", "config": config,
                    "rootfs": {"type": "layers", "diff_ids": diff_ids}}  # fmt: skip
        config_desc = self.blob(json.dumps(document).encode(), OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                    "layers": layers}  # fmt: skip
        return self.blob(json.dumps(manifest).encode(), OCI_MANIFEST)

    def tag(self, descriptor: dict[str, object], tag: str) -> None:
        annotated = {**descriptor, "annotations": {"org.opencontainers.image.ref.name": tag}}
        self.index = [d for d in self.index if d.get("annotations") != annotated["annotations"]]
        self.index.append(annotated)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index}
        (self.root / "index.json").write_text(json.dumps(index))

    def multi_platform(self, builds: Sequence[ImageBuild], tag: str) -> None:
        """An image index over ``builds`` (one per architecture), tagged ``tag``."""
        manifests = []
        for build in builds:
            desc = self.image(build)
            manifests.append({**desc, "platform": {"architecture": build.architecture,
                                                   "os": "linux"}})  # fmt: skip
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        self.tag(self.blob(json.dumps(index).encode(), OCI_INDEX), tag)


def closure(programs: Iterable[str]) -> list[str]:
    """Programs plus the shared libraries ``ldd`` says they load."""
    found = list(programs)
    for start in range(0, len(found), 200):  # one ldd for many (it names each file first)
        argv = ["ldd", *found[start : start + 200]]
        out = subprocess.run(argv, capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else (parts[0] if parts else "")
            if path.startswith("/") and not line.endswith(":"):
                found.append(path)
    return found


def host_files(paths: Iterable[str]) -> list[Entry]:
    """The host files at ``paths`` (links followed and kept as links), with parent dirs,
    placed at their real directories (usr-merged: /lib -> usr/lib is added by the caller)."""
    entries: dict[str, Entry] = {}
    pending = list(paths)
    while pending:
        path = pending.pop()
        real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        name = real.lstrip("/")
        if name in entries:
            continue
        parent = os.path.dirname(name)
        while parent and parent not in entries:
            entries[parent] = directory(parent)
            parent = os.path.dirname(parent)
        if os.path.islink(real):
            target = os.readlink(real)
            entries[name] = symlink(name, target)
            pending.append(os.path.join(os.path.dirname(real), target))
        elif os.path.isdir(real):
            entries[name] = directory(name)
            pending.extend(os.path.join(real, child) for child in os.listdir(real))
        else:
            found = os.stat(real)
            entry = file(name, Path(real).read_bytes(), found.st_mode & 0o777)
            entries[name] = dataclasses.replace(entry, mtime=int(found.st_mtime))
    return sorted(entries.values(), key=lambda e: e.name)


def base_dirs() -> list[Entry]:
    """A usr-merged skeleton: /bin, /lib, /lib64 and /sbin link into /usr; /etc, /tmp."""
    return [directory("usr"), directory("usr/bin"), directory("usr/lib"),
            directory("usr/lib64"), symlink("bin", "usr/bin"), symlink("lib", "usr/lib"),
            symlink("lib64", "usr/lib64"), symlink("sbin", "usr/bin"), directory("etc"),
            directory("tmp", 0o1777),
            file("etc/os-release", "ID=hangar-test\n")]  # fmt: skip


def shell_rootfs() -> list[Entry]:
    """bash, dash as /bin/sh, cat, ls, env, head: no Python."""
    names = ("bash", "dash", "cat", "ls", "env", "head")
    programs = closure([f"/usr/bin/{name}" for name in names])
    return [*base_dirs(), *host_files(programs), symlink("usr/bin/sh", "dash")]


def python_files() -> list[Entry]:
    """The host's python3.11 binary, its libraries and the standard library (no tests)."""
    stdlib = Path("/usr/lib/python3.11")
    keep = [str(p) for p in stdlib.iterdir() if p.name not in ("test", "idlelib", "ensurepip",
                                                                "tkinter", "lib2to3")]  # fmt: skip
    modules = [str(p) for p in (stdlib / "lib-dynload").glob("*.so")]
    glibc = "/usr/lib/x86_64-linux-gnu"  # the rest of the C library, as any Debian base has
    modules += [
        f"{glibc}/{name}"
        for name in ("libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2")
        if Path(glibc, name).exists()
    ]
    entries = host_files([*closure(["/usr/bin/python3.11", *modules]), *keep])
    return [*entries, symlink("usr/bin/python3", "python3.11")]


def other_python(pattern: str = "3.1[2-9]*") -> Path | None:
    """A Python install of another minor version than the host's (pyenv's), if any;
    ``pattern`` picks the versions (``3.6.*``)."""
    versions = sorted(Path("/root/.pyenv/versions").glob(pattern))
    found = [v for v in versions if (v / "bin").is_dir() and v.name.count(".") == 2]
    return found[0] if found else None


STDLIB_LEFT_OUT = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                   "site-packages", "pydoc_data", "distutils", "__pycache__")  # fmt: skip
DYNLOAD_LEFT_OUT = ("_tkinter", "_test", "_ctypes_test", "xx", "_sqlite3", "_curses", "_dbm",
                    "_gdbm", "nis", "readline")  # fmt: skip


def other_python_stdlib(prefix: Path) -> list[Entry]:
    """The rest of ``prefix``'s standard library beside :func:`other_python_files`: every
    package's sources and the compiled modules in lib-dynload (with the libraries they
    load), as a python.org image has them; no tests, no caches."""
    version = ".".join(prefix.name.split(".")[:2])
    stdlib = prefix / "lib" / f"python{version}"
    entries: dict[str, Entry] = {}
    for source in stdlib.rglob("*"):
        relative = source.relative_to(stdlib)
        if relative.parts[0] in STDLIB_LEFT_OUT or "__pycache__" in relative.parts:
            continue
        if source.is_dir() or source.suffix not in (".py", ".so"):
            continue
        if source.name.startswith(DYNLOAD_LEFT_OUT):
            continue
        name = f"usr/local/lib/python{version}/{relative}"
        parent = Path(name).parent
        while str(parent) not in entries and str(parent) != "usr/local/lib":
            entries[str(parent)] = directory(str(parent))
            parent = parent.parent
        entries[name] = file(name, source.read_bytes(), source.stat().st_mode & 0o777)
    modules = [str(p) for p in (stdlib / "lib-dynload").glob("*.so")]
    modules = [m for m in modules if not Path(m).name.startswith(DYNLOAD_LEFT_OUT)]
    system = [p for p in closure(modules) if p.startswith("/usr/lib") or p.startswith("/lib")]
    # Debian's base has libgcc_s (glibc loads it when a thread exits, as Python 3.6's do)
    system += [str(p) for p in Path("/usr/lib/x86_64-linux-gnu").glob("libgcc_s.so.1")]
    return [*sorted(entries.values(), key=lambda e: e.name), *host_files(system)]


def other_python_files(prefix: Path) -> list[Entry]:
    """``prefix``'s Python at /usr/local as python.org images have it: the binary, its
    shared library (in /usr/lib) and the standard library's top level and encodings
    (enough to start)."""
    version = ".".join(prefix.name.split(".")[:2])
    binary = prefix / "bin" / f"python{version}"
    stdlib = prefix / "lib" / f"python{version}"
    entries: list[Entry] = [directory("usr/local"), directory("usr/local/bin"),
                            directory("usr/local/lib"), directory(f"usr/local/lib/python{version}"),
                            directory(f"usr/local/lib/python{version}/encodings"),
                            directory(f"usr/local/lib/python{version}/lib-dynload")]  # fmt: skip
    entries.append(file(f"usr/local/bin/python{version}", binary.read_bytes(), 0o755))
    entries.append(symlink("usr/local/bin/python3", f"python{version}"))
    system = [p for p in closure([str(binary)])[1:] if not p.startswith(str(prefix))]
    entries += host_files(system)  # libm and the like, where the host has them
    for library in (prefix / "lib").glob("libpython*.so.1.0"):  # where the loader looks
        entries.append(file(f"usr/lib/{library.name}", library.read_bytes(), 0o755))
    for source in [*stdlib.glob("*.py"), *(stdlib / "encodings").glob("*.py")]:
        name = f"usr/local/lib/python{version}/{source.relative_to(stdlib)}"
        entries.append(file(name, source.read_bytes()))
    return entries


JUPYTER_PROBE = """
import os, sys, tempfile
home = tempfile.mkdtemp()
os.environ.update(HOME=home, JUPYTER_RUNTIME_DIR=home, JUPYTER_DATA_DIR=home,
                  JUPYTER_CONFIG_DIR=home)
from notebook.notebookapp import NotebookApp
NotebookApp.instance().initialize(["--no-browser", "--sock=" + home + "/s",
                                   "--notebook-dir=" + home])
NotebookApp.clear_instance()
import ipykernel_launcher  # what the notebook server starts kernels with
from ipykernel.kernelapp import IPKernelApp
kernel = IPKernelApp.instance()
kernel.initialize(["-f", home + "/k.json", "--IPKernelApp.log_level=WARN"])
kernel.shell.run_cell("print(1)")
names = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
open(sys.argv[1], "w").write("\\n".join(names))
os._exit(0)
"""
DIST_PACKAGES = "/usr/lib/python3/dist-packages"
JUPYTER_LEFT_OUT = ("gi", "debugpy", "setuptools", "_distutils_hack", "jedi", "parso")  # optional


def jupyter_files() -> list[Entry]:
    """The host's Debian-packaged notebook server and ipykernel (with what they import from
    dist-packages and the libraries their compiled modules load), for the host's Python
    (:func:`python_files`): an image whose own Python has Jupyter."""
    with tempfile.TemporaryDirectory() as tmp:  # what a notebook server and a kernel load
        found = Path(tmp, "modules")
        subprocess.run(["/usr/bin/python3", "-c", JUPYTER_PROBE, str(found)], cwd=tmp,
                       capture_output=True, check=True, timeout=120)  # fmt: skip
        out = found.read_text()
    base = DIST_PACKAGES + "/"
    tops = {path[len(base) :].split("/")[0] for path in out.split() if path.startswith(base)}
    paths = [base + top for top in sorted(tops) if top not in JUPYTER_LEFT_OUT]
    compiled = [str(p) for path in paths for p in Path(path).rglob("*.so")]
    compiled += [path for path in paths if path.endswith(".so")]
    system = [p for p in closure(compiled) if not p.startswith(base)]
    return [e for e in host_files([*paths, *system]) if not e.name.startswith(MATHJAX)]


MATHJAX = "usr/share/javascript/mathjax/"  # linked from the notebook's pages; not needed here

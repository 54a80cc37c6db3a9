"""Spare scratch disks: default-size ext4 images formatted ahead in a background thread,
so a kernel's create only renames one and mounts it (see :mod:`.disk`)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("hangar.agent")
SPARES = 2  # formatted default-size images kept ready: a create only renames and mounts


def run_host(argv: list[str]) -> None:
    """Run a short host command; raises OSError with its stderr when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, cwd="/")
    if result.returncode != 0:
        raise OSError(f"{argv[0]} failed: {(result.stderr or result.stdout).strip()[-500:]}")


def loop_devices_of(image: Path, sys_block: Path = Path("/sys/block")) -> list[str]:
    """The "major:minor" of each loop device backed by ``image`` (by path, as the kernel
    reports it now, with or without a " (deleted)" suffix)."""
    wanted = str(image)
    found = []
    for backing in sys_block.glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            name = backing.read_text().rstrip("\n")
            if name in (wanted, f"{wanted} (deleted)"):
                found.append((backing.parent.parent / "dev").read_text().strip())
    return found


def format_image(
    mkfs: str, image: Path, size: int, owner: tuple[int, int], *, reuse: bool = False
) -> None:
    """Create the sparse file ``image`` (which must not exist) holding an empty ext4 of
    ``size`` bytes whose root belongs to ``owner``. Raises OSError (nothing is left).
    With ``reuse``, ``image`` is an earlier kernel's disk of that size, formatted anew:
    mkfs discards every block first (the file's space goes back to the host), so nothing
    of the old file system stays readable."""
    if not reuse:
        fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
    options = f"root_owner={owner[0]}:{owner[1]},lazy_itable_init=1,lazy_journal_init=1"
    try:
        run_host([mkfs, "-q", "-F", "-m", "0", "-E", f"{options},discard", str(image)])
    except OSError:
        image.unlink(missing_ok=True)
        raise


@dataclass
class SpareImages:
    """Default-size images formatted ahead in a background thread (``.spare-*.img``;
    ``.tmp-*`` while being formatted, so a crash never leaves a half-made spare).

    A destroyed kernel's default-size disk is not deleted on its way out: it is renamed
    ``.used-*.img`` (:meth:`recycle`), and the background thread formats it anew as the
    next spare where one is missing, else deletes it there: deleting a disk's image (its
    blocks freed on the host) was most of a removal's cost, and formatting a used image
    costs no more than a new sparse file. A used image is never handed out before it is
    formatted."""

    images: Path
    size: int
    mkfs: str
    keep: int = SPARES
    ready: list[Path] = field(default_factory=list)
    used: list[Path] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _filling: bool = False

    def adopt_leftovers(self) -> None:
        """Keep the spares an earlier agent made (if of this size); drop unfinished ones
        and used ones."""
        for pattern in (".tmp-*.img", ".used-*.img"):
            for path in self.images.glob(pattern):
                path.unlink(missing_ok=True)
        for path in self.images.glob(".spare-*.img"):
            if path.stat().st_size == self.size and len(self.ready) < self.keep:
                self.ready.append(path)
            else:
                path.unlink(missing_ok=True)

    def take(self, image: Path) -> bool:
        """Rename a ready spare to ``image``; False when none is ready. Starts a refill."""
        with self._lock:
            spare = self.ready.pop() if self.ready else None
        self.refill()
        if spare is None:
            return False
        spare.rename(image)
        return True

    def recycle(self, image: Path) -> None:
        """Keep ``image`` (an unmounted disk of this size, whose kernel is gone) to be
        formatted anew as a spare. Raises OSError."""
        used = self.images / f".used-{secrets.token_hex(8)}.img"
        image.rename(used)
        with self._lock:
            self.used.append(used)
            if self._filling:
                return
            self._filling = True
        self._start()

    def refill(self) -> None:
        with self._lock:
            if self._filling or len(self.ready) >= self.keep:
                return
            self._filling = True
        self._start()

    def _start(self) -> None:
        threading.Thread(target=self._fill, name="scratch-spares", daemon=True).start()

    def _fill(self) -> None:
        try:
            while True:
                with self._lock:
                    if len(self.ready) >= self.keep:
                        extra, self.used = self.used, []
                        break
                    candidates = list(self.used)
                used = _free(candidates)
                with self._lock:
                    if used in self.used:
                        self.used.remove(used)
                    else:
                        used = None
                name = secrets.token_hex(8)
                made, spare = self.images / f".tmp-{name}.img", self.images / f".spare-{name}.img"
                if used is not None:
                    used.rename(made)
                format_image(self.mkfs, made, self.size, (0, 0), reuse=used is not None)
                made.rename(spare)
                with self._lock:
                    self.ready.append(spare)
            for path in extra:
                path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot prepare spare scratch disks: %s", exc)
        finally:
            with self._lock:
                self._filling = False


def _free(images: list[Path], wait: float = 1.0) -> Path | None:
    """One of ``images`` that no loop device holds any more (a lazily unmounted file system
    keeps its device a moment), waiting up to ``wait`` seconds; None when there is none."""
    deadline = time.monotonic() + wait
    while images:
        for path in images:
            if not loop_devices_of(path):
                return path
        if time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    return None

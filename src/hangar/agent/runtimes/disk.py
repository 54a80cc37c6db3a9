"""Scratch disks: a size-limited file system per kernel, so a session's writes really stop.

Each kernel's scratch dir is the mount point of its own ext4 image (a sparse file in
``<state_dir>/disks/<kernel id>.img``, loop-mounted ``nosuid,nodev``): writing past the size
fails with ENOSPC inside the session, and the host file system only ever holds what the
session wrote. The mount lives in the host's mount namespace, so it outlives the agent; a
disk is found again by the kernel id alone (the loop device whose backing file is the
image), which is all ``detach`` needs after a restart.

Needs root, ``/dev/loop-control``, ``mkfs.ext4`` and ``mount``; where any is missing
:meth:`ScratchDisks.open` says why and the runtime keeps unlimited scratch dirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from hangar.agent.errors import KernelCreationFailed
from hangar.agent.runtimes.base import KernelSpec
from hangar.agent.runtimes.loopmount import LoopConfigureUnsupported, loop_mount
from hangar.agent.runtimes.mountpoints import remove_mount_point, wait_quiet
from hangar.agent.runtimes.scratch import prepare_scratch, scratch_size
from hangar.agent.runtimes.spares import SpareImages, format_image, loop_devices_of, run_host

log = logging.getLogger("hangar.agent")
MNT_DETACH, MS_BIND = 2, 0x1000
PROBE_BYTES = 16 << 20
MIN_BYTES = 8 << 20  # smaller than this, ext4 has no room for its own metadata
UNLIMITED_NOTE = "the scratch disk is not limited: {reason}"


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """Bytes used and the file system's size (what the session may fill)."""

    used: int
    size: int


def _unescape(field: str) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes come octal-escaped."""
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")


def mount_points(device: str, mountinfo: str) -> list[str]:
    """Where the block device ``device`` ("major:minor") is mounted, per ``mountinfo``."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 4 and fields[2] == device:
            points.append(_unescape(fields[4]))
    return points


def usage(scratch_dir: Path) -> DiskUsage | None:
    """The scratch disk's usage, or None when ``scratch_dir`` is not a mount point (no disk)."""
    try:
        if os.stat(scratch_dir).st_dev == os.stat(scratch_dir.parent).st_dev:
            return None
        fs = os.statvfs(scratch_dir)
    except OSError:
        return None
    return DiskUsage((fs.f_blocks - fs.f_bfree) * fs.f_frsize, fs.f_blocks * fs.f_frsize)


@dataclass
class ScratchDisks:
    """Creates, finds and removes the kernels' scratch disks under ``images``."""

    images: Path
    default_bytes: int
    mkfs: str = "/usr/sbin/mkfs.ext4"
    mount: str = "/usr/bin/mount"
    spares: SpareImages | None = None

    @classmethod
    def open(cls, images: Path, default_bytes: int | None) -> tuple[ScratchDisks | None, str]:
        """Disks under ``images`` after a probe (create, mount, unmount a small one), or
        None and the reason they cannot work here (the note sessions then carry)."""
        if not default_bytes:
            return None, UNLIMITED_NOTE.format(reason="disabled by configuration")
        mkfs, mount = shutil.which("mkfs.ext4"), shutil.which("mount")
        reason = (
            "the agent is not root" if os.geteuid() != 0
            else "no /dev/loop-control" if not os.path.exists("/dev/loop-control")
            else "mkfs.ext4 not found (Debian: e2fsprogs)" if mkfs is None
            else "mount not found" if mount is None
            else None
        )  # fmt: skip
        if reason is not None or mkfs is None or mount is None:
            return None, UNLIMITED_NOTE.format(reason=reason)
        disks = cls(images, max(default_bytes, MIN_BYTES), mkfs, mount)
        try:
            images.mkdir(mode=0o700, parents=True, exist_ok=True)
            disks.probe()
            disks.spares = SpareImages(images, disks.default_bytes, mkfs)
            disks.spares.adopt_leftovers()
        except OSError as exc:
            return None, UNLIMITED_NOTE.format(reason=f"loop mounts fail here: {exc}")
        disks.spares.refill()
        return disks, ""

    def image(self, kernel_id: str) -> Path:
        return self.images / f"{kernel_id}.img"

    def probe(self) -> None:
        """Create, mount and remove a small disk. Raises OSError where that fails."""
        target = self.images / ".probe"
        target.mkdir(mode=0o700, exist_ok=True)
        try:
            self.attach(".probe", target, PROBE_BYTES, (0, 0))
        finally:
            self.detach(".probe")
            with contextlib.suppress(OSError):
                target.rmdir()

    def attach(
        self, kernel_id: str, scratch_dir: Path, size: int | None, owner: tuple[int, int]
    ) -> bool:
        """Mount the kernel's disk (made now, ``size`` or the default bytes, unless it
        exists) at the existing empty dir ``scratch_dir``, its root owned by ``owner``.
        Idempotent. False, changing nothing, when ``scratch_dir`` already holds files of
        its own (a scratch dir kept from before disks existed). Raises OSError."""
        if usage(scratch_dir) is not None:
            return True
        if any(scratch_dir.iterdir()):
            return False
        image = self.image(kernel_id)
        fresh = not image.exists()
        size = max(size or self.default_bytes, MIN_BYTES)
        if fresh and not (size == self.default_bytes and self.spares and self.spares.take(image)):
            format_image(self.mkfs, image, size, owner)
        try:
            try:
                loop_mount(image, scratch_dir)
            except LoopConfigureUnsupported:
                options = "loop,nosuid,nodev,noatime,noinit_itable"
                run_host([self.mount, "-o", options, str(image), str(scratch_dir)])
        except OSError:
            if fresh:
                image.unlink(missing_ok=True)
            raise
        with contextlib.suppress(OSError):
            (scratch_dir / "lost+found").rmdir()  # an empty home, as without a disk
        return True

    def detach(self, kernel_id: str) -> None:
        """Unmount the kernel's disk wherever it is mounted, remove those (now empty) mount
        points, which also frees the copies other sandboxes hold, and delete the image.
        Idempotent; needs only the id. Raises OSError."""
        image = self.image(kernel_id)
        mountinfo = Path("/proc/self/mountinfo").read_text()
        points = [p for d in loop_devices_of(image) for p in mount_points(d, mountinfo)]
        libc = ctypes.CDLL(None, use_errno=True)
        for point in points:
            if libc.umount2(point.encode(), MNT_DETACH) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"cannot unmount {point}: {os.strerror(errno)}")
        for point in points:
            with contextlib.suppress(OSError):  # not empty: whoever removes the dir does it
                remove_mount_point(Path(point))
        if self.spares is not None and _size(image) == self.spares.size:
            self.spares.recycle(image)  # formatted anew in the background, not deleted
        else:
            image.unlink(missing_ok=True)

    def move(self, source_id: str, kernel_id: str, source: Path, target: Path) -> None:
        """Give ``source_id``'s disk, mounted at ``source``, to ``kernel_id`` at ``target``
        (made here, like ``source``): bind it there, rename the image; the old place is
        unmounted and removed in the background. Running sandboxes keep their own view.
        Raises OSError."""
        stat = source.stat()
        target.mkdir(mode=0o750)
        os.chown(target, stat.st_uid, stat.st_gid)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(str(source).encode(), str(target).encode(), None, MS_BIND, None) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"cannot bind {source} at {target}: {os.strerror(code)}")
        self.image(source_id).rename(self.image(kernel_id))
        # Not on the adopting session's way (an unmount waits for the kernel's RCU grace
        # period: 3-50 ms): the old place goes in the background, once no sandbox is
        # being built (a mount vanishing under bwrap's setup fails it, see .mountpoints).
        threading.Thread(target=_unmount_quietly, args=(source,), daemon=True).start()


def _size(image: Path) -> int | None:
    try:
        return image.stat().st_size
    except FileNotFoundError:
        return None


def _unmount_quietly(path: Path) -> None:
    wait_quiet()
    ctypes.CDLL(None, use_errno=True).umount2(str(path).encode(), MNT_DETACH)
    try:
        remove_mount_point(path, wait=0)
    except OSError as exc:
        log.warning("cannot remove the old mount point %s: %s", path, exc)


# Hooks of the bubblewrap runtime: one call each from create, adopt, stats and destroy.


async def attach_disk(disks: ScratchDisks | None, spec: KernelSpec) -> tuple[str, ...]:
    """Make the kernel's scratch dir and mount its disk there (before the mount points of
    its folders are made: they belong on the disk). Returns notes for the kernel's info.
    Raises OSError."""
    if disks is None:
        return ()
    owner = (spec.uid, spec.gid)
    await asyncio.to_thread(prepare_scratch, spec.scratch_dir, owner)
    size = spec.limits.disk_bytes
    mounting = asyncio.ensure_future(
        asyncio.to_thread(disks.attach, spec.kernel_id, spec.scratch_dir, size, owner)
    )
    try:
        attached = await asyncio.shield(mounting)
    except asyncio.CancelledError:  # the thread mounts anyway: wait for it, then undo
        await asyncio.wait([mounting])
        await asyncio.to_thread(disks.detach, spec.kernel_id)
        raise
    if not attached:
        return (UNLIMITED_NOTE.format(reason="its scratch dir was kept from before disks"),)
    return ()


async def detach_disk(
    disks: ScratchDisks | None, kernel_id: str, scratch_dir: Path | None = None
) -> None:
    """Unmount and delete the kernel's disk, if it has one (by the id alone), then remove
    its mount point ``scratch_dir`` when given (see .mountpoints). Idempotent."""
    if disks is not None:
        await asyncio.to_thread(disks.detach, kernel_id)
        if scratch_dir is not None and usage(scratch_dir) is None:
            with contextlib.suppress(OSError):  # not empty: the caller's removal deals with it
                await asyncio.to_thread(remove_mount_point, scratch_dir)


def check_adoptable(disks: ScratchDisks | None, source: KernelSpec, spec: KernelSpec) -> None:
    """Raise KernelCreationFailed when ``source``'s disk is not the size ``spec`` asks for."""
    if disks is None:
        return
    try:
        have = disks.image(source.kernel_id).stat().st_size
    except FileNotFoundError:
        return  # no disk of its own: the scratch dir moves as it is
    if have != max(spec.limits.disk_bytes or disks.default_bytes, MIN_BYTES):
        raise KernelCreationFailed("the kernels' scratch disks differ in size")


def move_scratch(disks: ScratchDisks | None, source: KernelSpec, spec: KernelSpec) -> None:
    """Move ``source``'s scratch dir (and disk) to ``spec``'s. Raises OSError."""
    if disks is not None and usage(source.scratch_dir) is not None:
        disks.move(source.kernel_id, spec.kernel_id, source.scratch_dir, spec.scratch_dir)
    else:
        source.scratch_dir.rename(spec.scratch_dir)  # the sandboxes' binds follow the inode


def scratch_usage(scratch_dir: Path) -> tuple[int, int]:
    """(bytes used, limit) of a scratch dir: its disk's figures, or a walk and 0 (no limit)."""
    found = usage(scratch_dir)
    if found is None:
        return scratch_size(scratch_dir), 0
    return found.used, found.size

"""Scratch disks in a real sandbox: writes past a kernel's disk size fail with ENOSPC, the
kernel stays usable, the disk outlives the runtime object and goes with the kernel id alone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hangar.agent.runtimes.base import BindMount, ExitStatus, KernelSpec, ResourceLimits
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from hangar.agent.runtimes.disk import ScratchDisks, usage

Shell = Callable[..., Awaitable[tuple[str, str, ExitStatus]]]
Kernels = Callable[..., Awaitable[Any]]
MIB = 1 << 20
PYTHON = "/usr/bin/python3"
PYTHON_FILL = """
import errno, os
try:
    with open("fill", "wb") as f:
        for _ in range(200):
            f.write(b"x" * (1 << 20))
            f.flush()
            os.fsync(f.fileno())
except OSError as e:
    print("refused", errno.errorcode[e.errno])
"""


@pytest.fixture
def disk_runtime(make_runtime: Callable[..., BubblewrapRuntime]) -> BubblewrapRuntime:
    runtime = make_runtime(scratch_disk_bytes=64 * MIB)
    if runtime.disks is None:
        pytest.skip(f"loop-mounted disks are unavailable here: {runtime.notes}")
    return runtime


def mounted(path: Path) -> bool:
    return usage(path) is not None


def backed(disks: Path) -> list[str]:
    """The names of the images under ``disks`` a loop device holds now (whatever they are
    called: a destroyed kernel's is renamed to be formatted anew as a spare)."""
    return sorted(Path(name).name for name in _backing_files() if name.startswith(f"{disks}/"))


def _backing_files() -> list[str]:
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            found.append(backing.read_text().rstrip("\n").removesuffix(" (deleted)"))
    return found


async def let_go(disks: Path, keep: list[str]) -> list[str]:
    """The images still held once only ``keep``'s are, or after 2 s (the kernel lets go of
    a lazily unmounted disk's device asynchronously)."""
    for _ in range(40):
        if backed(disks) == sorted(keep):
            break
        await asyncio.sleep(0.05)
    return backed(disks)


@pytest.mark.usefixtures("needs_python")
async def test_writes_past_the_disk_fail_and_the_kernel_stays_usable(
    disk_runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, execute: Shell
) -> None:
    spec = await kernels(disk_runtime, "k1")
    _, err, status = await sh(disk_runtime, "k1", "dd if=/dev/zero of=big bs=1M count=100")
    assert status.exit_code != 0 and "No space left on device" in err
    out, err, status = await execute(disk_runtime, "k1", [PYTHON, "-c", PYTHON_FILL])
    assert out.strip() == "refused ENOSPC", err
    stats = await disk_runtime.stats("k1")
    assert 48 * MIB < stats.io_cur_scratch_size <= stats.io_scratch_limit <= 64 * MIB
    out, err, status = await sh(disk_runtime, "k1", "rm big fill; echo still here > f; cat f; ls")
    assert (status.exit_code, out) == (0, "still here\nf\n"), err
    image = disk_runtime.config.state_dir / "disks" / "k1.img"
    assert image.stat().st_blocks * 512 <= 66 * MIB  # the host holds at most the disk
    assert (spec.scratch_dir / "f").read_text() == "still here\n"


async def test_the_disk_outlives_the_runtime_and_goes_by_kernel_id(
    make_runtime: Callable[..., BubblewrapRuntime],
    disk_runtime: BubblewrapRuntime,
    kernels: Kernels,
    sh: Shell,
) -> None:
    spec = await kernels(disk_runtime, "k1")
    await sh(disk_runtime, "k1", "echo kept > notes.txt")
    restarted = make_runtime(scratch_disk_bytes=64 * MIB)  # a new agent on the same data dir
    assert mounted(spec.scratch_dir)
    assert (spec.scratch_dir / "notes.txt").read_text() == "kept\n"
    await restarted.destroy("k1", remove_scratch=True)
    assert not mounted(spec.scratch_dir)
    image = restarted.config.state_dir / "disks" / "k1.img"
    assert not image.exists()
    assert await let_go(image.parent, []) == []


async def test_folder_mount_points_live_on_the_disk(
    disk_runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, data_dir: Path
) -> None:
    folder = data_dir / "folder"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n")
    mount = BindMount(folder, "data", read_only=True)
    spec = await kernels(disk_runtime, "k1", mounts=(mount,))
    out, err, status = await sh(disk_runtime, "k1", "cat data/data.csv; ls -A")
    assert (status.exit_code, out) == (0, "a,b\ndata\n"), err
    assert mounted(spec.scratch_dir)


async def test_each_kernel_may_ask_for_its_own_size(
    disk_runtime: BubblewrapRuntime, kernels: Kernels
) -> None:
    await kernels(disk_runtime, "small", limits=ResourceLimits(disk_bytes=16 * MIB))
    await kernels(disk_runtime, "default")
    small, default = await disk_runtime.stats("small"), await disk_runtime.stats("default")
    assert small.io_scratch_limit <= 16 * MIB < 48 * MIB < default.io_scratch_limit


async def test_a_pooled_kernel_hands_its_disk_to_the_adopter(
    disk_runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, data_dir: Path
) -> None:
    source = await kernels(disk_runtime, "pool-1")
    await sh(disk_runtime, "pool-1", "echo warm > w.txt")
    sleeper = await disk_runtime.run("pool-1", ["/bin/sh", "-c", "sleep 30"])
    target = KernelSpec("k2", data_dir / "scratch" / "k2")
    await disk_runtime.adopt("pool-1", target)
    try:
        assert mounted(target.scratch_dir)
        for _ in range(40):  # the old mount point goes in the background
            if not source.scratch_dir.exists():
                break
            await asyncio.sleep(0.05)
        assert not source.scratch_dir.exists()
        out, _, _ = await sh(disk_runtime, "k2", "cat w.txt")
        assert out == "warm\n"
        assert (disk_runtime.config.state_dir / "disks" / "k2.img").exists()
    finally:
        sleeper.kill()
        await disk_runtime.destroy("k2", remove_scratch=True)
    assert not mounted(target.scratch_dir)


async def test_without_disks_the_kernel_says_its_scratch_is_not_limited(
    make_runtime: Callable[..., BubblewrapRuntime], kernels: Kernels, data_dir: Path
) -> None:
    runtime = make_runtime(scratch_disk_bytes=None)
    spec = await kernels(runtime, "k1")
    info_notes = " ".join(runtime.notes)
    assert "scratch disk is not limited" in info_notes
    assert not mounted(spec.scratch_dir)


def test_disks_need_mkfs_and_loop_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    disks, note = ScratchDisks.open(tmp_path / "disks", 1 << 30)
    assert disks is None
    reasons = ("not root", "mkfs.ext4 not found", "no /dev/loop-control")
    assert any(reason in note for reason in reasons), note
    assert not os.path.exists(tmp_path / "disks")


async def test_default_size_disks_come_formatted_ahead(
    disk_runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    spares = disk_runtime.disks.spares if disk_runtime.disks is not None else None
    assert spares is not None
    for _ in range(100):  # formatted in the background after the start
        if len(spares.ready) == spares.keep:
            break
        await asyncio.sleep(0.05)
    taken = set(spares.ready)
    await kernels(disk_runtime, "k1")
    assert len(taken - set(spares.ready)) == 1  # one spare became k1's disk
    out, err, status = await sh(disk_runtime, "k1", "touch mine && stat -c %U mine && ls -A")
    assert (status.exit_code, out) == (0, "work\nmine\n"), err


async def test_other_sandboxes_do_not_keep_a_destroyed_kernels_disk(
    disk_runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    """Each sandbox starts with a copy of the host's mounts: a long-lived one must not keep
    the disks of kernels destroyed since (their space would stay taken)."""
    await kernels(disk_runtime, "k1")
    await kernels(disk_runtime, "k2")
    sleeper = await disk_runtime.run("k2", ["/bin/sh", "-c", "sleep 30"])
    try:
        out, _, _ = await sh(disk_runtime, "k2", "ls /home; ls -A /home/work")
        assert out.split() == ["work"]  # its own home only, as before
        disks = disk_runtime.config.state_dir / "disks"
        assert backed(disks) == ["k1.img", "k2.img"]
        await disk_runtime.destroy("k1", remove_scratch=True)
        assert await let_go(disks, ["k2.img"]) == ["k2.img"]
    finally:
        sleeper.kill()


async def test_a_destroyed_kernels_disk_comes_back_as_a_spare_formatted_anew(
    disk_runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    """Its image is not deleted on the way out (most of a removal's cost): the spares'
    thread formats it anew, which also gives its space back; nothing of it shows in the
    kernels that get it next."""
    spares = disk_runtime.disks.spares if disk_runtime.disks is not None else None
    assert spares is not None
    await kernels(disk_runtime, "k1")
    _, err, status = await sh(
        disk_runtime, "k1", "head -c 8388608 /dev/urandom > secret && sync secret"
    )
    assert status.exit_code == 0, err
    image = disk_runtime.config.state_dir / "disks" / "k1.img"
    watch = image.with_name("watch")  # the same file under a second name: its inode stays
    os.link(image, watch)
    assert image.stat().st_blocks * 512 > 8 * MIB
    spares.keep += 1  # one spare is missing when k1's image comes back
    await disk_runtime.destroy("k1", remove_scratch=True)
    assert not image.exists()
    reused = None
    for _ in range(100):  # formatted in the background
        with spares._lock:
            reused = next((p for p in spares.ready if p.samefile(watch)), None)
        if reused is not None:
            break
        await asyncio.sleep(0.05)
    assert reused is not None, "the destroyed kernel's image did not become a spare"
    assert reused.stat().st_blocks * 512 < 4 * MIB  # its blocks discarded: back to the host
    watch.unlink()
    for kernel_id in ("k2", "k3", "k4"):  # whichever takes it sees a new, empty disk
        await kernels(disk_runtime, kernel_id)
        out, err, status = await sh(disk_runtime, kernel_id, "ls -A; df -k . | tail -1")
        assert status.exit_code == 0, err
        assert "secret" not in out and int(out.split()[-4]) < 4096, out  # used KiB

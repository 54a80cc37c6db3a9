"""A bubblewrap kernel's adoption (a pooled kernel becomes a session's), its usage
figures and its destruction."""

from __future__ import annotations

import asyncio
import contextlib

from hangar.agent.errors import KernelCreationFailed
from hangar.agent.models import ContainerStats
from hangar.agent.runtimes.base import (
    KernelInfo,
    KernelSpec,
)
from hangar.agent.runtimes.bwrap_state import BwrapState, _Kernel, _waiter_fit
from hangar.agent.runtimes.cgroups import KernelCgroup
from hangar.agent.runtimes.detached import (
    KeptProcess,
)
from hangar.agent.runtimes.disk import (
    check_adoptable,
    detach_disk,
    move_scratch,
    scratch_usage,
)
from hangar.agent.runtimes.disk import usage as disk_usage
from hangar.agent.runtimes.rootfs import (
    adopts_image,
    mount_overlay,
    move_overlay,
    unmount_overlay,
)
from hangar.agent.runtimes.scratch import remove_tree


class KernelMoves(BwrapState):
    """Part of :class:`~hangar.agent.runtimes.bubblewrap.BubblewrapRuntime`: adopting,
    measuring and destroying kernels."""

    async def adopt(self, source_id: str, spec: KernelSpec) -> KernelInfo:
        source = self._get(source_id)
        if spec.kernel_id in self._kernels or spec.scratch_dir.exists():
            raise KernelCreationFailed(f"kernel {spec.kernel_id!r} already exists")
        old = source.spec
        image, new = (old.image.binds, old.image.rootfs), (spec.image.binds, spec.image.rootfs)
        same = (old.uid, old.gid, image, old.gpus, old.unshare_net) == (
            spec.uid, spec.gid, new, spec.gpus, spec.unshare_net
        ) or adopts_image(source.processes, old, spec)  # fmt: skip
        if not same or (self.cgroups is None and old.limits != spec.limits):
            raise KernelCreationFailed("the kernels' sandboxes differ")
        check_adoptable(self.disks, old, spec)
        cgroup: KernelCgroup | None = None
        renamed = self.cgroups is not None and self.cgroups.renames and source.cgroup is not None
        try:
            if self.cgroups is not None and renamed:
                cgroup = self.cgroups.rename(source_id, spec.kernel_id, spec.limits)
            elif self.cgroups is not None:
                cgroup = self.cgroups.create(spec.kernel_id, spec.limits)
                for pid in source.cgroup.pids() if source.cgroup is not None else ():
                    for procs in cgroup.procs_files:
                        procs.write_text(str(pid))
            move_scratch(self.disks, old, spec)
            if spec.image.rootfs is not None and old.image.rootfs is None:  # see adopts_image
                await asyncio.to_thread(mount_overlay, spec, self.options.privileged)
            elif old.image.rootfs is not None:  # a pre-built sandbox of the same image
                move_overlay(old, spec)
            if self._kept(source_id).root.is_dir():
                self._kept(spec.kernel_id).root.parent.mkdir(mode=0o700, exist_ok=True)
                self._kept(source_id).root.rename(self._kept(spec.kernel_id).root)
                for handle in source.processes:
                    if isinstance(handle, KeptProcess):
                        name = handle.files.root.name
                        handle.moved(self._kept(spec.kernel_id, name))
            if self.networks is not None:  # the namespace goes with the processes in it
                await self.networks.move(source_id, spec.kernel_id)
        except OSError as exc:
            if self.cgroups is not None and renamed and cgroup is not None:  # given back
                with contextlib.suppress(OSError):
                    self.cgroups.rename(spec.kernel_id, source_id)
            raise KernelCreationFailed(f"cannot adopt kernel {source_id!r}: {exc}") from exc
        self._kernels.pop(source_id)
        options = self._options_for(spec)
        if self.waiters is not None:  # its sandbox, built ahead of a run, goes along
            self.waiters.move(source_id, spec.kernel_id, *_waiter_fit(source, spec, options))
        self._args_path(source_id).unlink(missing_ok=True)
        if source.cgroup is not None and not renamed:
            await source.cgroup.remove(self.config.destroy_timeout)
        info = KernelInfo(spec.kernel_id, spec.scratch_dir, self.limit_mode, self.notes)
        self._kernels[spec.kernel_id] = _Kernel(
            spec, info, options, cgroup, source.processes, source.meter, source.scratch_max
        )
        return info

    async def stats(self, kernel_id: str) -> ContainerStats:
        kernel = self._get(kernel_id)
        disk = disk_usage(kernel.spec.scratch_dir)  # a scratch disk's figures: no walk
        if disk is not None:
            size, limit = disk.used, disk.size
        else:
            size, limit = await asyncio.to_thread(scratch_usage, kernel.spec.scratch_dir)
        kernel.scratch_max = max(kernel.scratch_max, size)
        if kernel.cgroup is None:
            return ContainerStats(
                cpu_used=int(kernel.meter.cpu_seconds * 1000),
                mem_max_bytes=kernel.meter.max_rss_bytes,
                io_max_scratch_size=kernel.scratch_max,
                io_cur_scratch_size=size,
                io_scratch_limit=limit,
            )
        usage = kernel.cgroup.usage()
        return ContainerStats(
            cpu_used=usage.cpu_ns // 1_000_000,
            mem_max_bytes=usage.mem_max,
            mem_cur_bytes=usage.mem_cur,
            io_read_bytes=usage.io_read,
            io_write_bytes=usage.io_write,
            io_max_scratch_size=kernel.scratch_max,
            io_cur_scratch_size=size,
            io_scratch_limit=limit,
        )

    async def destroy(self, kernel_id: str, *, remove_scratch: bool) -> None:
        kernel = self._kernels.pop(kernel_id, None)
        if self.waiters is not None:
            await self.waiters.drop(kernel_id, self.config.destroy_timeout)
        if kernel is not None:
            for handle in list(kernel.processes):
                handle.kill()
            waits = [handle.wait() for handle in list(kernel.processes)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), self.config.destroy_timeout)
        cgroup = kernel.cgroup if kernel is not None else None
        if cgroup is None and self.cgroups is not None:
            cgroup = self.cgroups.cgroup_for(kernel_id)  # a leftover from before a restart
        if cgroup is not None:
            await cgroup.remove(self.config.destroy_timeout)
        await asyncio.to_thread(self._end_kept, kernel_id)
        self._args_path(kernel_id).unlink(missing_ok=True)
        if self.networks is not None:
            await self.networks.destroy(kernel_id)
        if kernel is not None and kernel.spec.image.rootfs is not None:
            await asyncio.to_thread(unmount_overlay, kernel.spec, keep=not remove_scratch)
        if remove_scratch:
            scratch = kernel.spec.scratch_dir if kernel is not None else None
            await detach_disk(self.disks, kernel_id, scratch)
        if remove_scratch and kernel is not None:
            await asyncio.to_thread(remove_tree, kernel.spec.scratch_dir)

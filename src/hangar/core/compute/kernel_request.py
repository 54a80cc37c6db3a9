"""What an agent is asked to start for a session: a kernel request built from the session,
its image and its extras (the storage plane's folder binds and dotfiles)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Protocol

from hangar.agent.models import HomeFile, ImageRequest, KernelRequest, MountRequest
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.states import SessionType
from hangar.core.images.models import Image
from hangar.core.images.service import ImageService
from hangar.util.oci.distribution import Credentials


class PullCredentials(Protocol):
    """The login a session's own image pull uses instead of its registry's (a pod's registry
    credential); None: the registry's."""

    async def pull_credentials(self, session: ComputeSession) -> Credentials | None: ...


class KernelExtras(Protocol):
    """What a kernel gets besides its image: the session's folder binds and dotfiles (the
    storage plane)."""

    async def kernel_extras(
        self, session: ComputeSession
    ) -> tuple[tuple[MountRequest, ...], tuple[HomeFile, ...]]: ...


async def _pull(
    images: ImageService, image: Image, pulls: PullCredentials | None, session: ComputeSession
) -> ImageRequest | None:
    request = await images.pull_request(image)
    if request is None or pulls is None:
        return request
    own = await pulls.pull_credentials(session)
    if own is None:
        return request
    return dataclasses.replace(request, username=own.username, password=own.password)


async def kernel_request(
    images: ImageService,
    extras: KernelExtras | None,
    session: ComputeSession,
    pulls: PullCredentials | None = None,
) -> KernelRequest:
    image = await images.get(session.image_id)
    slots = session.occupied_slots
    shares = {d["device"]: Decimal(d["shares"]) for d in session.device_allocations}
    whole = tuple(d["device"] for d in session.device_allocations if d.get("whole"))
    found = await extras.kernel_extras(session) if extras is not None else ((), ())
    return KernelRequest(
        kernel_id=session.id,
        session_name=session.name,
        interpreter=image.provider.interpreter,
        interpreter_prefix=image.provider.prefix(),
        image_labels=image.labels,
        cpu=Decimal(slots.get("cpu", "1")),
        memory_bytes=int(Decimal(slots.get("mem", "0"))),
        gpu_devices=whole,
        gpu_shares={k: v for k, v in shares.items() if k not in whole},
        environ=session.environ,
        bootstrap_script=session.bootstrap_script,
        mounts=found[0],
        files=found[1],
        shmem_bytes=int(shmem) if (shmem := session.resource_opts.get("shmem")) else None,
        disk_bytes=int(disk) if (disk := session.resource_opts.get("disk")) else None,
        interactive=session.session_type == SessionType.INTERACTIVE,
        image=await _pull(images, image, pulls, session),
    )

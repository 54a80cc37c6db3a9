"""VFolder: virtual folders, their files and their sharing."""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from hangar.client.config import DEFAULT_CHUNK_SIZE
from hangar.client.exceptions import BackendAPIError, BackendClientError
from hangar.client.func.base import BaseFunction, local_base, local_files, paginated
from hangar.client.progress import transfer_bar

LIST_FIELDS = ("host", "name", "created_at", "creator", "group", "permission", "ownership_type")
TUS_HEADERS = {"Tus-Resumable": "1.0.0"}
PATCH_ATTEMPTS = 3


def _transfer_url(info: Mapping[str, Any], address_map: Mapping[str, str] | None) -> httpx.URL:
    url = str(info["url"])
    if address_map:
        if url not in address_map:
            raise BackendClientError(
                f"Storage proxy address overrides were given, but none matches {url}."
            )
        url = address_map[url]
    return httpx.URL(url).copy_with(params={"token": info["token"]})


async def _raise_for(response: httpx.Response) -> None:
    if response.status_code // 100 != 2:
        body = await response.aread()
        raise BackendAPIError(
            response.status_code, response.reason_phrase, body.decode(errors="replace")
        )


class VFolder(BaseFunction):
    """A virtual folder, addressed by its name."""

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    async def create(
        cls,
        name: str,
        host: str | None = None,
        unmanaged_path: str | None = None,
        group: str | None = None,
        usage_mode: str = "general",
        permission: str = "rw",
        quota: str = "0",
        cloneable: bool = False,
    ) -> dict[str, Any]:
        """Create a folder on ``host`` (default: the server's default host)."""
        body = {
            "name": name,
            "host": host,
            "unmanaged_path": unmanaged_path,
            "group": group,
            "usage_mode": usage_mode,
            "permission": permission,
            "quota": quota,
            "cloneable": cloneable,
        }
        result: dict[str, Any] = await cls._call("POST", "/folders", json=body)
        return result

    @classmethod
    async def delete_by_id(cls, oid: str) -> Any:
        return await cls._call("DELETE", "/folders", json={"id": oid})

    @classmethod
    async def list(cls, list_all: bool = False) -> builtins.list[dict[str, Any]]:
        result: builtins.list[dict[str, Any]] = await cls._call(
            "GET", "/folders", json={"all": list_all}
        )
        return result

    @classmethod
    async def paginated_list(
        cls,
        group: str | None = None,
        *,
        fields: Sequence[Any] = LIST_FIELDS,
        page_offset: int = 0,
        page_size: int = 20,
        filter: str | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        return await paginated(
            cls,
            "vfolder_list",
            {
                "group_id": (group, "UUID"),
                "filter": (filter, "String"),
                "order": (order, "String"),
            },
            fields,
            page_offset=page_offset,
            page_size=page_size,
        )

    @classmethod
    async def list_hosts(cls) -> dict[str, Any]:
        """``{"default": host, "allowed": [hosts], ...}``."""
        result: dict[str, Any] = await cls._call("GET", "/folders/_/hosts")
        return result

    @classmethod
    async def list_all_hosts(cls) -> dict[str, Any]:
        result: dict[str, Any] = await cls._call("GET", "/folders/_/all_hosts")
        return result

    @classmethod
    async def list_allowed_types(cls) -> builtins.list[str]:
        result: builtins.list[str] = await cls._call("GET", "/folders/_/allowed_types")
        return result

    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/folders/{self.name}")
        return result

    async def delete(self) -> None:
        await self._call("DELETE", f"/folders/{self.name}")

    async def rename(self, new_name: str) -> Any:
        result = await self._call(
            "POST", f"/folders/{self.name}/rename", json={"new_name": new_name}
        )
        self.name = new_name
        return result

    # -- transfers ------------------------------------------------------------------------

    async def upload(
        self,
        files: Sequence[str | Path],
        *,
        basedir: str | Path | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        address_map: Mapping[str, str] | None = None,
        show_progress: bool = False,
    ) -> None:
        """Upload local files; their paths relative to ``basedir`` (default: the current
        directory) become their paths in the folder. Existing files are overwritten."""
        for relpath, path in local_files(files, basedir):
            size = path.stat().st_size
            info = await self._call(
                "POST",
                f"/folders/{self.name}/request-upload",
                json={"path": relpath, "size": size},
            )
            url = _transfer_url(info, address_map)
            with transfer_bar(f"Uploading {relpath}", size, show=show_progress) as bar:
                await self._tus_upload(url, path, size, chunk_size, bar)

    async def _tus_upload(
        self, url: httpx.URL, path: Path, size: int, chunk_size: int, bar: Any
    ) -> None:
        http = self._session().http
        offset, failures = 0, 0
        with path.open("rb") as f:
            while offset < size:
                f.seek(offset)
                chunk = f.read(chunk_size)
                headers = {
                    **TUS_HEADERS,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                }
                try:
                    response = await http.patch(url, content=chunk, headers=headers)
                except (httpx.TransportError, httpx.TimeoutException) as exc:
                    failures += 1
                    if failures >= PATCH_ATTEMPTS:
                        raise BackendClientError(f"Upload of {path.name} failed: {exc}") from exc
                    offset = await self._tus_offset(url)  # resume where the server stands
                    continue
                await _raise_for(response)
                new_offset = int(response.headers.get("Upload-Offset", offset + len(chunk)))
                bar(new_offset - offset)
                offset = new_offset

    async def _tus_offset(self, url: httpx.URL) -> int:
        response = await self._session().http.head(url, headers=TUS_HEADERS)
        await _raise_for(response)
        return int(response.headers.get("Upload-Offset", "0"))

    async def download(
        self,
        relative_paths: Sequence[str | Path],
        *,
        basedir: str | Path | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        show_progress: bool = False,
        address_map: Mapping[str, str] | None = None,
    ) -> None:
        """Download files of the folder to ``basedir``/path (default: the current
        directory), creating parent directories and overwriting existing files."""
        base = local_base(basedir)
        http = self._session().http
        for relpath in relative_paths:
            target = (base / relpath).resolve()
            info = await self._call(
                "POST", f"/folders/{self.name}/request-download", json={"path": str(relpath)}
            )
            url = _transfer_url(info, address_map)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.part")
            async with http.stream("GET", url) as response:
                await _raise_for(response)
                total = int(response.headers.get("Content-Length", "0")) or None
                with (
                    transfer_bar(f"Downloading {relpath}", total, show=show_progress) as bar,
                    partial.open("wb") as out,
                ):
                    async for chunk in response.aiter_bytes(chunk_size):
                        out.write(chunk)
                        bar(len(chunk))
            os.replace(partial, target)

    # -- files ----------------------------------------------------------------------------

    async def mkdir(self, path: str | Path) -> Any:
        return await self._call("POST", f"/folders/{self.name}/mkdir", json={"path": str(path)})

    async def rename_file(self, target_path: str, new_name: str) -> Any:
        body = {"target_path": target_path, "new_name": new_name}
        return await self._call("POST", f"/folders/{self.name}/rename-file", json=body)

    async def move_file(self, src_path: str, dst_path: str) -> Any:
        body = {"src": src_path, "dst": dst_path}
        return await self._call("POST", f"/folders/{self.name}/move-file", json=body)

    async def delete_files(self, files: Sequence[str | Path], recursive: bool = False) -> Any:
        body = {"files": [str(f) for f in files], "recursive": recursive}
        return await self._call("DELETE", f"/folders/{self.name}/delete-files", json=body)

    async def list_files(self, path: str | Path = ".") -> Any:
        return await self._call("GET", f"/folders/{self.name}/files", json={"path": str(path)})

    # -- sharing --------------------------------------------------------------------------

    async def invite(self, perm: str, emails: Sequence[str]) -> Any:
        body = {"perm": perm, "user_ids": list(emails)}
        return await self._call("POST", f"/folders/{self.name}/invite", json=body)

    @classmethod
    async def invitations(cls) -> Any:
        return await cls._call("GET", "/folders/invitations/list")

    @classmethod
    async def accept_invitation(cls, inv_id: str) -> Any:
        return await cls._call("POST", "/folders/invitations/accept", json={"inv_id": inv_id})

    @classmethod
    async def delete_invitation(cls, inv_id: str) -> Any:
        return await cls._call("DELETE", "/folders/invitations/delete", json={"inv_id": inv_id})

    async def share(self, perm: str, emails: Sequence[str]) -> Any:
        body = {"permission": perm, "emails": list(emails)}
        return await self._call("POST", f"/folders/{self.name}/share", json=body)

    async def unshare(self, emails: Sequence[str]) -> Any:
        body = {"emails": list(emails)}
        return await self._call("DELETE", f"/folders/{self.name}/unshare", json=body)

    async def leave(self) -> Any:
        return await self._call("POST", f"/folders/{self.name}/leave")

    async def clone(
        self,
        target_name: str,
        target_host: str | None = None,
        usage_mode: str = "general",
        permission: str = "rw",
    ) -> Any:
        body = {
            "target_name": target_name,
            "target_host": target_host,
            "usage_mode": usage_mode,
            "permission": permission,
        }
        return await self._call("POST", f"/folders/{self.name}/clone", json=body)

    async def update_options(
        self, name: str, permission: str | None = None, cloneable: bool | None = None
    ) -> Any:
        body = {"permission": permission, "cloneable": cloneable}
        return await self._call("POST", f"/folders/{self.name}/update-options", json=body)

    # -- host administration (superadmin) ------------------------------------------------

    @classmethod
    async def get_fstab_contents(cls, agent_id: str | None = None) -> Any:
        return await cls._call("GET", "/folders/_/fstab", json={"agent_id": agent_id})

    @classmethod
    async def get_performance_metric(cls, folder_host: str) -> Any:
        return await cls._call("GET", "/folders/_/perf-metric", json={"folder_host": folder_host})

    @classmethod
    async def list_mounts(cls) -> Any:
        return await cls._call("GET", "/folders/_/mounts")

    @classmethod
    async def mount_host(
        cls, name: str, fs_location: str, options: str | None = None, edit_fstab: bool = False
    ) -> Any:
        body = {
            "name": name,
            "fs_location": fs_location,
            "options": options,
            "edit_fstab": edit_fstab,
        }
        return await cls._call("POST", "/folders/_/mounts", json=body)

    @classmethod
    async def umount_host(cls, name: str, edit_fstab: bool = False) -> Any:
        return await cls._call(
            "DELETE", "/folders/_/mounts", json={"name": name, "edit_fstab": edit_fstab}
        )

"""A storage host on any S3-compatible object store (one bucket, an optional key prefix).

A folder is the key prefix ``<prefix><id hex>/``; a directory is a common prefix, kept
visible when empty by a ``name/`` marker object. There are no symlinks to follow. Uploads
stage in a local file and become one object when complete (multipart for large files),
so a partial upload is never listed. Folders here cannot be bind-mounted into sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hangar.core.errors import InvalidRequest, NotFound, StorageFailed
from hangar.core.storage.backends.base import CopyProgress, Parts
from hangar.core.storage.backends.io import PerfCounters
from hangar.core.storage.models import FileItem, FolderUsage, PerfMetric, VolumeInfo

READ_CHUNK = 1 << 20
DIR_MODE = 0o40755
FILE_MODE = 0o100644
TRANSFER = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20)


def _missing(path: Parts) -> NotFound:
    return NotFound("file", f"No such file or directory: {'/'.join(path) or '.'}")


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0


class S3Backend:
    kind = "s3"

    def __init__(
        self,
        name: str,
        *,
        endpoint_url: str | None,
        bucket: str,
        prefix: str,
        region: str,
        access_key: str | None,
        secret_key: str | None,
        staging_dir: Path,
        capacity_bytes: int | None = None,
    ) -> None:
        self.name = name
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.capacity_bytes = capacity_bytes
        self.staging_dir = staging_dir
        staging_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                max_pool_connections=16,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        self._bucket_ready = False
        self._io = PerfCounters()

    async def _call(self, method: str, **kwargs: Any) -> Any:
        await self._ensure_bucket()
        return await self._raw(method, **kwargs)

    async def _raw(self, method: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self._client, method), **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFound("file", "No such file.") from None
            raise StorageFailed(f"The object store refused {method}: {code or exc}") from None
        except BotoCoreError as exc:
            raise StorageFailed(f"The object store is unreachable: {exc}") from None

    async def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        try:
            await self._raw("head_bucket", Bucket=self.bucket)
        except (NotFound, StorageFailed):
            with contextlib.suppress(StorageFailed):
                await self._raw("create_bucket", Bucket=self.bucket)
            await self._raw("head_bucket", Bucket=self.bucket)
        self._bucket_ready = True

    def _key(self, vfid: uuid.UUID, path: Parts = ()) -> str:
        return self.prefix + vfid.hex + "/" + "/".join(path)

    async def _keys(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._call("list_objects_v2", **kwargs)
            for obj in page.get("Contents", []):
                yield obj
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    async def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            await self._call("delete_objects", Bucket=self.bucket, Delete={"Objects": batch})

    async def _is_file(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = await self._call("head_object", Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return head

    async def _is_dir(self, vfid: uuid.UUID, path: Parts) -> bool:
        if not path:
            return True
        page = await self._call(
            "list_objects_v2", Bucket=self.bucket, Prefix=self._key(vfid, path) + "/", MaxKeys=1
        )
        return bool(page.get("KeyCount") or page.get("Contents"))

    # Folders -----------------------------------------------------------------------------

    def mount_path(self, vfid: uuid.UUID) -> Path | None:
        return None

    async def create_folder(self, vfid: uuid.UUID) -> None:
        await self._call("put_object", Bucket=self.bucket, Key=self._key(vfid), Body=b"")

    async def delete_folder(self, vfid: uuid.UUID) -> None:
        keys = [obj["Key"] async for obj in self._keys(self._key(vfid))]
        await self._delete_keys(keys)

    async def clone_folder(
        self, src: uuid.UUID, dst: uuid.UUID, progress: CopyProgress | None = None
    ) -> None:
        await self.create_folder(dst)
        base = self._key(src)
        copied = 0
        async for obj in self._keys(base):
            target = self._key(dst) + obj["Key"][len(base) :]
            await self._call(
                "copy_object",
                Bucket=self.bucket,
                Key=target,
                CopySource={"Bucket": self.bucket, "Key": obj["Key"]},
            )
            copied += int(obj.get("Size", 0))
            if progress is not None:
                progress(copied)

    async def usage(self, vfid: uuid.UUID) -> FolderUsage:
        files = used = 0
        async for obj in self._keys(self._key(vfid)):
            if not obj["Key"].endswith("/"):
                files += 1
                used += int(obj.get("Size", 0))
        return FolderUsage(files, used)

    async def info(self) -> VolumeInfo:
        return VolumeInfo(
            name=self.name,
            backend="s3",
            path=f"s3://{self.bucket}/{self.prefix}",
            fsprefix=self.prefix,
            capabilities=("file-ops",),
            capacity_bytes=self.capacity_bytes,
            used_bytes=None,
            hardware_metadata={"backend": "s3", "endpoint": self.endpoint_url or "aws"},
        )

    async def perf_metric(self) -> PerfMetric:
        return self._io.snapshot()

    async def close(self) -> None:
        self._client.close()

    # Files -------------------------------------------------------------------------------

    async def list_files(self, vfid: uuid.UUID, path: Parts) -> list[FileItem]:
        if path and await self._is_file(self._key(vfid, path)) is not None:
            raise InvalidRequest(f"Not a directory: {'/'.join(path)}")
        base = self._key(vfid, path) + ("/" if path else "")
        items: dict[str, FileItem] = {}
        token: str | None = None
        found = False
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._call("list_objects_v2", **kwargs)
            for common in page.get("CommonPrefixes", []):
                found = True
                name = common["Prefix"][len(base) :].rstrip("/")
                items[name] = FileItem(name, "DIRECTORY", 0, DIR_MODE, 0.0, 0.0, 0.0)
            for obj in page.get("Contents", []):
                found = True
                name = obj["Key"][len(base) :]
                if not name:
                    continue
                when = _epoch(obj.get("LastModified"))
                items[name] = FileItem(
                    name, "FILE", int(obj.get("Size", 0)), FILE_MODE, when, when, when
                )
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")
        if path and not found:
            raise _missing(path)
        return [items[name] for name in sorted(items)]

    async def mkdir(self, vfid: uuid.UUID, path: Parts, *, parents: bool, exist_ok: bool) -> None:
        if await self._is_file(self._key(vfid, path)) is not None:
            raise InvalidRequest(f"The path already exists: {'/'.join(path)}")
        if await self._is_dir(vfid, path) and not exist_ok:
            raise InvalidRequest(f"The path already exists: {'/'.join(path)}")
        if not parents and len(path) > 1 and not await self._is_dir(vfid, path[:-1]):
            raise _missing(path[:-1])
        await self._call(
            "put_object", Bucket=self.bucket, Key=self._key(vfid, path) + "/", Body=b""
        )

    async def move(self, vfid: uuid.UUID, src: Parts, dst: Parts) -> None:
        if dst[: len(src)] == src:
            raise InvalidRequest("A file or directory cannot be moved onto or into itself.")
        if await self._is_dir(vfid, dst):
            dst = (*dst, src[-1])
        src_key = self._key(vfid, src)
        if await self._is_file(src_key) is not None:
            moves = [(src_key, self._key(vfid, dst))]
        else:
            base = src_key + "/"
            moves = [(o["Key"], self._key(vfid, dst) + "/" + o["Key"][len(base) :])
                     async for o in self._keys(base)]  # fmt: skip
            if not moves:
                raise _missing(src)
        for old, new in moves:
            await self._call(
                "copy_object",
                Bucket=self.bucket,
                Key=new,
                CopySource={"Bucket": self.bucket, "Key": old},
            )
        await self._delete_keys([old for old, _ in moves])

    async def delete(self, vfid: uuid.UUID, path: Parts, *, recursive: bool) -> None:
        key = self._key(vfid, path)
        if await self._is_file(key) is not None:
            await self._call("delete_object", Bucket=self.bucket, Key=key)
            return
        keys = [obj["Key"] async for obj in self._keys(key + "/")]
        if not keys:
            raise _missing(path)
        if any(k != key + "/" for k in keys) and not recursive:
            raise InvalidRequest(
                f"The directory is not empty (delete it recursively): {'/'.join(path)}"
            )
        await self._delete_keys(keys)

    async def file_size(self, vfid: uuid.UUID, path: Parts) -> int:
        if not path:
            raise InvalidRequest("The file is not a regular file.")
        head = await self._is_file(self._key(vfid, path))
        if head is None:
            if await self._is_dir(vfid, path):
                raise InvalidRequest("The file is not a regular file.")
            raise _missing(path)
        return int(head.get("ContentLength", 0))

    async def read(
        self, vfid: uuid.UUID, path: Parts, start: int, end: int
    ) -> AsyncIterator[bytes]:
        if end <= start:
            return
        response = await self._call(
            "get_object",
            Bucket=self.bucket,
            Key=self._key(vfid, path),
            Range=f"bytes={start}-{end - 1}",
        )
        body = response["Body"]
        try:
            while True:
                chunk: bytes = await asyncio.to_thread(body.read, READ_CHUNK)
                if not chunk:
                    break
                self._io.read(len(chunk), 0.0)
                yield chunk
        finally:
            body.close()

    # Uploads -----------------------------------------------------------------------------

    def staging_path(self, upload_id: uuid.UUID) -> Path:
        return self.staging_dir / upload_id.hex

    async def commit_upload(self, upload_id: uuid.UUID, vfid: uuid.UUID, path: Parts) -> None:
        staged = self.staging_path(upload_id)
        await self._ensure_bucket()
        if await self._is_dir(vfid, path):
            raise InvalidRequest(f"A directory exists at {'/'.join(path)}")
        try:
            await asyncio.to_thread(
                self._client.upload_file,
                str(staged),
                self.bucket,
                self._key(vfid, path),
                Config=TRANSFER,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageFailed(f"The object store refused the upload: {exc}") from None
        self._io.write(await asyncio.to_thread(os.path.getsize, staged), 0.0)
        await self.discard_upload(upload_id)

    async def discard_upload(self, upload_id: uuid.UUID) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(os.unlink, self.staging_path(upload_id))

    async def open_local(self, vfid: uuid.UUID, path: Parts) -> tuple[int, int] | None:
        return None  # objects are not local files

    def count_read(self, nbytes: int, seconds: float) -> None:
        self._io.read(nbytes, seconds)

    def count_write(self, nbytes: int, seconds: float) -> None:
        return None

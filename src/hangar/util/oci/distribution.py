"""A client of the OCI distribution API (what Docker Hub, GHCR, Harbor and `docker-registry`
serve): catalog, tags, manifests and blobs, with the three ways registries authenticate.

Authentication follows the registry's ``WWW-Authenticate`` answer: none; ``Basic`` (the
credentials on every request); ``Bearer realm=...,service=...,scope=...`` (a token from the
realm, asked with the credentials if any, cached per scope). Blobs stream to a file while
their sha256 is computed; an interrupted download resumes with a Range request; a blob whose
digest or size differs from its descriptor is deleted and refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

from hangar.util.oci.manifests import (
    ACCEPT,
    INDEX_TYPES,
    Descriptor,
    Manifest,
    ManifestError,
    choose_platform,
    load_json,
    media_type,
    parse_manifest,
)
from hangar.util.oci.reference import Reference

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
MAX_MANIFEST = 4 * 1024 * 1024
CHUNK = 1024 * 1024


class RegistryError(RuntimeError):
    """The registry refused or failed; ``status`` is its HTTP status (0: unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class DigestMismatch(RegistryError):
    pass


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    return name in ("localhost", "[::1]") or name.startswith("127.")


class RegistryClient:
    """One registry's API. ``insecure``: plain HTTP (default only for loopback hosts)."""

    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        *,
        insecure: bool | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        plain = is_loopback(host) if insecure is None else insecure
        self.base = f"{'http' if plain else 'https'}://{host}"
        self.credentials = credentials
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=True,
            transport=transport,
            limits=httpx.Limits(max_connections=16),
        )
        self._basic = False
        self._tokens: dict[str, str] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _auth(self, scope: str) -> dict[str, str]:
        if scope in self._tokens:
            return {"Authorization": f"Bearer {self._tokens[scope]}"}
        if self._basic and self.credentials is not None:
            pair = f"{self.credentials.username}:{self.credentials.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    async def _authenticate(self, challenge: str, scope: str) -> None:
        """Answer a 401's challenge (Basic or Bearer). Raises RegistryError."""
        kind, _, params = challenge.partition(" ")
        if kind.lower() == "basic":
            if self.credentials is None:
                raise RegistryError("the registry requires a login (no credentials stored)", 401)
            self._basic = True
            return
        if kind.lower() != "bearer":
            raise RegistryError(f"unsupported authentication {kind!r}", 401)
        fields = dict(_CHALLENGE.findall(params))
        realm = fields.get("realm")
        if not realm:
            raise RegistryError("a Bearer challenge without a realm", 401)
        query = {"service": fields.get("service", "")}
        query["scope"] = fields.get("scope") or scope
        auth = None
        if self.credentials is not None:
            auth = httpx.BasicAuth(self.credentials.username, self.credentials.password)
        try:
            answer = await self._http.get(f"{realm}?{urlencode(query)}", auth=auth)
        except httpx.HTTPError as exc:
            raise RegistryError(f"token service unreachable: {exc}") from exc
        if answer.status_code != 200:
            raise RegistryError(f"token service refused: HTTP {answer.status_code}", 401)
        data = answer.json() if answer.content else {}
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str):
            raise RegistryError("the token service answered no token", 401)
        self._tokens[scope] = token

    @asynccontextmanager
    async def _send(
        self, path: str, scope: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """A streamed GET of ``path``, authenticated on demand; raises RegistryError for
        any answer but 200/206."""
        for attempt in (1, 2):
            request = self._http.build_request(
                "GET", f"{self.base}{path}", headers={**(headers or {}), **self._auth(scope)}
            )
            try:
                response = await self._http.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise RegistryError(f"{self.base} unreachable: {exc}") from exc
            try:
                if response.status_code == 401 and attempt == 1:
                    await self._authenticate(response.headers.get("WWW-Authenticate", ""), scope)
                    continue
                if response.status_code == 401 and self.credentials is None:
                    raise RegistryError(
                        "the registry requires a login (no credentials stored)", 401
                    )
                if response.status_code not in (200, 206):
                    raise _refusal(response, path)
                yield response
                return
            finally:
                await response.aclose()

    async def _get(self, path: str, scope: str, headers: dict[str, str] | None = None,
                   limit: int = MAX_MANIFEST) -> tuple[bytes, httpx.Headers]:  # fmt: skip
        async with self._send(path, scope, headers) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise RegistryError(f"{path}: answer over {limit} bytes")
            return bytes(body), response.headers

    async def catalog(self) -> list[str]:
        """Every repository (following the ``Link`` pages)."""
        found: list[str] = []
        path: str | None = "/v2/_catalog?n=1000"
        while path:
            raw, headers = await self._get(path, "registry:catalog:*")
            found += [str(r) for r in load_json(raw, "the catalog").get("repositories") or []]
            link = headers.get("Link", "")
            path = link[link.find("<") + 1 : link.find(">")] if 'rel="next"' in link else None
        return found

    async def tags(self, repository: str) -> list[str]:
        raw, _ = await self._get(f"/v2/{repository}/tags/list", _pull(repository))
        return [str(t) for t in load_json(raw, "the tag list").get("tags") or []]

    async def manifest(self, ref: Reference, architecture: str) -> tuple[Manifest, bytes]:
        """The image manifest for ``ref`` (through an index, the ``architecture`` one) and
        its raw bytes. Raises RegistryError, ManifestError, DigestMismatch."""
        target = ref.target
        for _ in range(2):
            raw, headers = await self._get(
                f"/v2/{ref.repository}/manifests/{target}",
                _pull(ref.repository),
                {"Accept": ACCEPT},
            )
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            if target.startswith("sha256:") and digest != target:
                raise DigestMismatch(f"manifest {target} arrived as {digest}")
            data = load_json(raw, "the manifest")
            if media_type(data, headers.get("Content-Type", "")) in INDEX_TYPES:
                target = choose_platform(data, architecture)
                continue
            return parse_manifest(data, digest), raw
        raise ManifestError("an index pointing at another index")

    async def blob_bytes(
        self, repository: str, descriptor: Descriptor, limit: int = MAX_MANIFEST
    ) -> bytes:
        raw, _ = await self._get(
            f"/v2/{repository}/blobs/{descriptor.digest}", _pull(repository), limit=limit
        )
        if "sha256:" + hashlib.sha256(raw).hexdigest() != descriptor.digest:
            raise DigestMismatch(f"blob {descriptor.digest} does not match its digest")
        return raw

    async def download(
        self,
        repository: str,
        descriptor: Descriptor,
        partial: Path,
        on_bytes: Callable[[int], None] = lambda n: None,
        attempts: int = 4,
    ) -> None:
        """Stream the blob into ``partial`` (resuming what it holds), verifying size and
        digest at the end. Raises DigestMismatch (file removed) or RegistryError."""
        for attempt in range(1, attempts + 1):
            try:
                await self._download_once(repository, descriptor, partial, on_bytes)
                return
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise RegistryError(f"{descriptor.digest}: download failed: {exc}") from exc

    async def _download_once(
        self,
        repository: str,
        descriptor: Descriptor,
        partial: Path,
        on_bytes: Callable[[int], None],
    ) -> None:
        have = _resumable(partial, descriptor.size)
        if have == descriptor.size:  # all there: check it without asking for nothing
            sink = _Sink(partial, descriptor, resume=True)
            sink.close()
            sink.verify()
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        path = f"/v2/{repository}/blobs/{descriptor.digest}"
        async with self._send(path, _pull(repository), headers) as response:
            sink = _Sink(partial, descriptor, resume=response.status_code == 206 and have > 0)
            try:
                async for chunk in response.aiter_bytes(CHUNK):
                    sink.write(chunk)
                    on_bytes(len(chunk))
            finally:
                sink.close()
        sink.verify()


def _resumable(partial: Path, size: int) -> int:
    """How many bytes of ``partial`` a download may keep (0: start over)."""
    have = partial.stat().st_size if partial.exists() else 0
    if have > size:
        partial.unlink()
        return 0
    return have


class _Sink:
    """The partial file of a blob, hashed as it grows (resumed: what it holds first)."""

    def __init__(self, partial: Path, descriptor: Descriptor, *, resume: bool) -> None:
        self.partial, self.descriptor = partial, descriptor
        self.digest = hashlib.sha256()
        self.size = 0
        if resume:
            with partial.open("rb") as existing:
                while block := existing.read(CHUNK):
                    self.digest.update(block)
                    self.size += len(block)
        self.out = partial.open("ab" if resume else "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.descriptor.size:
            self.close()
            self.partial.unlink(missing_ok=True)
            raise DigestMismatch(f"blob {self.descriptor.digest} is larger than its size")
        self.digest.update(chunk)
        self.out.write(chunk)

    def close(self) -> None:
        self.out.close()

    def verify(self) -> None:
        found = "sha256:" + self.digest.hexdigest()
        if self.size != self.descriptor.size or found != self.descriptor.digest:
            self.partial.unlink(missing_ok=True)
            raise DigestMismatch(f"blob {self.descriptor.digest} does not match its digest")


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _refusal(response: httpx.Response, path: str) -> RegistryError:
    status = response.status_code
    if status == 401:
        return RegistryError("the registry refused the credentials", 401)
    if status == 404:
        return RegistryError(f"not found in the registry: {path}", 404)
    return RegistryError(f"the registry answered HTTP {status} for {path}", status)

"""User-supplied paths inside a folder: normalised to plain components, never leading out.

Every path a request names is relative to the folder root. Absolute paths, ``..`` that
climbs above the root, NUL bytes and empty names are refused before any storage call;
backends then walk the components without following symlinks.
"""

from __future__ import annotations

from hangar.core.errors import InvalidRequest

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


def parts_of(path: str, *, allow_root: bool = True) -> tuple[str, ...]:
    """The components of ``path`` below the folder root (``""``/``.`` is the root itself).

    Raises InvalidRequest for absolute paths, escapes above the root and malformed names.
    """
    if not isinstance(path, str) or "\x00" in path:
        raise InvalidRequest("Invalid path.")
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise InvalidRequest("The path is too long.")
    if path.startswith("/"):
        raise InvalidRequest(f"Absolute paths are not allowed: {path!r}")
    stack: list[str] = []
    for name in path.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if not stack:
                raise InvalidRequest(f"The path leads outside the folder: {path!r}")
            stack.pop()
            continue
        if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise InvalidRequest("A file name is too long.")
        stack.append(name)
    if not stack and not allow_root:
        raise InvalidRequest("The path names the folder itself.")
    return tuple(stack)


def plain_name(name: str) -> str:
    """A single file name (no separators, not ``.``/``..``). Raises InvalidRequest."""
    if not name or "/" in name or "\x00" in name or name in (".", ".."):
        raise InvalidRequest(f"Invalid file name: {name!r}")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise InvalidRequest("A file name is too long.")
    return name


def joined(parts: tuple[str, ...]) -> str:
    return "/".join(parts)

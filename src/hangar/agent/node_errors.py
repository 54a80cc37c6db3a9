"""Errors the node raises; every one is an :class:`~hangar.agent.errors.AgentError`.

Tree::

    NodeError
    ├── UnknownKernel          no live kernel with this id (also a KernelNotFound)
    ├── KernelExists           create_kernel for an id that is live
    ├── InvalidKernelRequest   bad environment names, unknown GPU ids, ...
    ├── KernelStartFailed      runtime or bootstrap failure; nothing is left behind
    └── FileError              a file operation was refused or failed
        ├── PathEscapes        "Path escapes /home/work" (.., absolute, symlinks out)
        ├── FileMissing        "No such file or directory."
        ├── NotADirectory      "Not a directory."
        ├── IsADirectory       "Is a directory."
        ├── FileTooLarge       "Too large file"
        └── FileAccessFailed   any other OS error, with its reason

Messages are meant for end users: the face shows them as they are.
"""

from __future__ import annotations

from hangar.agent.errors import AgentError, KernelCreationFailed, KernelNotFound


class NodeError(AgentError):
    """Base of every error :class:`hangar.agent.node.Node` raises on purpose."""


class UnknownKernel(NodeError, KernelNotFound):
    """No live kernel has this id on this node."""


class KernelExists(NodeError):
    """A kernel with this id is already live on this node."""


class InvalidKernelRequest(NodeError, ValueError):
    """The request cannot describe a kernel on this node."""


class KernelStartFailed(NodeError, KernelCreationFailed):
    """The kernel could not be started; its processes, limits and scratch dir are gone."""


class FileError(NodeError):
    """A file operation in a kernel's /home/work was refused or failed."""


class PathEscapes(FileError, ValueError):
    """The path leads outside /home/work."""


class FileMissing(FileError, LookupError):
    """The path does not exist."""


class NotADirectory(FileError):
    """A directory was expected."""


class IsADirectory(FileError):
    """A file was expected."""


class FileTooLarge(FileError):
    """The file or archive exceeds the node's size limit."""


class FileAccessFailed(FileError):
    """Any other OS error while reading or writing."""

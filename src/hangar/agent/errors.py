"""Errors raised by the agent layer.

Tree::

    AgentError
    ├── SandboxUnavailable     the runtime cannot start on this host (bwrap missing, ...)
    ├── InvalidKernelSpec      a spec that no runtime may accept (bad id, relative path, ...)
    ├── KernelNotFound         an operation names a kernel that was not created (or destroyed)
    └── KernelCreationFailed   preparing the scratch dir, cgroup or bootstrap script failed
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent layer raises on purpose."""


class SandboxUnavailable(AgentError):
    """The sandbox cannot work on this host; the message says what is missing."""


class InvalidKernelSpec(AgentError, ValueError):
    """A kernel spec violates the contract of :class:`hangar.agent.runtimes.base.KernelSpec`."""


class KernelNotFound(AgentError, LookupError):
    """No live kernel has this id."""


class KernelCreationFailed(AgentError):
    """A kernel could not be prepared; nothing of it is left running."""

"""The core's errors in Backend.AI's words.

The core raises typed errors with neutral fields (a NotFound's ``kind``, an InvalidValue's
``field``); Backend.AI's clients expect the reference manager's nouns, field names and a few
verbatim sentences. :func:`message_of` is the one place that words them: problem+json
responses, GraphQL errors and mutation results all go through it.
"""

from __future__ import annotations

from hangar.core.errors import (
    FolderDeleteRefused,
    FolderInUse,
    HangarError,
    InvalidValue,
    NotFound,
)

# The core's object kinds -> Backend.AI's nouns ("No such agent instance.").
NOUNS = {
    "agent": "agent instance",
    "folder": "virtual folder",
    "folder invitation": "vfolder invitation",
    "group": "user group (or project)",
    "image": "environment image",
    "resource policy": "keypair resource policy",
    "service": "app service",
    "template": "task template",
}
# The core's request fields -> Backend.AI's wire names.
FIELDS = {"agents": "agentList"}


def message_of(exc: HangarError) -> str:
    """What a Backend.AI client reads for ``exc``."""
    if isinstance(exc, NotFound):
        return _not_found(exc)
    if isinstance(exc, InvalidValue):
        return _invalid_value(exc)
    if isinstance(exc, FolderDeleteRefused):
        if exc.reachable:
            return "Cannot delete the vfolder that is not owned by myself."
        return "No such vfolder."
    if isinstance(exc, FolderInUse):
        return _folder_in_use(exc)
    return exc.message


def _not_found(exc: NotFound) -> str:
    if exc.detail is not None:
        return exc.detail
    if exc.kind == "container registry" and exc.ref is not None:
        return f"Unknown registry: {exc.ref}"  # as the face said before registries were kept
    noun = NOUNS.get(exc.kind, exc.kind)
    if exc.ref is None:
        return f"No such {noun}."
    return f"No such {noun}: {exc.ref}" + (f" ({exc.hint})" if exc.hint else "")


def _invalid_value(exc: InvalidValue) -> str:
    if exc.field == "cluster_size":
        return "Multi-container sessions are not supported yet (clusterSize 1)."
    return f"{FIELDS.get(exc.field, exc.field)}: {exc.reason}"


def _folder_in_use(exc: FolderInUse) -> str:
    names = [f"{name} ({sid})" for name, sid in exc.sessions]
    if exc.others:
        names.append(f"{exc.others} session{'s' if exc.others > 1 else ''} of other users")
    return (
        f"Cannot delete the vfolder. The vfolder {exc.name!r} (id: {exc.folder_id}) is mounted "
        f"on sessions: {', '.join(names)}. Terminate those sessions first."
    )

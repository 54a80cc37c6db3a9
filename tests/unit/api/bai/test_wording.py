"""The core raises typed errors with neutral nouns and fields; the Backend.AI face words
them as the reference manager does."""

from __future__ import annotations

import uuid

import pytest

from hangar.api.bai.errors import render_error
from hangar.api.bai.wording import message_of
from hangar.core.errors import (
    FolderDeleteRefused,
    FolderInUse,
    HangarError,
    InvalidValue,
    NotFound,
)

FOLDER = uuid.UUID("00000000-0000-0000-0000-0000000000f0")
SESSION = uuid.UUID("00000000-0000-0000-0000-00000000005e")


@pytest.mark.parametrize(
    ("exc", "core", "face"),
    [
        (NotFound("folder"), "No such folder.", "No such virtual folder."),
        (NotFound("service"), "No such service.", "No such app service."),
        (NotFound("agent", ref="i-x"), "No such agent: i-x", "No such agent instance: i-x"),
        (
            NotFound("image", ref="pyton:3", hint="did you mean python:3?"),
            "No such image: pyton:3 (did you mean python:3?)",
            "No such environment image: pyton:3 (did you mean python:3?)",
        ),
        (NotFound("session", "Gone."), "Gone.", "Gone."),
        (
            NotFound("container registry", ref="docker.io"),
            "No such container registry: docker.io",
            "Unknown registry: docker.io",
        ),
        (NotFound("session"), "No such session.", "No such session."),
        (
            InvalidValue("agents", "agent a is not in scaling group 'g'"),
            "agents: agent a is not in scaling group 'g'",
            "agentList: agent a is not in scaling group 'g'",
        ),
        (
            InvalidValue("cluster_size", "only single-container sessions are supported"),
            "cluster_size: only single-container sessions are supported",
            "Multi-container sessions are not supported yet (clusterSize 1).",
        ),
        (
            InvalidValue("starts_at", "at most one year ahead"),
            "starts_at: at most one year ahead",
            "starts_at: at most one year ahead",
        ),
        (
            FolderDeleteRefused("f", reachable=True),
            "Only the folder's owner may delete 'f'.",
            "Cannot delete the vfolder that is not owned by myself.",
        ),
        (
            FolderDeleteRefused("f", reachable=False),
            "No folder named 'f' to delete.",
            "No such vfolder.",
        ),
        (
            FolderInUse("f", FOLDER, [("mine", SESSION)], 2),
            "The folder 'f' is mounted by 3 sessions that are not over; end them first.",
            f"Cannot delete the vfolder. The vfolder 'f' (id: {FOLDER}) is mounted on sessions: "
            f"mine ({SESSION}), 2 sessions of other users. Terminate those sessions first.",
        ),
    ],
)
def test_neutral_errors_get_backend_ai_words(exc: HangarError, core: str, face: str) -> None:
    assert exc.message == core
    assert message_of(exc) == face


def test_problems_carry_the_face_words() -> None:
    body = render_error(NotFound("folder")).body
    assert b'"title":"No such virtual folder."' in body
    body = render_error(FolderDeleteRefused("f", reachable=False)).body
    assert b'"msg":"No such vfolder."' in body

"""Hypothesis profiles and the shared harness for the fuzz suite (tests/fuzz).

``ci`` (the default) is derandomized and small enough for every push; ``deep`` runs many
more examples with shrinking, for hunting locally:
``HANGAR_FUZZ_PROFILE=deep .venv/bin/pytest -q tests/fuzz``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from hangar.core.identity.bootstrap import FirstAdmin
from hangar.core.identity.models import NewKeyPair
from hangar.core.services import Services, open_services
from tests.support.asgi import Answer, Hang
from tests.support.settings import settings_for
from tests.support.world import diff, probe

settings.register_profile(
    "ci",
    max_examples=8,
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
settings.register_profile(
    "deep",
    max_examples=300,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
PROFILE = os.environ.get("HANGAR_FUZZ_PROFILE", "ci")


# The harness every face's fuzzer shares: a world opened in one event loop, a snapshot of the
# database and files that each request is compared against, and one Hypothesis test per
# route that sends the random and the explicit cases and checks each answer. What a face's
# answers must look like (its error format) and what counts as a refusal stay in the face's
# own module, handed in as a ``Face``.

W = TypeVar("W", bound="HasServices")
T = TypeVar("T")


class HasServices(Protocol):
    @property
    def services(self) -> Services: ...


def encode(value: str) -> str:
    """Percent-encode everything, lone surrogates included."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def query_of(pairs: dict[str, str]) -> str:
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs.items())


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Values:
    """Strategies for hostile JSON: nasty strings, scalars, nested values and objects."""

    text: st.SearchStrategy[str]
    scalar: st.SearchStrategy[Any]
    value: st.SearchStrategy[Any]
    object: st.SearchStrategy[dict[str, Any]]


EDGE_INTEGERS = [2**63, -(2**63) - 1, 2**31, -1, 0, 10**30]


def json_values(keys: list[str], nasty: list[str], *, edge_integers: bool = True) -> Values:
    """Values whose objects use the face's own parameter names (``keys``) as keys, so they
    reach past the first "unknown field" check."""
    text = st.sampled_from(nasty) | st.text(max_size=24)
    scalar: st.SearchStrategy[Any] = (
        st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    )
    if edge_integers:
        scalar = scalar | st.sampled_from(EDGE_INTEGERS)
    scalar = scalar | st.floats() | text
    value = st.recursive(
        scalar,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(keys), inner, max_size=3)
        ),
        max_leaves=6,
    )
    objects = st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), value, max_size=6)
    return Values(text, scalar, value, objects)


@dataclass
class Case:
    """One malformed request."""

    who: str
    method: str
    target: str
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        where = f"{self.who} {self.method} {self.target[:300]!r} {self.content_type!r}"
        return f"Case({where} body={self.body[:300]!r})"


@dataclass
class Snapshot:
    """Everything a request could change, as it stood after the last request."""

    services: Services
    now: dict[str, Any]

    async def advance(self) -> list[str]:
        """Take a new snapshot; what changed since the last one."""
        after = await probe(self.services)
        changed = diff(self.now, after)
        self.now = after
        return changed


@dataclass
class FuzzRun(Generic[W]):
    runner: asyncio.Runner
    world: W
    state: Snapshot


@contextmanager
def fuzz_run(world_context: AbstractAsyncContextManager[W]) -> Iterator[FuzzRun[W]]:
    """Open a world in an event loop of its own, so synchronous Hypothesis tests can drive
    it request by request, and close it afterwards."""
    with asyncio.Runner() as runner:
        world = runner.run(world_context.__aenter__())
        try:
            state = Snapshot(world.services, runner.run(probe(world.services)))
            yield FuzzRun(runner, world, state)
        finally:
            runner.run(world_context.__aexit__(None, None, None))


@dataclass(frozen=True)
class Face(Generic[W, T]):
    """What one face's fuzzer supplies: per target (a route or an endpoint) the random and
    the explicit cases, how a case is sent, what is wrong with an answer in the face's own
    error format, and whether an answer refused the request."""

    cases: Callable[[T, W], st.SearchStrategy[Case]]
    explicit: Callable[[T, W], list[Case]]
    send: Callable[[W, Case], Awaitable[Answer]]
    problems: Callable[[Answer, Case], list[str]]
    refused: Callable[[Answer, Case], bool]
    label: Callable[[T], str] = str


def assert_fuzzed(
    world_context: AbstractAsyncContextManager[W], face: Face[W, T], targets: list[T]
) -> None:
    """Fuzz every target in one world; fail with every target's failure, not just the first."""
    failures: list[str] = []
    with fuzz_run(world_context) as run:
        for target in targets:
            try:
                _checker(run, face, target)()
            except Exception as exc:  # one target's failure must not hide the others'
                failures.append(f"{face.label(target)}: {exc}")
    assert not failures, "\n\n".join(failures)


def _checker(run: FuzzRun[W], face: Face[W, T], target: T) -> Callable[[], None]:
    @settings(settings.get_profile(PROFILE))
    @given(case=face.cases(target, run.world))
    def check(case: Case) -> None:
        run.runner.run(_one(run, face, case))

    for case in face.explicit(target, run.world):
        check = example(case=case)(check)
    return check


async def _one(run: FuzzRun[W], face: Face[W, Any], case: Case) -> None:
    """Send one case: it must answer in time, correctly, and change nothing if refused."""
    try:
        answer = await face.send(run.world, case)
    except Hang as exc:
        raise AssertionError(f"{case!r}: {exc}") from None
    wrong = face.problems(answer, case)
    assert not wrong, f"{case!r}: {'; '.join(wrong)}"
    changed = await run.state.advance()
    if face.refused(answer, case):
        refusal = f"{answer.status} {answer.body[:200]!r}"
        assert not changed, f"{case!r}: refused with {refusal} yet changed {changed}"


def json_envelope(answer: Answer, keys: set[str]) -> tuple[list[str], dict[str, Any]]:
    """The checks every JSON face's answers share: nothing escaped the application, no 5xx,
    and a JSON object with exactly ``keys``. What is wrong, and the object when nothing is
    (the face then checks what its fields must say)."""
    if answer.error is not None:
        return [f"the application raised {answer.error!r}"], {}
    if answer.status >= 500:
        return [f"answered {answer.status}: {answer.body[:300]!r}"], {}
    if answer.content_type != "application/json":
        return [f"{answer.status} as {answer.content_type!r}, not the JSON envelope"], {}
    document = answer.json()
    if not (isinstance(document, dict) and set(document) == keys):
        return [f"not the envelope: {answer.body[:300]!r}"], {}
    return [], document


# A long fuzz run split in two tests, each taking ``half(targets, part)``.
halves = pytest.mark.parametrize("part", [0, 1], ids=["first-half", "second-half"])


def other_content_type(draw: st.DrawFn, content_type: str, others: list[str]) -> str:
    """One case in five is sent with another content type than its body's."""
    return draw(st.sampled_from(others)) if draw(st.integers(0, 4)) == 0 else content_type


def half(items: list[T], part: int) -> list[T]:
    """The first (part 0) or second (part 1) half, for splitting a long fuzz run in two."""
    middle = len(items) // 2
    return items[:middle] if part == 0 else items[middle:]


@dataclass(frozen=True)
class Accounts:
    services: Services
    first_admin: FirstAdmin
    alice: NewKeyPair  # the keypair of alice@fuzz.test, a plain user


@asynccontextmanager
async def services_with_alice(database_url: str, tmp_path: Path) -> AsyncIterator[Accounts]:
    """Fresh services with a first admin and a plain user, alice@fuzz.test, with a keypair."""
    services = await open_services(settings_for(tmp_path, database_url))
    try:
        first = services.first_admin
        assert first is not None
        await services.identity.create_user(email="alice@fuzz.test", password="a-good-password")
        alice = await services.identity.issue_keypair(email="alice@fuzz.test")
        yield Accounts(services, first, alice)
    finally:
        await services.close()

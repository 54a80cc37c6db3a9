"""Batch planning (image defaults, skipped steps) and the step outcome table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.agent.batch import (
    DEFAULT_BUILD,
    DEFAULT_EXEC,
    NO_DEFAULT_EXEC,
    Step,
    outcome,
    plan,
)
from hangar.agent.models import BatchSteps, RunOutput
from hangar.agent.runtimes.base import ExitStatus, TerminationReason

EXITED = TerminationReason.EXITED


def status(code: int, reason: TerminationReason = EXITED, message: str = "") -> ExitStatus:
    return ExitStatus(code, reason, message or f"exited with code {code}")


@pytest.mark.parametrize(
    ("steps", "python", "expected"),
    [
        (BatchSteps(), True, []),
        (BatchSteps(clean="", build=None, exec=""), True, []),
        (BatchSteps(clean="*"), True, []),
        (BatchSteps(build="*"), True, [Step("build", DEFAULT_BUILD)]),
        (BatchSteps(build="*"), False, []),
        (BatchSteps(exec="*"), True, [Step("exec", DEFAULT_EXEC)]),
        (BatchSteps(exec="*"), False, [Step("exec", NO_DEFAULT_EXEC)]),
        (
            BatchSteps(clean="rm -rf out", build="make", exec="./a.out"),
            True,
            [Step("clean", "rm -rf out"), Step("build", "make"), Step("exec", "./a.out")],
        ),
        (
            BatchSteps(clean="*", build="*", exec="*"),
            True,
            [Step("build", DEFAULT_BUILD), Step("exec", DEFAULT_EXEC)],
        ),
    ],
)
def test_plan_resolves_defaults_and_skips(
    steps: BatchSteps, python: bool, expected: list[Step]
) -> None:
    assert plan(steps, python=python) == expected


def test_defaults_are_the_documented_commands() -> None:
    assert "setup.py" in DEFAULT_BUILD and "pyproject.toml" in DEFAULT_BUILD
    assert "pip install --user -e ." in DEFAULT_BUILD
    assert "python main.py" in DEFAULT_EXEC and "exit 127" in DEFAULT_EXEC


commands = st.one_of(st.none(), st.just(""), st.just("*"), st.text(min_size=1).filter(str.strip))


@given(clean=commands, build=commands, exec_=commands, python=st.booleans())
def test_plan_keeps_step_order_and_never_plans_empty_commands(
    clean: str | None, build: str | None, exec_: str | None, python: bool
) -> None:
    planned = plan(BatchSteps(clean, build, exec_), python=python)
    names = [step.name for step in planned]
    assert names == sorted(names, key=["clean", "build", "exec"].index)
    assert all(step.command and step.command != "*" for step in planned)


@pytest.mark.parametrize(
    ("step", "exit_status", "stopping", "records", "done"),
    [
        ("clean", status(0), False, [RunOutput("clean-finished", exit_code=0)], False),
        ("clean", status(1), False, [RunOutput("clean-finished", exit_code=1)], False),
        ("build", status(0), False, [RunOutput("build-finished", exit_code=0)], False),
        (
            "build",
            status(2),
            False,
            [RunOutput("build-finished", exit_code=2), RunOutput("finished", exit_code=127)],
            True,
        ),
        ("exec", status(3), False, [RunOutput("finished", exit_code=3)], True),
        ("exec", status(0), True, [RunOutput("finished", exit_code=0)], True),
        (
            "clean",
            status(130),
            True,
            [RunOutput("clean-finished", exit_code=130), RunOutput("finished", exit_code=130)],
            True,
        ),
        (
            "build",
            status(137, TerminationReason.TIMED_OUT),
            False,
            [RunOutput("exec-timeout")],
            True,
        ),
        (
            "exec",
            status(137, TerminationReason.TIMED_OUT),
            False,
            [RunOutput("exec-timeout")],
            True,
        ),
        (
            "exec",
            status(137, TerminationReason.MEMORY_LIMIT, "memory limit exceeded (1 bytes)"),
            False,
            [
                RunOutput("stderr", "\nmemory limit exceeded (1 bytes)\n"),
                RunOutput("finished", exit_code=137),
            ],
            True,
        ),
        (
            "build",
            status(137, TerminationReason.MEMORY_LIMIT, "memory limit exceeded"),
            False,
            [
                RunOutput("stderr", "\nmemory limit exceeded\n"),
                RunOutput("build-finished", exit_code=137),
                RunOutput("finished", exit_code=137),
            ],
            True,
        ),
        (
            "exec",
            status(137, TerminationReason.KILLED),
            False,
            [RunOutput("finished", exit_code=137)],
            True,
        ),
    ],
)
def test_outcome_table(
    step: str,
    exit_status: ExitStatus,
    stopping: bool,
    records: list[RunOutput],
    done: bool,
) -> None:
    assert outcome(step, exit_status, stopping) == (records, done)  # type: ignore[arg-type]

"""The executor's decisions: what a queued task runs, and how it ends."""

from __future__ import annotations

import pytest

from hangar.core.queues.executor import plan as p


def test_standalone_script_is_written_to_its_entry_point() -> None:
    code = p.code_plan({"entry_point": "train.py --epochs 2", "diff": "print(1)\n"})
    assert code.repository == ""
    assert code.script_file == "train.py"
    assert code.argv == ("train.py", "--epochs", "2")


def test_repository_code_keeps_branch_commit_and_working_dir() -> None:
    code = p.code_plan({
        "repository": "https://example.com/r.git", "branch": "main", "version_num": "abc",
        "entry_point": "-m pkg.run", "working_dir": "./src",
    })  # fmt: skip
    assert (code.branch, code.commit, code.working_dir) == ("main", "abc", "src")
    assert code.argv == ("-m", "pkg.run")
    assert code.script_file is None


@pytest.mark.parametrize(
    "script",
    [
        {},
        {"entry_point": "x.py"},  # no repository and no script text
        {"entry_point": "x.py", "diff": "print(1)", "working_dir": "../up"},
        {"entry_point": "../x.py", "diff": "print(1)"},
        {"entry_point": "'unterminated", "diff": "x"},
    ],
)
def test_tasks_that_say_nothing_runnable_are_refused(script: dict[str, str]) -> None:
    with pytest.raises(p.InvalidTaskScript):
        p.code_plan(script)


def test_requirements_from_text_or_list_without_comments_options_or_the_sdk() -> None:
    text = {"requirements": {"pip": "# comment\nclearml == 2.1.12\nnumpy>=1.0  # why\n-e .\n"}}
    assert p.requirement_lines(text, sdk_given=True) == ("numpy>=1.0",)
    assert p.requirement_lines(text, sdk_given=False) == ("clearml == 2.1.12", "numpy>=1.0")
    listed = {"requirements": {"pip": ["pandas==2.0", "Clearml[s3]"]}}
    assert p.requirement_lines(listed, sdk_given=True) == ("pandas==2.0",)
    assert p.requirement_lines({}, sdk_given=True) == ()


def test_session_name_shows_the_task_and_fits_session_names() -> None:
    name = p.session_name("my exp: lr=0.1 / ÄÖ", "0123456789abcdef0123456789abcdef")
    assert name == "my-exp-lr-0.1-0123456789ab"
    assert p.session_name("!!!", "f" * 32) == "task-" + "f" * 12
    assert len(p.session_name("x" * 300, "a" * 32)) <= 64


def test_image_and_environment_come_from_the_task() -> None:
    assert p.image_of({"image": " python:3.11 "}, "python") == "python:3.11"
    assert p.image_of({}, "python") == "python"
    env = p.environment_of({"Environment": {
        "A": {"name": "A_VAR", "value": "1"}, "B": {"name": "CLEARML_API_HOST", "value": "x"},
        "C": {"name": "not valid", "value": "2"},
    }})  # fmt: skip
    assert env == {"A_VAR": "1"}


@pytest.mark.parametrize(
    ("status", "message", "code", "succeeded", "outcome", "reason"),
    [
        ("in_progress", "", 0, None, p.Outcome.COMPLETED, "worker execution done"),
        ("in_progress", "", 3, False, p.Outcome.FAILED, "exit code 3"),
        ("in_progress", "", None, True, p.Outcome.COMPLETED, "worker execution done"),
        ("in_progress", "", None, False, p.Outcome.FAILED, "without an exit code"),
        ("in_progress", "stopping", 137, False, p.Outcome.STOPPED, "tasks.stop"),
        ("stopped", "", 0, True, p.Outcome.LEAVE, ""),
        ("queued", "", 0, True, p.Outcome.LEAVE, ""),
    ],
)
def test_how_a_task_ends(
    status: str, message: str, code: int | None, succeeded: bool | None,
    outcome: p.Outcome, reason: str,
) -> None:  # fmt: skip
    ended = p.ending(status, message, code, succeeded)
    assert ended.outcome is outcome
    assert reason in ended.reason


def test_stop_is_requested_by_message_or_by_leaving_in_progress() -> None:
    assert p.stop_requested("in_progress", "stopping")
    assert p.stop_requested("stopped", "")
    assert not p.stop_requested("in_progress", "launch by agent")

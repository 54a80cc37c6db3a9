"""The console log keeps its last ~max_bytes and survives as a file."""

from __future__ import annotations

from pathlib import Path

from hangar.agent.console import ConsoleLog
from hangar.agent.models import RunOutput


def test_append_and_read(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path / "logs" / "k.log")
    assert log.read() == "" and not log.exists()
    log.reset()
    log.append("hello ")
    log.append("world\n")
    assert log.read() == "hello world\n"
    assert (tmp_path / "logs" / "k.log").stat().st_mode & 0o777 == 0o600


def test_reset_empties_the_log(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path / "k.log")
    log.reset()
    log.append("old")
    log.reset()
    assert log.read() == ""


def test_keeps_only_the_tail(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path / "k.log", max_bytes=100)
    log.reset()
    for index in range(100):
        log.append(f"line {index:03d}\n")
    text = log.read()
    assert text.endswith("line 099\n")
    assert len(text.encode()) <= 100
    assert (tmp_path / "k.log").stat().st_size <= 150


def test_tail_does_not_start_inside_a_character(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path / "k.log", max_bytes=10)
    log.reset()
    log.append("é" * 20)
    text = log.read()
    assert text and set(text) == {"é"}


def test_record_writes_text_and_a_timeout_note(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path / "k.log")
    log.reset()
    log.record(RunOutput("stdout", "out\n"))
    log.record(RunOutput("stderr", "err\n"))
    log.record(RunOutput("finished", exit_code=0))
    assert log.read() == "out\nerr\n"
    log.record(RunOutput("exec-timeout"))
    assert "time limit exceeded" in log.read()

"""The README's examples, read from README.md itself so that the two cannot drift apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live import ROOT, LiveServer

pytestmark = pytest.mark.integration


def indented_blocks(text: str) -> list[str]:
    """The README's code blocks: runs of lines indented by four spaces, dedented."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("    ") or (current and not line.strip()):
            current.append(line[4:])
            continue
        if current:
            blocks.append(current)
        current = []
    if current:
        blocks.append(current)
    return ["\n".join(block).strip() + "\n" for block in blocks]


def readme_block(containing: str) -> str:
    found = [b for b in indented_blocks((ROOT / "README.md").read_text()) if containing in b]
    assert len(found) == 1, f"README.md has {len(found)} code blocks with {containing!r}"
    return found[0]


def test_indented_blocks_are_read_whole() -> None:
    text = "intro\n\n    a = 1\n\n    b = 2\ntext\n\n    c"
    assert indented_blocks(text) == ["a = 1\n\nb = 2\n", "c\n"]


@pytest.mark.backends("sqlite")
def test_the_readme_sdk_example_runs(live_server: LiveServer, tmp_path: Path) -> None:
    snippet = readme_block("from hangar.client import Session")
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        env=live_server.server_env(),  # the client config the server wrote, as on a laptop
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"
    assert live_server.sessions_alive() == []  # the example cleans up after itself

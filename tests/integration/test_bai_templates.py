"""Session templates with the official client: ``sesstpl`` CRUD, then the seed's example
template started through the SDK's ``create_from_template``; the template's git repository
(a local one, reached over ``file://``) is cloned inside the session at its destination,
on the template's branch and commit."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("official_client")]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "HOME": str(repo),
            "PATH": "/usr/bin:/bin",
        },
    )
    return done.stdout.strip()


@pytest.fixture
def repository() -> Iterator[tuple[Path, str]]:
    """A repository outside /tmp (sessions get a private /tmp): branch 19.09 has three
    commits; the template pins the middle one."""
    root = Path(tempfile.mkdtemp(prefix="hangar-tpl-", dir="/var/tmp"))
    repo = root / "backend.ai-agent"
    repo.mkdir()
    try:
        git(repo, "init", "-q", "-b", "main")
        for text in ("v1", "v2", "v3"):
            (repo / "README").write_text(text + "\n")
            git(repo, "add", "README")
            git(repo, "commit", "-q", "-m", text)
            if text == "v1":
                git(repo, "checkout", "-q", "-b", "19.09")
            if text == "v2":
                pinned = git(repo, "rev-parse", "HEAD")
        git(repo, "checkout", "-q", "main")
        root.chmod(0o755)
        yield repo, pinned
    finally:
        shutil.rmtree(root, ignore_errors=True)


def seed_template(repository: str, commit: str) -> str:
    """Seed 002's example (indentation restored), pointing at the local repository."""
    return textwrap.dedent(
        f"""\
        ---
        api_version: v1
        kind: taskTemplate
        metadata:
          name: template1234
          tag: example-tag
        spec:
          kernel:
            environ:
              MYCONFIG: XXX
            git:
              branch: '19.09'
              commit: {commit}
              repository: {repository}
              destinationDir: /home/work/baiagent
            image: python:3.6-ubuntu18.04
          resources:
            cpu: '2'
            mem: 4g
          sessionType: interactive
        """
    )


def ok(done: Any) -> str:
    out: str = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def test_seed_template_clones_the_repository(
    live_server: LiveServer, repository: tuple[Path, str], tmp_path: Path
) -> None:
    repo, pinned = repository
    spec = tmp_path / "session-template.yaml"
    spec.write_text(seed_template(f"file://{repo}", pinned))

    created = ok(live_server.official("sesstpl", "create", "-f", str(spec)))
    template_id = re.search(r"\b([0-9a-f]{32})\b", created)
    assert template_id, created
    tid = template_id.group(1)
    listed = ok(live_server.official("sesstpl", "list"))
    assert "template1234" in listed and tid in listed
    fetched = ok(live_server.official("sesstpl", "get", tid, "-f", "json"))
    assert json.loads(fetched)["template"]["spec"]["kernel"]["git"]["commit"] == pinned

    # The seed asks for 2 CPUs and 4 GiB; the request's resources win over the template's.
    script = textwrap.dedent(
        f"""\
        import json
        from ai.backend.client.session import Session
        with Session() as s:
            sess = s.ComputeSession.create_from_template(
                {tid!r}, name="tplsess", resources={{"cpu": 1, "mem": "512m"}})
            print(json.dumps({{"status": sess.status, "id": str(sess.id)}}))
            print(json.dumps(sess.get_info()))
        """
    )
    started = live_server.official_python(script)
    assert started.returncode == 0, started.stdout + started.stderr
    status_line, info_line = started.stdout.strip().splitlines()[-2:]
    assert json.loads(status_line)["status"] == "RUNNING", started.stdout
    info = json.loads(info_line)
    assert json.loads(info["environ"])["MYCONFIG"] == "XXX"
    assert json.loads(info["occupiedSlots"])["cpu"] == "1"

    listing = ok(live_server.official("session", "ls", "tplsess", "/home/work/baiagent"))
    assert "README" in listing and ".git" in listing
    out = tmp_path / "out"
    out.mkdir()
    ok(
        live_server.official(
            "session", "download", "tplsess", "/home/work/baiagent/README", "--dest", str(out)
        )
    )
    assert (out / "README").read_text() == "v2\n"  # the pinned commit, not the branch head

    ok(live_server.official("rm", "tplsess"))
    ok(live_server.official("sesstpl", "update", tid, "-f", str(spec)))
    ok(live_server.official("sesstpl", "delete", tid, "-f"))
    assert tid not in ok(live_server.official("sesstpl", "list"))
    missing = live_server.official("sesstpl", "get", tid)
    assert missing.returncode != 0 and "404" in missing.stdout + missing.stderr


def test_template_errors_are_clear(live_server: LiveServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("api_version: v1\nkind: somethingElse\nmetadata: {name: x}\n")
    refused = live_server.official("sesstpl", "create", "-f", str(bad))
    assert refused.returncode != 0
    assert "kind must be taskTemplate" in refused.stdout + refused.stderr
    outside = tmp_path / "outside.yaml"
    outside.write_text(
        "api_version: v1\nkind: taskTemplate\nmetadata: {name: x}\n"
        "spec:\n  kernel:\n    image: python\n    git: {repository: /r, destinationDir: /etc/x}\n"
    )
    refused = live_server.official("sesstpl", "create", "-f", str(outside))
    assert refused.returncode != 0 and "/home/work" in refused.stdout + refused.stderr
    assert "x" not in [
        t.get("name") for t in json.loads(live_server.signed("GET", "/template/session").text)
    ]

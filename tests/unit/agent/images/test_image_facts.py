"""What the agent reads from an unpacked image: paths resolved inside it, its shell, its
Python and whether query mode can run there, its users."""

from __future__ import annotations

from pathlib import Path

from hangar.agent.images import facts, runner


def _tree(root: Path, *files: str) -> Path:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    return root


def test_links_resolve_inside_the_image_never_on_the_host(tmp_path: Path) -> None:
    root = _tree(tmp_path / "img", "usr/bin/dash")
    (root / "usr/bin/dash").chmod(0o755)
    (root / "bin").symlink_to("usr/bin")
    (root / "usr/bin/sh").symlink_to("/bin/dash")  # absolute: the image's /bin, not the host's
    (root / "usr/bin/bash").symlink_to("/../../../../usr/bin/bash")  # climbs to the image root
    assert facts.find(root, "/bin/sh") == root / "usr/bin/dash"
    assert facts.find(root, "/bin/bash") is None  # the host has one; the image has not
    assert facts.image_shell(root) == "/bin/sh"
    assert facts.image_shell(_tree(tmp_path / "bare", "etc/hostname")) is None


def test_query_mode_uses_the_images_ipykernel_or_says_why_it_cannot(tmp_path: Path) -> None:
    lib = "usr/local/lib/python3.99"
    own = _tree(tmp_path / "own", f"{lib}/os.py", f"{lib}/site-packages/ipykernel/__init__.py")
    assert facts.python_version(own) == "3.99"
    assert runner.query_refusal(own) is None and runner.runner_mounts(own) == ()
    other = _tree(tmp_path / "other", f"{lib}/os.py")
    assert runner.query_refusal(other) is None  # Hangar's standard-library kernel runs it
    assert runner.runner_mounts(other) == ()  # nothing is bound in for it
    old = _tree(tmp_path / "old", "usr/lib/python3.4/os.py")
    refusal = runner.query_refusal(old) or ""
    assert "needs Python 3.6 or later" in refusal and "its Python is 3.4" in refusal
    none = _tree(tmp_path / "none", "etc/hostname")
    assert "has none" in (runner.query_refusal(none) or "")
    assert runner.query_refusal(None) is None  # the host image


def test_the_images_user_resolves_to_the_work_uid(tmp_path: Path) -> None:
    root = _tree(tmp_path / "img", "etc/passwd", "etc/group")
    (root / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:999:999::/srv:/bin/sh\nold:x:1000:1000::/:/bin/sh\n"
    )
    (root / "etc/group").write_text("root:x:0:\napp:x:999:\n")
    for user in ("app", "999", "999:999", "app:app"):
        passwd = facts.passwd_text(root, 1000, 1000, user, "/bin/sh").splitlines()
        assert passwd == ["root:x:0:0::/root:/bin/sh",
                          "work:x:1000:1000:Hangar work user:/home/work:/bin/sh",
                          "app:x:1000:1000:the image's user:/home/work:/bin/sh"]  # fmt: skip
    group = facts.group_text(root, 1000, "app").splitlines()
    assert group == ["root:x:0:", "work:x:1000:", "app:x:1000:"]
    assert facts.passwd_text(root, 1000, 1000, "root", "/bin/sh").count(":1000:") == 1
    assert facts.user_name(root, "0") is None and facts.user_name(root, "4242") is None
    assert facts.user_ids(root, "app") == facts.user_ids(root, "999:app") == (999, 999)
    assert facts.user_ids(root, "4242:5") == (4242, 5) and facts.user_ids(root, "app:7") == (999, 7)
    for nobody in ("", "root", "0", "app:0", "ghost"):
        assert facts.user_ids(root, nobody) is None
    own = facts.passwd_text(root, 999, 999, "app", "/bin/sh").splitlines()  # a userns maps it
    assert own[-2:] == ["app:x:999:999:the image's user:/home/work:/bin/sh",
                        "work:x:999:999:Hangar work user:/home/work:/bin/sh"]  # fmt: skip


def test_the_query_kernels_python_is_the_images_own(tmp_path: Path) -> None:
    """python.org images have no /usr/bin/python3 (the default interpreter): their python3
    on the image's PATH runs the query kernel."""
    root = _tree(tmp_path / "img", "usr/local/bin/python3.12", "opt/py/bin/python3")
    for program in ("usr/local/bin/python3.12", "opt/py/bin/python3"):
        (root / program).chmod(0o755)
    (root / "usr/local/bin/python3").symlink_to("python3.12")
    default = "/usr/bin/python3"
    assert runner.query_interpreter(root, default, "/usr/bin:/bin") == "/usr/local/bin/python3"
    assert runner.query_interpreter(root, default, "/opt/py/bin:/usr/bin") == "/opt/py/bin/python3"
    assert runner.query_interpreter(root, "/opt/py/bin/python3", "") == "/opt/py/bin/python3"
    assert runner.query_interpreter(None, default, "") == default  # the host's own
    bare = _tree(tmp_path / "bare", "etc/hostname")
    assert runner.query_interpreter(bare, default, "/usr/bin") == default  # fails clearly later

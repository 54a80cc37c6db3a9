"""`hangar` client commands in a subprocess against a live `hangar server`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.live import HANGAR, LiveServer

pytestmark = pytest.mark.integration


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_config_uses_the_file_written_by_the_server(live_server: LiveServer) -> None:
    info = json.loads(ok(live_server.hangar("--output", "json", "config")))
    assert info["endpoint"] == live_server.endpoint
    assert info["access_key"] == live_server.access_key
    assert info["api_version"] == "v6.20220315"


def test_run_files_in_batch_mode_and_remove(live_server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "myscript.py").write_text("import sys\nprint('args', *sys.argv[1:])\n")
    result = live_server.hangar(
        "run", "--rm", "--exec", "python myscript.py arg1 arg2",
        "python:3.6-ubuntu18.04", "./myscript.py", cwd=tmp_path,
    )  # fmt: skip
    assert "args arg1 arg2" in ok(result)
    assert live_server.sessions_alive() == []


def test_run_propagates_the_exit_code(live_server: LiveServer) -> None:
    result = live_server.hangar("run", "--rm", "--exec", "exit 3", "python")
    assert result.returncode == 3
    assert live_server.sessions_alive() == []


def test_exec_and_env_ranges_fan_out_over_all_combinations(live_server: LiveServer) -> None:
    result = live_server.hangar(
        "--output", "json", "run", "--rm", "-r", "cpu=1", "-r", "mem=256m",
        "-e", "CASENO=$X", "--env-range=X=case:1,2",
        "--exec-range=Y=range:1,3",
        "--exec", 'python -c "import os; print(os.environ[\'CASENO\'], $Y)"',
        "python", "-t", "fan",
    )  # fmt: skip
    runs = json.loads(ok(result))["sessions"]
    assert sorted(r["stdout"].strip() for r in runs) == ["1 1", "1 2", "2 1", "2 2"]
    assert {r["session"] for r in runs} == {"fan-1", "fan-2", "fan-3", "fan-4"}
    assert live_server.sessions_alive() == []


def test_documented_env_range_example_prints_four_results(live_server: LiveServer) -> None:
    result = live_server.hangar(
        "run", "-c", 'import os; print("Hello world, {}".format(os.environ["CASENO"]))',
        "-r", "cpu=1", "-r", "mem=256m", "-e", "CASENO=$X", "--env-range=X=case:1,2,3,4",
        "--rm", "lablup/python:3.6-ubuntu18.04",
    )  # fmt: skip
    if "Query mode needs an interactive kernel" in result.stdout + result.stderr:
        pytest.skip("this server build has no query mode yet")
    out = ok(result)
    for case in "1234":
        assert f"Hello world, {case}" in out


def test_start_ps_files_logs_and_rm(live_server: LiveServer, tmp_path: Path) -> None:
    ok(live_server.hangar("start", "-t", "mysession", "python"))
    listed = json.loads(ok(live_server.hangar("--output", "json", "ps", "-f", "name,status")))
    assert {"name": "mysession", "status": "RUNNING"} in listed["items"]
    assert "mysession" in ok(live_server.hangar("ps", "--id-only")) or listed["count"] == 1

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.txt").write_text("payload\n")
    ok(live_server.hangar("upload", "mysession", "sub/data.txt", cwd=tmp_path))
    files = json.loads(ok(live_server.hangar("--output", "json", "ls", "mysession", "sub")))
    assert [i["name"] for i in files["items"]] == ["data.txt"]
    ok(live_server.hangar("download", "mysession", "sub/data.txt", "--dest", str(tmp_path / "d")))
    assert (tmp_path / "d" / "data.txt").read_text() == "payload\n"
    ok(live_server.hangar("logs", "mysession"))

    removed = json.loads(ok(live_server.hangar("--output", "json", "rm", "mysession")))
    assert removed["failed"] == 0
    dead = json.loads(ok(live_server.hangar("--output", "json", "ps", "--dead", "-f", "name")))
    assert {"name": "mysession"} in dead["items"]
    again = live_server.hangar("rm", "mysession")
    assert again.returncode == 1
    assert "No such session" in again.stderr


def test_events_follow_a_session_until_it_ends(live_server: LiveServer) -> None:
    proc = subprocess.Popen(
        [str(HANGAR), "--output", "json", "events", "watched", "--until-end"],
        env=live_server.server_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        assert "Listening" in proc.stderr.readline()
        ok(live_server.hangar("start", "-t", "watched", "python"))
        ok(live_server.hangar("rm", "watched"))
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    names = [json.loads(line)["event"] for line in out.splitlines()]
    assert names[0] == "session_enqueued"
    assert "session_started" in names
    assert names[-1] == "session_terminated"


def test_a_bad_key_gets_one_clear_line(live_server: LiveServer) -> None:
    result = live_server.hangar(
        "ps", BACKEND_ACCESS_KEY=live_server.access_key, BACKEND_SECRET_KEY="wrong"
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: Authentication failed: Signature mismatch (401); check the access and secret keys."
    ]


def test_an_unreachable_endpoint_gets_one_clear_line(live_server: LiveServer) -> None:
    down = dead_endpoint()
    result = live_server.hangar("ps", BACKEND_ENDPOINT=down)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: Cannot reach the API endpoint ({down})")


def hold_all_cpus(server: LiveServer) -> None:
    """A session holding every CPU of the agent: the next one that asks for a CPU queues
    (asking for more CPUs than any agent has is refused instead)."""
    cores = len(os.sched_getaffinity(0))
    ok(server.hangar("start", "-t", "cpu-holder", "-r", f"cpu={cores}", "python"))


def test_a_session_that_never_starts_gets_one_clear_line(live_server: LiveServer) -> None:
    hold_all_cpus(live_server)
    result = live_server.hangar("run", "--max-wait", "1", "-r", "cpu=1", "--exec", "true", "python")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "did not start within --max-wait" in lines[0]
    assert "cpu" in lines[0]
    ok(live_server.hangar("rm", *[s["name"] for s in live_server.sessions_alive()]))


def test_fail_over_to_the_endpoint_that_is_up(live_server: LiveServer) -> None:
    endpoints = f"{dead_endpoint()},{live_server.endpoint}"
    for _ in range(4):  # the list is shuffled per process: both orders get exercised
        result = live_server.hangar("--output", "json", "ps", BACKEND_ENDPOINT=endpoints)
        assert json.loads(ok(result))["count"] == 0


def test_session_templates_and_start_template(live_server: LiveServer, tmp_path: Path) -> None:
    template = tmp_path / "tpl.yaml"
    template.write_text(
        "api_version: v1\nkind: taskTemplate\nmetadata:\n  name: template1234\n"
        "spec:\n  kernel:\n    image: python:3.6-ubuntu18.04\n"
    )
    created = live_server.hangar("--output", "json", "sesstpl", "create", "-f", str(template))
    if created.returncode and "Unknown URL path" in created.stderr:
        pytest.skip("this server build has no session templates yet")
    template_id = json.loads(ok(created))["id"]
    listed = json.loads(ok(live_server.hangar("--output", "json", "sesstpl", "list")))
    assert template_id in [i["id"] for i in listed["items"]]
    assert "template1234" in ok(live_server.hangar("sesstpl", "get", template_id))
    ok(live_server.hangar("start-template", template_id, "-t", "fromtpl"))
    assert [s["name"] for s in live_server.sessions_alive()] == ["fromtpl"]
    ok(live_server.hangar("rm", "fromtpl"))
    ok(live_server.hangar("sesstpl", "delete", template_id, "-y"))


def test_vfolder_files_and_mounts(live_server: LiveServer, tmp_path: Path) -> None:
    created = live_server.hangar("vfolder", "create", "mydata1", "local")
    if created.returncode and "Unknown URL path" in created.stderr:
        pytest.skip("this server build has no vfolders yet")
    ok(created)
    (tmp_path / "bigdata.csv").write_text("a,b\n1,2\n")
    ok(live_server.hangar("vfolder", "upload", "mydata1", "./bigdata.csv", cwd=tmp_path))
    files = json.loads(ok(live_server.hangar("--output", "json", "vfolder", "ls", "mydata1")))
    assert [i["name"] for i in files["items"]] == ["bigdata.csv"]
    result = live_server.hangar(
        "run", "--rm", "-m", "mydata1", "--exec", "cat /home/work/mydata1/bigdata.csv", "python"
    )
    assert ok(result).endswith("1,2\n")
    (tmp_path / "bigdata.csv").unlink()
    ok(live_server.hangar("vfolder", "download", "mydata1", "./bigdata.csv", cwd=tmp_path))
    assert (tmp_path / "bigdata.csv").read_text() == "a,b\n1,2\n"
    ok(live_server.hangar("vfolder", "rm", "-y", "mydata1", "./bigdata.csv"))
    ok(live_server.hangar("vfolder", "delete", "mydata1"))
    gone = live_server.hangar("vfolder", "info", "mydata1")
    assert gone.returncode == 1 and gone.stderr.startswith("Error: ")


def test_dotfiles(live_server: LiveServer) -> None:
    created = live_server.hangar("dotfile", "create", ".aws/config", input="[default]\n")
    if created.returncode and "Unknown URL path" in created.stderr:
        pytest.skip("this server build has no dotfiles yet")
    ok(created)
    assert ok(live_server.hangar("dotfile", "get", ".aws/config")) == "[default]\n"
    ok(live_server.hangar("dotfile", "delete", "-y", ".aws/config"))
    listed = json.loads(ok(live_server.hangar("--output", "json", "dotfile", "list")))
    assert listed["count"] == 0


def test_login_and_logout_in_session_mode(live_server: LiveServer, tmp_path: Path) -> None:
    session_mode = {"BACKEND_ENDPOINT": live_server.endpoint, "BACKEND_ENDPOINT_TYPE": "session",
                    "XDG_STATE_HOME": str(tmp_path / "state")}  # fmt: skip
    email = "admin@hangar.local"
    wrong = live_server.hangar("login", "--username", email, "--password", "nope", **session_mode)
    assert wrong.returncode == 1 and wrong.stderr.startswith("Error: Login failed")
    ok(live_server.hangar("login", "--username", email, "--password", live_server.password,
                          **session_mode))  # fmt: skip
    listed = json.loads(ok(live_server.hangar("--output", "json", "ps", **session_mode)))
    assert listed["count"] == 0
    ok(live_server.hangar("logout", **session_mode))
    after = live_server.hangar("ps", **session_mode)
    assert after.returncode == 1


def add_user(server: LiveServer, email: str) -> dict[str, str]:
    """A second user (through the local `hangar admin`), as client environment overrides."""
    made = ok(server.hangar("admin", "user", "create", "--email", email, "--password",
                            "a-good-password"))  # fmt: skip
    keys = dict(re.findall(r"(Access|Secret) key:\s*(\S+)", made))
    return {"BACKEND_ACCESS_KEY": keys["Access"], "BACKEND_SECRET_KEY": keys["Secret"]}


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_vfolder_and_admin_errors_get_one_clear_line(
    live_server: LiveServer, tmp_path: Path
) -> None:
    (tmp_path / "data.csv").write_text("x\n")
    for args in (("info", "nope"), ("ls", "nope"), ("upload", "nope", "data.csv"),
                 ("download", "nope", "data.csv"), ("invite", "nope", "a@b.c")):  # fmt: skip
        line = one_error_line(live_server.hangar("vfolder", *args, cwd=tmp_path))
        assert line == "Error: No such virtual folder. (404)", args
    assert one_error_line(live_server.hangar("vfolder", "delete", "nope")) == (
        "Error: No such vfolder. (400)"
    )
    assert one_error_line(live_server.hangar("vfolder", "create", "x", "nohost")) == (
        "Error: Unknown storage host: 'nohost' (400)"
    )
    ok(live_server.hangar("vfolder", "create", "mine", "local"))
    assert "already exists" in one_error_line(live_server.hangar("vfolder", "create", "mine"))

    bob = add_user(live_server, "bob@example.com")
    ok(live_server.hangar("vfolder", "invite", "mine", "bob@example.com", "--perm", "ro"))
    invites = json.loads(ok(live_server.hangar("--output", "json", "vfolder", "invitations",
                                               **bob)))  # fmt: skip
    ok(live_server.hangar("vfolder", "accept-invitation", invites["items"][0]["id"], **bob))
    listed = json.loads(ok(live_server.hangar("--output", "json", "vfolder", "list", **bob)))
    assert [(i["name"], i["permission"], i["is_owner"]) for i in listed["items"]] == [
        ("mine", "ro", False)
    ]
    refused = live_server.hangar("vfolder", "upload", "mine", "data.csv", cwd=tmp_path, **bob)
    assert one_error_line(refused) == (
        "Error: Permission denied (403): The folder 'mine' is read-only for you."
    )
    assert one_error_line(live_server.hangar("vfolder", "delete", "mine", **bob)) == (
        "Error: Cannot delete the vfolder that is not owned by myself. (400)"
    )
    others = live_server.hangar("admin", "sessions", "--access-key", live_server.access_key,
                                **bob)  # fmt: skip
    assert one_error_line(others) == (
        "Error: GraphQL error: You may only list the sessions of your own keypair."
    )
    wrong = live_server.hangar("vfolder", "list", **{**bob, "BACKEND_SECRET_KEY": "x"})
    assert "Authentication failed: Signature mismatch (401)" in one_error_line(wrong)
    down = live_server.hangar("vfolder", "list", BACKEND_ENDPOINT=dead_endpoint())
    assert "Cannot reach the API endpoint" in one_error_line(down)


def test_ps_formats_and_admin_sessions(live_server: LiveServer) -> None:
    ok(live_server.hangar("start", "-t", "fmt-sess", "python"))
    for command in (("ps",), ("admin", "session")):
        table = ok(live_server.hangar(*command, "--format", "id,status,cpu_using"))
        cells = [re.findall(r"[^\s│┃]+", line) for line in table.splitlines()]
        assert ["id", "status", "cpu_using"] in cells, table
        row = next(c for c in cells if "RUNNING" in c)
        assert re.fullmatch(r"[0-9a-f-]{36}", row[0]) and float(row[2]) >= 0, table
    detail = json.loads(ok(live_server.hangar("--output", "json", "admin", "sessions",
                                              "--detail")))  # fmt: skip
    (item,) = detail["items"]
    assert list(item) == [
        "id", "name", "owner", "image", "type", "status", "status_info", "last_updated",
        "result", "tag", "created_at", "occupied_slots", "used_memory", "max_used_memory",
        "cpu_using",
    ]  # fmt: skip
    assert item["name"] == "fmt-sess" and item["status"] == "RUNNING"
    assert float(item["used_memory"]) >= 0 and float(item["max_used_memory"]) >= 0
    assert float(item["cpu_using"]) >= 0
    console = ok(live_server.hangar("ps", "--detail"))
    for label in ("max_used_memory", "cpu_using", "occupied_slots", "fmt-sess"):
        assert label in console
    ok(live_server.hangar("rm", "fmt-sess"))
    dead = json.loads(ok(live_server.hangar("--output", "json", "ps", "--dead", "-f",
                                            "name,status,max_used_memory,cpu_using")))  # fmt: skip
    (gone,) = dead["items"]
    assert gone["status"] == "TERMINATED" and gone["max_used_memory"] is not None
    unknown = live_server.hangar("ps", "--format", "id,colour")
    assert unknown.returncode == 2 and "Unknown field(s) colour" in unknown.stderr


def interrupt(server: LiveServer, *args: str) -> tuple[int, str]:
    """Run `hangar ARGS`, press Ctrl+C once the session it starts is queued."""
    before = len(server.sessions_alive())
    proc = subprocess.Popen(
        [str(HANGAR), *args], env=server.server_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(server.sessions_alive()) <= before and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    return proc.returncode, err


def test_ctrl_c_while_a_session_waits_to_start(live_server: LiveServer) -> None:
    hold_all_cpus(live_server)
    code, err = interrupt(live_server, "start", "-t", "queued", "-r", "cpu=1", "python")
    assert code == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "Interrupted; session queued may still start (`hangar rm queued` cancels it)."
    )
    assert [(s["name"], s["status"]) for s in live_server.sessions_alive()] == [
        ("cpu-holder", "RUNNING"),
        ("queued", "PENDING"),
    ]
    ok(live_server.hangar("rm", "queued"))
    code, err = interrupt(live_server, "run", "--rm", "-t", "oneshot", "-r", "cpu=1",
                          "-c", "print(1)", "python")  # fmt: skip
    assert code == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "Interrupted; session oneshot was cancelled."
    assert [s["name"] for s in live_server.sessions_alive()] == ["cpu-holder"]
    ok(live_server.hangar("rm", "cpu-holder"))


def test_seed_session_template_commands(live_server: LiveServer, tmp_path: Path) -> None:
    template = (
        "---\napi_version: v1\nkind: taskTemplate\nmetadata:\n  name: template1234\n"
        "  tag: example-tag\nspec:\n  kernel:\n    environ:\n      MYCONFIG: XXX\n"
        "    image: python:3.6-ubuntu18.04\n  resources:\n    cpu: '1'\n    mem: 256m\n"
        "  sessionType: interactive\n"
    )
    (tmp_path / "session-template.yaml").write_text(template)
    made = ok(live_server.hangar("sesstpl", "create", input=template))
    template_id = re.findall(r"[0-9a-f]{32}", made)[0]
    ok(live_server.hangar("sesstpl", "update", template_id,
                          input=template.replace("XXX", "YYY")))  # fmt: skip
    assert "MYCONFIG: YYY" in ok(live_server.hangar("sesstpl", "get", template_id))
    assert "template1234" in ok(live_server.hangar("sesstpl", "list"))
    ok(live_server.hangar("start-template", template_id, "-t", "fromtpl"))
    out = ok(live_server.hangar("run", "-t", "fromtpl", "--exec", "echo $MYCONFIG",
                               "python:3.6-ubuntu18.04"))  # fmt: skip
    assert out.strip() == "YYY"
    ok(live_server.hangar("rm", "fromtpl"))
    ok(live_server.hangar("sesstpl", "delete", template_id, "-y"))
    gone = live_server.hangar("sesstpl", "get", template_id)
    assert one_error_line(gone).endswith("(404)")


def test_seed_session_commands(live_server: LiveServer) -> None:
    assert "ps" in ok(live_server.hangar("--help"))
    assert ok(live_server.hangar("ps")).strip() == "There are no matching sessions."
    out = ok(live_server.hangar("run", "--rm", "-c", 'print("hello world")',
                                "python:3.6-ubuntu18.04"))  # fmt: skip
    assert out == "hello world\n"
    enqueued = live_server.hangar(
        "--output", "json", "run", "--enqueue-only", "-t", "later", "-c", "print(1)", "python"
    )
    queued = json.loads(ok(enqueued))
    assert queued["sessions"][0]["status"] in ("PENDING", "SCHEDULED", "PREPARING", "RUNNING")
    ok(live_server.hangar("start", "-t", "second", "python"))
    ids = ok(live_server.hangar("ps", "--id-only")).split()
    assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    removed = json.loads(ok(live_server.hangar("--output", "json", "rm", *ids)))
    assert removed["failed"] == 0 and len(removed["sessions"]) == 2
    assert live_server.sessions_alive() == []


def test_a_session_that_fails_to_start_gets_one_clear_line(
    live_server: LiveServer, tmp_path: Path
) -> None:
    script = tmp_path / "bootstrap.sh"
    script.write_text("echo preparing\necho 'cannot fetch the data' >&2\nexit 3\n")
    result = live_server.hangar("start", "-t", "broken", "--bootstrap-script", str(script),
                                "python")  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Session broken did not start: error (")
    assert "cannot fetch the data" in lines[0]

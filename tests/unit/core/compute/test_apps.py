"""Service Port labels -> the apps a session offers (pure)."""

from __future__ import annotations

from hangar.core.compute.apps import parse_service_ports, session_apps
from hangar.core.compute.ports import ExposedPort, PortProtocol, PortSource

PYTHON = {
    "ai.backend.runtime-type": "python",
    "ai.backend.service-ports": "jupyter:http:8081,ttyd:http:7681,sshd:tcp:2200",
}


def test_label_entries_with_one_or_several_ports() -> None:
    parsed = parse_service_ports("jupyter:http:8081, vscode:http:[8180,8181],sshd:tcp:2200")
    assert parsed == [
        ExposedPort("jupyter", PortProtocol.HTTP, (8081,)),
        ExposedPort("vscode", PortProtocol.HTTP, (8180, 8181)),
        ExposedPort("sshd", PortProtocol.TCP, (2200,)),
    ]


def test_malformed_entries_are_skipped() -> None:
    label = "ok:tcp:22,noport:http,bad:ftp:21,zero:tcp:0,huge:tcp:70000,,:tcp:1,UP:tcp:2"
    assert [p.name for p in parse_service_ports(label)] == ["ok"]
    assert parse_service_ports("") == []


def test_python_images_offer_jupyter_terminal_and_sshd() -> None:
    apps = session_apps(PYTHON)
    assert [(a.name, a.protocol, a.ports) for a in apps] == [
        ("jupyter", "http", (8081,)),
        ("ttyd", "http", (7681,)),
        ("sshd", "tcp", (2200,)),
    ]
    assert [a.source for a in apps] == [PortSource.IMAGE] * 3


def test_every_session_has_terminal_and_sshd_and_only_runnable_apps() -> None:
    bare = session_apps({})
    assert [a.name for a in bare] == ["ttyd", "sshd"]
    other = {"ai.backend.runtime-type": "app", "ai.backend.service-ports": "jupyter:http:1,x:tcp:9"}
    assert [a.name for a in session_apps(other)] == ["ttyd", "sshd"]  # no jupyter, no "x"
    custom = {**PYTHON, "ai.backend.service-ports": "sshd:tcp:22"}
    assert [(a.name, a.ports) for a in session_apps(custom)] == [
        ("sshd", (22,)),
        ("ttyd", (7681,)),
        ("jupyter", (8081,)),
    ]

"""Task templates: the seed syntax with its aliases, checks, and the session parameters."""

from __future__ import annotations

import json

import pytest

from hangar.core.compute.models import RestartPolicy
from hangar.core.errors import InvalidRequest
from hangar.core.templates.model import bootstrap_of, load_payload, params_of

SEED = """
api_version: v1
kind: taskTemplate
metadata: {name: template1234, tag: example-tag}
spec:
  kernel:
    environ: {MYCONFIG: XXX}
    git:
      branch: '19.09'
      commit: 10daee9e328876d75e6d0fa4998d4456711730db
      repository: https://github.com/lablup/backend.ai-agent
      destinationDir: /home/work/baiagent
    image: python:3.6-ubuntu18.04
  resources: {cpu: '2', mem: 4g}
  mounts:
    hostpath-test: /home/work/hostDesktop
    test-vfolder:
  sessionType: interactive
"""


def test_seed_example_becomes_session_parameters() -> None:
    [(name, document)] = load_payload(SEED)
    params = params_of(document)
    assert name == "template1234" and params.tag == "example-tag"
    assert params.image == "python:3.6-ubuntu18.04" and params.session_type == "interactive"
    assert params.environ == {"MYCONFIG": "XXX"}
    assert params.resources == {"cpu": "2", "mem": "4g"}
    assert params.mounts == ["hostpath-test", "test-vfolder"]
    assert params.mount_map == {"hostpath-test": "/home/work/hostDesktop"}
    script = bootstrap_of(params) or ""
    assert "git clone --branch 19.09 -- https://github.com/lablup/backend.ai-agent" in script
    assert "/home/work/baiagent" in script
    assert "checkout --quiet 10daee9e328876d75e6d0fa4998d4456711730db" in script


def test_json_and_wrapped_payloads_and_aliases() -> None:
    document = {
        "apiVersion": "v1",
        "kind": "task_template",
        "metadata": {"name": "j"},
        "spec": {
            "type": "batch",
            "kernel": {"image": "python", "run": {"startupCommand": "echo hi", "bootstrap": "ls"}},
        },
    }
    [(name, _)] = load_payload(json.dumps(document))
    assert name == "j"
    wrapped = json.dumps({"session_templates": [{"name": "w", "template": document}]})
    [(name, stored)] = load_payload(wrapped)
    params = params_of(stored)
    assert name == "w" and params.session_type == "batch"
    assert params.startup_command == "echo hi" and bootstrap_of(params) == "ls\n"


def test_restart_policy_is_typed_never_by_default() -> None:
    assert params_of(load_payload(SEED)[0][1]).restart_policy is RestartPolicy.NEVER
    text = SEED.replace("sessionType: interactive", "type: batch\n  restartPolicy: On-Failure")
    assert params_of(load_payload(text)[0][1]).restart_policy is RestartPolicy.ON_FAILURE


def test_credentials_go_into_an_https_url_only() -> None:
    text = SEED.replace(
        "destinationDir: /home/work/baiagent",
        "credential: {username: me, password: 'p@ss word'}",
    )
    script = bootstrap_of(params_of(load_payload(text)[0][1])) or ""
    assert "https://me:p%40ss%20word@github.com/lablup/backend.ai-agent" in script
    assert "/home/work/backend.ai-agent" in script  # default destination: the repo's name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("kind: taskTemplate", "kind: other"), "kind must be"),
        (("api_version: v1\n", ""), "api_version is required"),
        (("image: python:3.6-ubuntu18.04", "environ2: {}"), "spec.kernel.image is required"),
        (("destinationDir: /home/work/baiagent", "destinationDir: /etc"), "/home/work"),
        (("branch: '19.09'", "branch: '--upload-pack=x'"), "not a valid git reference"),
        (("sessionType: interactive", "sessionType: daemon"), "interactive or batch"),
        (("/home/work/hostDesktop", "/home/work/.ssh"), "reserved"),
        (("repository: https", "repository: -https"), "not a repository address"),
        (("sessionType: interactive", "restartPolicy: sometimes"), "spec.restart_policy"),
    ],
)
def test_bad_templates_are_refused(change: tuple[str, str], message: str) -> None:
    text = SEED.replace(*change)
    assert text != SEED
    with pytest.raises(InvalidRequest, match=message):
        load_payload(text)


def test_not_yaml_at_all() -> None:
    with pytest.raises(InvalidRequest, match="neither YAML nor JSON"):
        load_payload("kind: [unclosed")
    with pytest.raises(InvalidRequest, match="empty"):
        load_payload("{}")

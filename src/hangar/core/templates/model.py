"""Task templates: parse and check the YAML/JSON document, and turn it into session
parameters.

The document (seed syntax, aliases accepted)::

    api_version|apiVersion: v1
    kind: taskTemplate|task_template
    metadata: {name: str, tag: str?}
    spec:
      type|session_type|sessionType: interactive|batch
      kernel:
        image: str
        architecture: str?
        environ: {str: str}?
        run: {bootstrap: str?, startup|startup_command|startupCommand: str?}?
        git: {repository: str, commit?, branch?, credential?: {username, password},
              destination_dir|destinationDir?}?
      scaling_group|scalingGroup: str?
      mounts: {vfolder: path-or-empty}?
      resources: {slot: value}?
      agent_list|agentList: [str]?
      restart_policy|restartPolicy: never|on-failure|always?  (Hangar's own; batch only)

A payload may also be ``{"session_templates": [{"name"?, "template": <document>}, ...]}``.
Unknown keys are kept. Everything here is pure; errors are InvalidRequest.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import yaml

from hangar.core.compute.models import RestartPolicy
from hangar.core.errors import InvalidRequest

HOME = "/home/work"
KINDS = frozenset({"taskTemplate", "task_template"})
SESSION_TYPES = frozenset({"interactive", "batch"})
RESERVED_MOUNTS = frozenset({".terminfo", ".jupyter", ".tmux.conf", ".ssh", ".local", ".config"})
_GIT_REF = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")


@dataclass(frozen=True, slots=True)
class GitSource:
    repository: str
    branch: str | None = None
    commit: str | None = None
    username: str | None = None
    password: str | None = None
    destination: str = ""


@dataclass(frozen=True, slots=True)
class SessionParams:
    """What a template contributes to a session, before the request's overrides."""

    image: str
    architecture: str
    session_type: str
    tag: str | None
    environ: dict[str, str]
    bootstrap: str | None
    startup_command: str | None
    scaling_group: str | None
    mounts: list[str]
    mount_map: dict[str, str]
    resources: dict[str, Any]
    git: GitSource | None
    restart_policy: RestartPolicy = RestartPolicy.NEVER


def _pick(mapping: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in mapping and mapping[name] is not None:
            return mapping[name]
    return None


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be a mapping")
    return value


def _text(value: Any, where: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidRequest(f"{where} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest(f"{where} must be a string")
    return str(value)


def load_payload(payload: str) -> list[tuple[str, dict[str, Any]]]:
    """The templates of a payload as (name, checked document) pairs."""
    try:
        data = yaml.safe_load(payload)
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"The template is neither YAML nor JSON: {exc}") from exc
    if isinstance(data, dict) and "session_templates" in data:
        entries = data["session_templates"]
        if not isinstance(entries, list) or not entries:
            raise InvalidRequest("session_templates must be a non-empty list")
        found = []
        for index, entry in enumerate(entries):
            entry = _mapping(entry, f"session_templates[{index}]")
            document = check_template(entry.get("template"))
            name = _text(entry.get("name"), "name") or document["metadata"]["name"]
            found.append((name, document))
        return found
    document = check_template(data)
    return [(document["metadata"]["name"], document)]


def check_template(data: Any) -> dict[str, Any]:
    """Validate a task template document; returns it (unknown keys kept)."""
    document = _mapping(data, "the template")
    if not document:
        raise InvalidRequest("The template is empty.")
    _text(_pick(document, "api_version", "apiVersion"), "api_version", required=True)
    kind = _pick(document, "kind")
    if kind not in KINDS:
        raise InvalidRequest("kind must be taskTemplate or task_template")
    metadata = _mapping(document.get("metadata"), "metadata")
    name = _text(metadata.get("name"), "metadata.name", required=True)
    if not name or len(name) > 128:
        raise InvalidRequest("metadata.name must be 1 to 128 characters")
    _text(metadata.get("tag"), "metadata.tag")
    params_of(document)  # the spec part is checked by building the parameters
    return document


def _git(raw: Any) -> GitSource | None:
    if raw is None:
        return None
    git = _mapping(raw, "spec.kernel.git")
    repository = _text(git.get("repository"), "spec.kernel.git.repository", required=True)
    assert repository is not None
    if not repository.strip() or repository.startswith("-"):
        raise InvalidRequest("spec.kernel.git.repository is not a repository address")
    branch = _text(git.get("branch"), "spec.kernel.git.branch")
    commit = _text(git.get("commit"), "spec.kernel.git.commit")
    for label, ref in (("branch", branch), ("commit", commit)):
        if ref is not None and (not _GIT_REF.match(ref) or ref.startswith("-")):
            raise InvalidRequest(f"spec.kernel.git.{label} is not a valid git reference")
    credential = _mapping(git.get("credential"), "spec.kernel.git.credential")
    destination = _text(
        _pick(git, "destination_dir", "destinationDir"), "spec.kernel.git.destination_dir"
    )
    return GitSource(
        repository=repository.strip(),
        branch=branch,
        commit=commit,
        username=_text(credential.get("username"), "credential.username"),
        password=_text(credential.get("password"), "credential.password"),
        destination=home_path(destination or _repo_dir(repository), "destination_dir"),
    )


def _repo_dir(repository: str) -> str:
    base = repository.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return base.removesuffix(".git") or "repository"


def home_path(path: str, what: str) -> str:
    """An absolute path under /home/work (relative paths are taken from there)."""
    joined = posixpath.normpath(posixpath.join(HOME, path))
    if joined != HOME and not joined.startswith(HOME + "/"):
        raise InvalidRequest(f"{what} must lie under {HOME}")
    if joined == HOME:
        raise InvalidRequest(f"{what} must not be {HOME} itself")
    return joined


def _mounts(raw: Any) -> tuple[list[str], dict[str, str]]:
    mounts = _mapping(raw, "spec.mounts")
    names: list[str] = []
    mapped: dict[str, str] = {}
    for name, target in mounts.items():
        name = str(name)
        names.append(name)
        if target in (None, ""):
            continue
        path = home_path(str(target), f"the mount path of {name}")
        if posixpath.relpath(path, HOME).split("/", 1)[0] in RESERVED_MOUNTS:
            raise InvalidRequest(f"The mount path of {name} is reserved: {target}")
        mapped[name] = path
    return names, mapped


def params_of(document: dict[str, Any]) -> SessionParams:
    spec = _mapping(document.get("spec"), "spec")
    kernel = _mapping(spec.get("kernel"), "spec.kernel")
    image = _text(kernel.get("image"), "spec.kernel.image", required=True)
    session_type = str(_pick(spec, "type", "session_type", "sessionType") or "interactive")
    if session_type.lower() not in SESSION_TYPES:
        raise InvalidRequest("spec.type must be interactive or batch")
    environ = _mapping(kernel.get("environ"), "spec.kernel.environ")
    run = _mapping(kernel.get("run"), "spec.kernel.run")
    resources = _mapping(spec.get("resources"), "spec.resources")
    mounts, mount_map = _mounts(spec.get("mounts"))
    metadata = _mapping(document.get("metadata"), "metadata")
    assert image is not None
    return SessionParams(
        image=image,
        architecture=str(kernel.get("architecture") or "x86_64"),
        session_type=session_type.lower(),
        tag=_text(metadata.get("tag"), "metadata.tag"),
        environ={str(k): str(v) for k, v in environ.items()},
        bootstrap=_text(run.get("bootstrap"), "spec.kernel.run.bootstrap"),
        startup_command=_text(
            _pick(run, "startup", "startup_command", "startupCommand"), "spec.kernel.run.startup"
        ),
        scaling_group=_text(_pick(spec, "scaling_group", "scalingGroup"), "spec.scaling_group"),
        mounts=mounts,
        mount_map=mount_map,
        resources=dict(resources),
        git=_git(kernel.get("git")),
        restart_policy=_restart_policy(_pick(spec, "restart_policy", "restartPolicy")),
    )


def _restart_policy(value: Any) -> RestartPolicy:
    try:
        return RestartPolicy(str(value).lower()) if value is not None else RestartPolicy.NEVER
    except ValueError as exc:
        known = ", ".join(p.value for p in RestartPolicy)
        raise InvalidRequest(f"spec.restart_policy must be one of {known}") from exc


def _with_credential(git: GitSource) -> str:
    if not git.username:
        return git.repository
    parts = urlsplit(git.repository)
    if parts.scheme not in ("http", "https"):
        return git.repository
    userinfo = quote(git.username, safe="")
    if git.password:
        userinfo += ":" + quote(git.password, safe="")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, ""))


def git_script(git: GitSource) -> str:
    """Shell lines that clone the repository (and check out the commit) in the session."""
    clone = ["git", "clone"]
    if git.branch:
        clone += ["--branch", git.branch]
    clone += ["--", _with_credential(git), git.destination]
    # A throwaway global config trusts a local repository owned by another uid than the
    # session's (git refuses "dubious ownership" otherwise); the template names it explicitly.
    lines = [
        "# clone the template's git repository",
        "set -e",
        "(",
        '  export GIT_CONFIG_GLOBAL="$(mktemp)"',
        "  trap 'rm -f \"$GIT_CONFIG_GLOBAL\"' EXIT",
        "  git config --global safe.directory '*'",
        f"  mkdir -p {shlex.quote(posixpath.dirname(git.destination))}",
        "  " + " ".join(shlex.quote(part) for part in clone),
    ]
    if git.commit:
        lines.append(
            f"  git -C {shlex.quote(git.destination)} checkout --quiet {shlex.quote(git.commit)}"
        )
    lines.append(")")
    return "\n".join(lines) + "\n"


def bootstrap_of(params: SessionParams) -> str | None:
    """The session's bootstrap script: the git clone first, then the template's own script."""
    parts = []
    if params.git is not None:
        parts.append(git_script(params.git))
    if params.bootstrap:
        parts.append(
            params.bootstrap if params.bootstrap.endswith("\n") else params.bootstrap + "\n"
        )
    return "".join(parts) or None

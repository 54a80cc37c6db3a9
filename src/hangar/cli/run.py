"""``hangar run``: start sessions, run code or files in them, print the output.

With ``--env-range`` / ``--exec-range`` / ``--build-range`` it runs one session per
combination of the range values, concurrently (at most ``--max-parallel`` at a time).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from hangar.cli import ranges, waiting
from hangar.cli.common import OUTPUT, open_session, parse_mounts, parse_pairs, print_json, run
from hangar.cli.render import console, err_console, fail
from hangar.cli.sessions import Envs, Mounts, Resources
from hangar.client import AsyncSession, BackendAPIError, BackendClientError

app = typer.Typer()

RangeOpt = Annotated[
    list[str], typer.Option(help="NAME=case:a,b | linspace:S,E,N | range:S,E,STEP")
]


@dataclass
class Job:
    """One session of a run: its name, creation arguments and what to execute."""

    name: str
    case: dict[str, str]
    create: dict[str, Any]
    mode: str
    code: str
    opts: dict[str, Any]
    live: bool
    records: list[tuple[str, str]] = field(default_factory=list)
    status: str = ""
    exit_code: int | None = None
    message: str = ""

    def emit(self, kind: str, text: str) -> None:
        if self.live and not OUTPUT.json:
            _write(kind, text)
        else:
            self.records.append((kind, text))


def _write(kind: str, text: str) -> None:
    if kind == "stdout":
        sys.stdout.write(text)
        sys.stdout.flush()
    elif kind == "stderr":
        sys.stderr.write(text)
        sys.stderr.flush()
    else:
        sys.stdout.write(f"----- output record (type: {kind}) -----\n{text}\n"
                         "----- end of record -----\n")  # fmt: skip


@app.command("run")
def run_command(
    image: Annotated[str, typer.Argument(help="Image, e.g. python:3.6-ubuntu18.04.")],
    files: Annotated[list[Path], typer.Argument(help="Files to upload and run (batch).")] = [],  # noqa: B006
    name: Annotated[str | None, typer.Option("-t", "--name", help="Session name.")] = None,
    code: Annotated[str | None, typer.Option("-c", "--code", help="Code to run (query).")] = None,
    exec_: Annotated[str | None, typer.Option("--exec", help="Shell command (batch).")] = None,
    build: Annotated[str | None, typer.Option("--build", help="Build command (batch).")] = None,
    clean: Annotated[str | None, typer.Option("--clean", help="Clean command (batch).")] = None,
    basedir: Annotated[Path | None, typer.Option("--basedir", help="Base of FILES.")] = None,
    rm: Annotated[bool, typer.Option("--rm", help="Terminate the session afterwards.")] = False,
    stats: Annotated[bool, typer.Option("-s", "--stats", help="Print statistics (--rm).")] = False,
    resources: Resources = [],  # noqa: B006
    mount: Mounts = [],  # noqa: B006
    env: Envs = [],  # noqa: B006
    env_range: RangeOpt = [],  # noqa: B006
    exec_range: RangeOpt = [],  # noqa: B006
    build_range: RangeOpt = [],  # noqa: B006
    type_: Annotated[str, typer.Option("--type", help="interactive or batch.")] = "interactive",
    enqueue_only: Annotated[bool, typer.Option("--enqueue-only")] = False,
    max_wait: Annotated[int, typer.Option("--max-wait", help="Seconds; 0 = no limit.")] = 0,
    max_parallel: Annotated[int, typer.Option("--max-parallel", min=1)] = 4,
    tag: Annotated[str | None, typer.Option("--tag")] = None,
    scaling_group: Annotated[str | None, typer.Option("--scaling-group")] = None,
    group: Annotated[str | None, typer.Option("-g", "--group")] = None,
    domain: Annotated[str | None, typer.Option("-d", "--domain")] = None,
) -> None:
    """Run code (-c) or files in a new session and print the output."""
    if code is None and not files and exec_ is None:
        if sys.stdin.isatty():
            fail("Nothing to run: give code with -c, FILES, or --exec.")
            raise typer.Exit(2)
        code = sys.stdin.read()
    try:
        cases = ranges.combinations([*env_range, *exec_range, *build_range])
    except ranges.RangeError as exc:
        fail(f"Invalid range: {exc}")
        raise typer.Exit(2) from None
    mounts, mount_map = parse_mounts(mount)
    base_create = {
        "image": image, "type_": type_, "enqueue_only": enqueue_only, "max_wait": max_wait,
        "mounts": mounts, "mount_map": mount_map, "tag": tag, "scaling_group": scaling_group,
        "group_name": group, "domain_name": domain,
        "resources": parse_pairs(resources, "resource"),
    }  # fmt: skip
    prefix = name or f"pysdk-{secrets.token_hex(5)}"
    batch = bool(files) or (code is None)
    jobs = []
    for i, case in enumerate(cases, start=1):
        envs = parse_pairs(ranges.interpolate_all(env, case), "environment variable")
        opts = {
            "clean": clean if clean is not None else ("*" if files else None),
            "build": ranges.interpolate(build, case) if build is not None else "*",
            "exec": ranges.interpolate(exec_, case) if exec_ is not None else "*",
        }
        jobs.append(
            Job(
                name=prefix if len(cases) == 1 else f"{prefix}-{i}", case=case,
                create={**base_create, "envs": envs}, mode="batch" if batch else "query",
                code="" if batch else ranges.interpolate(code or "", case),
                opts=opts if batch else {}, live=len(cases) == 1,
            )
        )  # fmt: skip
    failed = run(_run_jobs(jobs, files, basedir, rm, stats, max_parallel))
    raise typer.Exit(failed)


async def _run_jobs(
    jobs: list[Job], files: list[Path], basedir: Path | None, rm: bool, stats: bool,
    max_parallel: int,
) -> int:  # fmt: skip
    gate = asyncio.Semaphore(max_parallel)
    async with open_session() as session:

        async def one(job: Job) -> None:
            async with gate:
                await _run_job(session, job, files, basedir, rm, stats)
                if not job.live:
                    _report(job, len(jobs))

        await asyncio.gather(*(one(job) for job in jobs))
    if OUTPUT.json:
        print_json({"sessions": [_summary(job) for job in jobs]})
    elif len(jobs) > 1:
        from hangar.cli.common import show

        show("Runs", ["session", "case", "status", "exit code"],
             [(j.name, _case_text(j.case), j.status, j.exit_code) for j in jobs])  # fmt: skip
    if len(jobs) == 1:
        job = jobs[0]
        if job.status in {*waiting.FAILED, "TIMEOUT", "error", "interrupted", "exec-timeout"}:
            return 1
        return min(job.exit_code or 0, 255)
    return int(any(j.status != "finished" or j.exit_code for j in jobs))


def _case_text(case: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in case.items())


def _summary(job: Job) -> dict[str, Any]:
    text = {k: "".join(t for kind, t in job.records if kind == k) for k in ("stdout", "stderr")}
    return {
        "session": job.name, "case": job.case, "status": job.status,
        "exit_code": job.exit_code, "message": job.message, **text,
    }  # fmt: skip


def _report(job: Job, total: int) -> None:
    if OUTPUT.json:
        return
    console.rule(f"{job.name} ({_case_text(job.case)})" if job.case else job.name)
    for kind, text in job.records:
        _write(kind, text)
    if job.message:
        err_console.print(job.message)


async def _run_job(
    session: AsyncSession, job: Job, files: list[Path], basedir: Path | None, rm: bool,
    stats: bool,
) -> None:  # fmt: skip
    create = session.ComputeSession.get_or_create(name=job.name, **job.create)
    try:
        kern = await waiting.wait_for_start(
            create, job.name, quiet=not job.live or OUTPUT.json,
            probe=lambda: waiting.pending_reason(session, job.name),
        )  # fmt: skip
    except (BackendAPIError, BackendClientError) as exc:
        if job.live:
            raise
        job.status, job.message = "error", f"{job.name}: {exc}"
        return
    except asyncio.CancelledError:  # Ctrl+C while the session was starting
        await waiting.after_interrupt(session, job.name, remove=rm)
        raise
    job.status = kern.status
    if kern.status != "RUNNING":
        kern.status_info = await waiting.failure_reason(session, kern)
        job.message = waiting.status_line(kern)
        if job.live and not OUTPUT.json:
            err_console.print(job.message)
        return
    try:
        if files:
            await kern.upload(files, basedir=basedir, show_progress=job.live and not OUTPUT.json)
        await _execute(kern, job)
    finally:
        if rm:
            answer = await kern.destroy()
            if stats and job.live and not OUTPUT.json:
                from hangar.cli.sessions import _print_stats

                _print_stats((answer or {}).get("stats") or {})


async def _execute(kern: Any, job: Job) -> None:
    async with kern.stream_execute(job.code, mode=job.mode, opts=job.opts) as stream:
        async for message in stream:
            result = message.json()
            for kind, payload in result.get("console") or []:
                text = payload if isinstance(payload, str) else str(payload)
                job.emit(kind, text)
            status = result.get("status")
            if status == "waiting-input":
                line = await asyncio.to_thread(_ask, result.get("options") or {}, job.live)
                await stream.send_str(line)
            elif status in ("clean-finished", "build-finished") and result.get("exitCode"):
                job.emit("stderr", f"{status} with exit code {result['exitCode']}\n")
            elif status == "finished":
                job.status, job.exit_code = "finished", result.get("exitCode")
                if not job.exit_code and result.get("error"):  # a query cell that raised
                    job.exit_code = cell_exit_code(str(result["error"]))
                break
            elif status in ("exec-timeout", "error", "server-restarting"):
                job.status = status
                job.message = f"{job.name}: {status} {result.get('msg') or ''}".strip()
                break
    if job.status == "RUNNING":
        job.status, job.message = "interrupted", f"{job.name}: the execution stream ended early."
    if job.live and job.message and not OUTPUT.json:
        err_console.print(job.message)


def cell_exit_code(error: str) -> int:
    """The exit code of a query cell that raised ``error`` ("Name: value"), as Python's
    would be: SystemExit's own code, 1 for any other exception."""
    name, _, value = error.partition(": ")
    if name != "SystemExit":
        return 1
    value = value.strip()
    if value in ("", "None"):
        return 0
    return int(value) if value.lstrip("-").isdigit() else 1


def _ask(options: dict[str, Any], interactive: bool) -> str:
    if not interactive:
        return ""
    if options.get("is_password"):
        import getpass

        return getpass.getpass()
    try:
        return input()
    except EOFError:
        return ""

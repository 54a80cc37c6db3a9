"""The file server under /files, fed malformed requests: odd methods, escaping and broken
paths (raw and percent-encoded), broken multipart bodies with hostile part names, junk
``delete_many`` bodies, missing or wrong credentials. Whatever comes in, the answer is never
a 5xx, a refusal comes as the API's envelope, and a refused request changes neither the
database nor a stored file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.test_clearml_fuzz import (
    ALICE,
    SUPER,
    FuzzWorld,
    open_fuzz_world,
    problems,
)
from tests.support.asgi import Hang
from tests.support.fuzzing import PROFILE, FuzzRun, Snapshot, fuzz_run

SEGMENTS = [
    "..", ".", "", "%2e%2e", "%2E%2E", "..%2f..", "%00", "a%00b", "%ff", "%", "%zz", "x" * 300,
    "%E2%98%83", "delete_many", "proj A", "t." + "0" * 32, "t." + "f" * 32, "a\\b",
    "%5c..%5c", "//", "etc", "passwd", "file.csv.gz", "?download", "#frag",
]  # fmt: skip
PRINTABLE = "".join(chr(c) for c in range(33, 127))  # kept as written; the rest %-encoded
BOUNDARY = "fuzzboundary"
PART_NAMES = [
    "/../../escape.bin", "/", "", "/a/../../b", "//etc/passwd", "/ok/file.bin", "\x00",
    "/p/x." + "f" * 32 + "/models/m.bin", "/" + "n" * 5000, '/q"uote', "/a\r\nb", "/☃/x",
]  # fmt: skip


def multipart(parts: list[tuple[str, bytes]], *, broken: bool) -> bytes:
    chunks = []
    for name, data in parts:
        disposition = f'form-data; name="{name}"; filename="{name}"'
        chunks.append(
            f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n".encode("utf-8", "surrogatepass")
            + data
            + b"\r\n"
        )
    body = b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()
    return body[: len(body) // 2] if broken else body


@st.composite
def requests(draw: st.DrawFn) -> tuple[str | None, str, str, bytes, str]:
    who = draw(st.sampled_from([ALICE, ALICE, SUPER, None, "bad-token"]))
    method = draw(st.sampled_from(["GET", "HEAD", "POST", "POST", "DELETE", "PUT", "OPTIONS"]))
    segments = draw(st.lists(st.sampled_from(SEGMENTS) | st.text(max_size=6), max_size=5))
    path = "/files/" + "/".join(quote(s, safe=PRINTABLE) for s in segments)
    ctype, body = "application/octet-stream", b""
    kind = draw(st.sampled_from(["none", "multipart", "json", "bytes"]))
    if kind == "multipart":
        parts = draw(
            st.lists(st.tuples(st.sampled_from(PART_NAMES), st.binary(max_size=32)), max_size=3)
        )
        body = multipart(parts, broken=draw(st.booleans()))
        ctype = draw(
            st.sampled_from(
                [f"multipart/form-data; boundary={BOUNDARY}", "multipart/form-data",
                 "multipart/form-data; boundary=other"]
            )
        )  # fmt: skip
    elif kind == "json":
        files = draw(st.lists(st.sampled_from(PART_NAMES) | st.integers().map(str), max_size=3))
        value = draw(st.sampled_from([{"files": files}, {"files": "x"}, [1], "x", {}]))
        body, ctype = json.dumps(value).encode(), "application/json"
    elif kind == "bytes":
        body = draw(st.binary(max_size=64))
    return who, method, path, body, ctype


def test_malformed_file_requests_get_envelopes_and_change_nothing(
    database_url: str, tmp_path: Path
) -> None:
    with fuzz_run(open_fuzz_world(database_url, tmp_path)) as run:
        run.world.tokens["bad-token"] = "not.a.token"
        check(run)()


def check(run: FuzzRun[FuzzWorld]) -> Any:
    profile = settings.get_profile(PROFILE)

    @settings(profile, max_examples=max(profile.max_examples, 150))  # each costs milliseconds
    @given(request=requests())
    @example(request=(ALICE, "GET", "/files/../../etc/passwd", b"", ""))
    @example(request=(ALICE, "GET", "/files/%2e%2e/%2e%2e/etc/passwd", b"", ""))
    @example(request=(ALICE, "DELETE", "/files/", b"", ""))
    @example(request=(None, "POST", "/files/", b"", ""))
    @example(
        request=(
            ALICE, "POST", "/files/", multipart([("/ok.bin", b"1"), ("/../x", b"2")], broken=False),
            f"multipart/form-data; boundary={BOUNDARY}",
        )
    )  # fmt: skip
    def one(request: tuple[str | None, str, str, bytes, str]) -> None:
        run.runner.run(send(run.world, run.state, *request))

    return one


async def send(
    world: FuzzWorld, state: Snapshot, who: str | None, method: str, path: str,
    body: bytes, ctype: str,
) -> None:  # fmt: skip
    case = f"{who} {method} {path[:200]!r} {ctype!r} {body[:200]!r}"
    try:
        answer = await world.send(who, method, path, body, ctype)
    except Hang as exc:
        raise AssertionError(f"{case}: {exc}") from None
    assert answer.error is None, f"{case}: raised {answer.error!r}"
    assert answer.status < 500, f"{case}: {answer.status} {answer.body[:300]!r}"
    if answer.status >= 400 and method != "HEAD":
        wrong = problems(answer)
        assert not wrong, f"{case}: {'; '.join(wrong)}"
    changed = await state.advance()
    if answer.status >= 400:
        assert not changed, f"{case}: refused with {answer.status} yet changed {changed}"

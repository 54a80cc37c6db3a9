"""Every HTTP route of the Backend.AI face, fed malformed requests by a signed caller.

For each route (read from the app, so a new route is fuzzed without anyone listing it),
Hypothesis builds requests with wrong types, missing and unknown fields, huge numbers,
unicode and NULs, non-object and broken JSON, hostile YAML, broken multipart bodies,
odd headers and path parameters such as ``../``, NUL or a 5000-character id. Whatever comes
in, the answer must come back in time, must not be a 5xx, and a refusal must be a
problem+json document that left the database and the stored files exactly as they were.

The caller is alice (a plain user who owns a running session, a folder, a template, a
dotfile and an invitation, so valid references reach deep into the handlers) or the
superadmin (so admin-only routes get past their privilege check).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from hypothesis import strategies as st

from tests.support.asgi import Answer, Hang
from tests.support.fuzzing import (
    Case,
    Face,
    assert_fuzzed,
    encode,
    half,
    halves,
    json_values,
    other_content_type,
    query_of,
)
from tests.support.routes import RouteId, parameter_names, registered_routes
from tests.support.world import ALICE, SUPER, World, diff, open_world, probe

KEYS = parameter_names()
NASTY = [
    "",
    " ",
    ".",
    "..",
    "../",
    "../../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    "\x00",
    "a\x00b",
    "x" * 5000,
    "%",
    "%zz",
    "%00",
    "☃ünï©ødé",
    "\u202e\u0000\uffff",
    "\ud800",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "NaN",
    "99999999999999999999999999",
    "' OR '1'='1",
    "{}",
    "[]",
    "*",
    "/",
    "\n\r\t",
    "<script>",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "AKIAIOSFODNN7EXAMPLE",
]
# The values every route gets in every key on every run (NASTY's most distinct members).
SWEEP = ["", "../", "\x00", "x" * 5000, "%zz", "\ud800", "99999999999999999999999999",
         "1e309", "null", "☃ünï©ødé", "00000000-0000-0000-0000-000000000000", "-1"]  # fmt: skip
VALUES = json_values(KEYS, NASTY)
TEXT, VALUE, OBJECT = VALUES.text, VALUES.value, VALUES.object

BAD_JSON = [
    b"{",
    b'{"name":',
    b"[1, 2",
    b"nul",
    b"\xff\xfe\x00",
    b'{"a": 1}{"b": 2}',
    b'{"name": "\\ud800"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a": ' * 2000 + b"1" + b"}" * 2000,
]
BAD_YAML = [
    b"a: [",
    b"!!python/object/apply:os.system ['true']",
    b"a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
    b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e]\n"
    b"config: {resources: {cpu: *f}, environ: *f, mounts: *f}\npayload: *f\nfiles: *f\n",
    b"payload: &x {a: *x}",
    b": : :",
    b"\t\x00",
    b"[1, 2, 3]",
    b"just a string",
]
BAD_MULTIPART = [
    b"--b\r\nContent-Disposition: form-data; name=src; filename=../../etc/x\r\n\r\nhi\r\n--b--\r\n",
    b"--b\r\nContent-Disposition: form-data; name=src; filename=%00\r\n\r\nhi\r\n--b--\r\n",
    b"--b\r\nContent-Disposition: form-data; name=src; filename=/home/work/../x\r\n\r\n",
    b"--b\r\n\r\n\r\n",
    b"--x\r\nnot a header\r\n",
    b"garbage",
    b"--b\r\n" + b"X-Long: " + b"a" * 40000 + b"\r\n\r\nx\r\n--b--\r\n",
    b"--b\r\nContent-Disposition: form-data; name=src; filename=\r\n\r\nhi\r\n--b--\r\n",
]
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "text/yaml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=b",
    "multipart/form-data",
    "application/offset+octet-stream",
    "application/json; charset=latin-1",
    "\u00e9/\u00e9",
]
HEADERS = st.dictionaries(
    st.sampled_from(
        ["Range", "Upload-Offset", "Upload-Length", "Tus-Resumable", "Cookie", "X-Forwarded-For"]
    ),
    st.sampled_from(
        [
            "bytes=0-",
            "bytes=5-1",
            "bytes=-0",
            "bytes=99999999999999999999-",
            "-1",
            "x",
            "1" * 40,
            "1.0.0",
            "HANGAR_SESSION=\x7f",
            "",
        ]
    ),
    max_size=2,
)


def path_value(world: World, name: str) -> st.SearchStrategy[str]:
    valid = {
        "ref": [world.session_name, world.session_id, world.session_id[:8]],
        "name": [world.folder_name, world.folder_id],
        "template_id": [world.template_id],
        "inv_id": [world.invitation_id],
    }.get(name, [])
    return st.sampled_from(valid) | st.sampled_from(NASTY) | st.text(max_size=40)


@st.composite
def cases(draw: st.DrawFn, route: RouteId, world: World) -> Case:
    path = route.path
    for name in route.params:
        raw = draw(path_value(world, name))
        # Mostly percent-encoded; sometimes as the raw characters a careless client sends.
        piece = (
            encode(raw)
            if draw(st.booleans())
            else quote(raw.encode("utf-8", "surrogatepass"), safe="/.%")
        )
        path = path.replace("{" + name + "}", piece)
    query = draw(
        st.one_of(
            st.just(""),
            st.dictionaries(st.sampled_from(KEYS), TEXT | st.integers().map(str), max_size=4).map(
                query_of
            ),
            st.sampled_from(["%zz=%", "a=%00", "&&&=", "token=" + "x" * 3000, "=", "?=?"]),
        )
    )
    target = path + (f"?{query}" if query else "")
    kind = draw(st.sampled_from(["none", "object", "json", "bad", "yaml", "multipart", "bytes"]))
    content_type = "text/plain"
    body = b""
    if kind == "object":
        body = json.dumps(draw(OBJECT)).encode("utf-8", "surrogatepass")
        content_type = "application/json"
    elif kind == "json":
        body = json.dumps(draw(VALUE)).encode("utf-8", "surrogatepass")
        content_type = "application/json"
    elif kind == "bad":
        body = draw(st.sampled_from(BAD_JSON))
        content_type = "application/json"
    elif kind == "yaml":
        body = draw(st.sampled_from(BAD_YAML))
        content_type = "text/yaml"
    elif kind == "multipart":
        body = draw(st.sampled_from(BAD_MULTIPART))
        content_type = "multipart/form-data; boundary=b"
    elif kind == "bytes":
        body = draw(st.binary(max_size=64))
    content_type = other_content_type(draw, content_type, CONTENT_TYPES)
    return Case(
        who=draw(st.sampled_from([ALICE, SUPER])),
        method=route.method,
        target=target,
        body=body,
        content_type=content_type,
        headers=draw(HEADERS),
    )


def explicit_cases(route: RouteId, world: World) -> list[Case]:
    """The hostile inputs every route gets on every run, before the random ones: each broken
    body, each nasty value in every known key, in the query string and in the path."""

    def target(value: str | None = None, query: str = "") -> str:
        path = route.path
        for name in route.params:
            valid = path_value_default(world, name)
            path = path.replace("{" + name + "}", encode(valid if value is None else value))
        return path + (f"?{query}" if query else "")

    method = route.method
    found = [Case(SUPER, method, target(), body, "application/json") for body in BAD_JSON[-4:]]
    found += [Case(SUPER, method, target(), body, "text/yaml") for body in BAD_YAML[:4]]
    if "upload" in route.path:
        multipart = "multipart/form-data; boundary=b"
        found += [Case(ALICE, method, target(), b, multipart) for b in BAD_MULTIPART]
    for value in SWEEP:
        everything = {key: value for key in KEYS}
        body = json.dumps(everything).encode("utf-8", "surrogatepass")
        found.append(Case(ALICE, method, target(), body, "application/json"))
        if value in SWEEP[:6]:
            query = query_of({key: value for key in KEYS[:40]})
            found.append(Case(SUPER, method, target(query=query), b"", "text/plain"))
        if route.params:
            found.append(Case(ALICE, method, target(value), b"", "text/plain"))
    return found


def path_value_default(world: World, name: str) -> str:
    return {
        "ref": world.session_name,
        "name": world.folder_name,
        "template_id": world.template_id,
        "inv_id": world.invitation_id,
    }.get(name, "default")


def problems(answer: Answer, case: Case) -> list[str]:
    """What is wrong with this answer to a malformed request, if anything."""
    method, found = case.method, []
    if answer.error is not None:
        found.append(f"the application raised {answer.error!r}")
    if answer.status >= 500 and b"/not-implemented" not in answer.body:  # 501: never does
        found.append(f"answered {answer.status}: {answer.body[:300]!r}")
    elif answer.status >= 400 and case.target.split("?")[0] != "/admin/gql" and method != "HEAD":
        if answer.content_type != "application/problem+json":
            found.append(f"{answer.status} as {answer.content_type!r}, not problem+json")
        else:
            document = answer.json()
            if not (isinstance(document, dict) and document.get("type") and document.get("title")):
                found.append(f"problem without type/title: {document!r}")
    return found


def refused(answer: Answer, case: Case) -> bool:
    if answer.status >= 400:
        return True
    if case.target.split("?")[0] == "/admin/gql" and answer.status == 200:
        return bool(answer.json().get("errors"))
    return False


def fuzz_order(route: RouteId) -> tuple[int, RouteId]:
    """Routes that destroy or rename what the valid references point at go last."""
    destructive = route.method == "DELETE" or any(
        word in route.path for word in ("rename", "leave", "delete", "signout", "logout")
    )
    return (1 if destructive else 0, route)


HTTP_ROUTES = sorted((r for r in registered_routes() if r.method != "WS"), key=fuzz_order)


async def send(world: World, case: Case) -> Answer:
    return await world.request(
        case.who,
        case.method,
        case.target,
        case.body,
        content_type=case.content_type,
        headers=case.headers,
        deadline=15,
    )


FACE = Face(cases=cases, explicit=explicit_cases, send=send, problems=problems, refused=refused)


@halves
def test_malformed_requests_get_problems_and_change_nothing(
    database_url: str, tmp_path: Path, part: int
) -> None:
    assert_fuzzed(open_world(database_url, tmp_path), FACE, half(HTTP_ROUTES, part))


# WebSockets ----------------------------------------------------------------------------

WS_ROUTES = [r for r in registered_routes() if r.method == "WS"]
WS_FRAMES = [
    "",
    "not json",
    "[]",
    "null",
    '{"mode": 5}',
    '{"mode": "nonsense"}',
    '{"mode": "query", "code": 5}',
    '{"mode": "batch", "options": "x"}',
    '{"mode": "batch", "options": {"exec": 5, "build": [], "clean": {}}}',
    '{"type": "resize", "rows": 99999999999999999999, "cols": -1}',
    '{"type": "stdin", "chars": "%%%"}',
    "[" * 5000 + "]" * 5000,
    '{"mode": "query", "code": "\\ud800"}',
]


async def _ws_failures(world: World) -> list[str]:
    from tests.support.asgi import websocket

    failures = []
    refs = [world.session_id, world.session_name, "../", "..", "\x00", "x" * 5000, "\ud800", "%"]
    queries = ["", "app=jupyter", "app=../../x&port=99999999999999", "app=sshd&port=-1",
               "app=%00&arguments=%7B&envs=%5B", "owner_access_key=" + "A" * 3000,
               "app=ttyd&owner_access_key=%00"]  # fmt: skip
    for route in WS_ROUTES:
        for ref in refs:
            for query in queries:
                for frame in WS_FRAMES if ref == world.session_id and not query else [None]:
                    target = route.path.replace("{ref}", encode(ref)) + (
                        f"?{query}" if query else ""
                    )
                    headers = world.signers[ALICE].headers("GET", target)
                    before = await probe(world.services)
                    try:
                        answer = await websocket(
                            world.app, target, headers, first_frame=frame, listen_seconds=0.3
                        )
                    except Hang as exc:
                        failures.append(f"{target[:120]} {frame!r:.60}: {exc}")
                        continue
                    where = f"{route} {target[:120]} frame={frame!r:.60}"
                    if answer.error is not None:
                        failures.append(f"{where}: raised {answer.error!r}")
                    # A service app the fake runtime cannot start is the agent's failure
                    # (502 agent-error), not a refused request.
                    status = answer.status or 0
                    if status >= 500 and b"/agent-error" not in answer.body:
                        failures.append(f"{where}: denied with {status}")
                    if answer.close_code == 1011 and not answer.accepted:
                        failures.append(f"{where}: closed 1011 before accepting")
                    refused = not answer.accepted and answer.status is not None
                    if refused and diff(before, await probe(world.services)):
                        failures.append(f"{where}: a refusal changed state")
    return failures


async def test_malformed_websocket_requests(database_url: str, tmp_path: Path) -> None:
    async with open_world(database_url, tmp_path) as world:
        failures = await _ws_failures(world)
    assert not failures, "\n".join(failures)

"""The web UI in headless Chromium: the session list's first contentful paint.

A real ``hangar server`` (SQLite, fresh in a temporary directory) gets SESSIONS sessions of
its admin through the Backend.AI face (batch sessions with ``startsAt`` two hours away, so
they stay PENDING and cost nothing); then Debian's chromium, driven by Playwright, signs in
and loads ``/ui/sessions?status=all`` REPEAT times, each in a fresh tab: once with the
default page (the newest 100) and once with ``limit=1000`` (all of them on one page).

Figures: first contentful paint (the browser's ``first-contentful-paint`` entry, ms after
navigation start) and the HTML's time to first byte, medians. Target (issue 19): FCP of the
session list with 1,000 sessions <= 300 ms, judged on the list as a user opens it (the newest
100 of the 1,000); the all-on-one-page figure is printed beside it with its own verdict. The
page is rendered whole before its first byte (no streaming), so TTFB shows the server's
share: the core's listing of the sessions and the template.

Charts: two tasks get scalars through the ClearML face (``events.add_batch``, 10k events a
request): one series of 100k points, and one metric with 10 variants of 10k points each.
Each task page is opened REPEAT times in a fresh tab; the figure is the time from navigation
start until every chart of the page has drawn its canvas (``window.chartsDrawnAt``, set by
uPlot's first draw hook of the last chart), median. Targets (issue 19): <= 1000 ms for 100k
points in one series, <= 1500 ms for 10 series x 10k.

    .venv/bin/python bench/ui.py [--sessions 1000] [--repeat 5] [--keep] [--only sessions|charts]

Compare (``--only compare``, no target): 10 tasks of 100k points each on the compare page,
drawn as it opens (each series averaged down to 20k points by itself) and after choosing
"All" (every one of the 1M points).

Needs ``apt-get install chromium`` and ``npm ci --prefix src/hangar/ui``. Exit status: 0,
or 1 when the target is missed or a request failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402

from tests.support.bai import Signer  # noqa: E402
from tests.support.clearml import ClearmlApi  # noqa: E402
from tests.support.live import LiveServer  # noqa: E402

TARGET_MS = 300.0
ADMIN = "admin@hangar.local"
FCP = (
    "() => new Promise((done) => { new PerformanceObserver((list) => {"
    " const e = list.getEntriesByName('first-contentful-paint')[0]; if (e) done(e.startTime);"
    " }).observe({type: 'paint', buffered: true}); })"
)
TTFB = "() => performance.getEntriesByType('navigation')[0].responseStart"
CHART_TARGETS_MS = {"100k points, 1 series": 1000.0, "10 series x 10k points": 1500.0}
COMPARED, COMPARED_POINTS = 10, 100_000


def make_sessions(server: LiveServer, count: int) -> None:
    host = server.endpoint.split("://", 1)[1]
    signer = Signer(server.access_key, server.secret_key, host=host)
    with httpx.Client(base_url=server.endpoint, timeout=60) as client:
        for index in range(count):
            body = {"name": f"bench-{index:05d}", "image": "python", "type": "batch",
                    "startupCommand": "exit 0", "startsAt": "2h", "enqueueOnly": True}  # fmt: skip
            headers = signer.headers("POST", "/session", content_type="application/json")
            response = client.post("/session", json=body, headers=headers)
            if response.status_code >= 400:
                failed = f"{response.status_code} {response.text}"
                raise SystemExit(f"creating session {index}: {failed}")


def signed_in(browser: Browser, server: LiveServer) -> tuple[BrowserContext, Page]:
    """A 1280x800 browser context signed in as the administrator, and its first page."""
    context = browser.new_context(base_url=server.endpoint, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/ui/login")
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", server.password)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/")
    return context, page


def measure(browser: Browser, server: LiveServer, path: str, repeat: int) -> tuple[float, float]:
    context, page = signed_in(browser, server)
    page.goto(path)  # warm: templates compiled, connections open
    paints, firsts = [], []
    for _ in range(repeat):
        tab = context.new_page()
        tab.goto(path)
        paints.append(float(tab.evaluate(FCP)))
        firsts.append(float(tab.evaluate(TTFB)))
        rows = tab.locator("tr[data-session-id]").count()
        tab.close()
    context.close()
    print(f"  {path}: {rows} rows  FCP median {statistics.median(paints):.0f} ms "
          f"(all: {', '.join(f'{p:.0f}' for p in paints)})  TTFB median "
          f"{statistics.median(firsts):.0f} ms")  # fmt: skip
    return statistics.median(paints), statistics.median(firsts)


def add_series(api: ClearmlApi, task: str, variants: int, points: int) -> None:
    lines = [
        json.dumps({"timestamp": 1_700_000_000_000 + it * 10, "type": "training_stats_scalar",
                    "task": task, "iter": it, "metric": "loss", "variant": f"v{v}",
                    "value": 1.0 / (it + 1) + v})
        for v in range(variants) for it in range(points)
    ]  # fmt: skip
    for at in range(0, len(lines), 10_000):
        body = "\n".join(lines[at : at + 10_000]).encode()
        sent = api.raw("events.add_batch", content=body,
                       headers={"Content-Type": "application/json-lines"})  # fmt: skip
        if sent.status_code != 200:
            raise SystemExit(f"events.add_batch: {sent.status_code} {sent.text[:300]}")


def chart_tasks(server: LiveServer) -> dict[str, str]:
    """Label -> id of the tasks whose pages are measured."""
    api = ClearmlApi.of(server)
    try:
        made = {}
        shapes = ((1, 100_000), (10, 10_000))  # (series, points each), in target order
        for label, (variants, points) in zip(CHART_TARGETS_MS, shapes, strict=True):
            made[label] = api.call("tasks.create", name=label, type="training")["id"]
            add_series(api, made[label], variants, points)
        return made
    finally:
        api.close()


def measure_chart(browser: Browser, server: LiveServer, task: str, repeat: int) -> float:
    """Median ms from navigation start until the task page's charts are drawn."""
    context, page = signed_in(browser, server)
    path = f"/ui/experiments/tasks/{task}"
    page.goto(path)  # warm: templates compiled, scripts cached as a user's second visit
    page.wait_for_function("window.chartsDrawnAt !== undefined", timeout=60_000)
    drawn = []
    for _ in range(repeat):
        tab = context.new_page()
        tab.goto(path)
        tab.wait_for_function("window.chartsDrawnAt !== undefined", timeout=60_000)
        drawn.append(float(tab.evaluate("window.chartsDrawnAt")))
        tab.close()
    context.close()
    print(f"  {path}: drawn median {statistics.median(drawn):.0f} ms "
          f"(all: {', '.join(f'{d:.0f}' for d in drawn)})")  # fmt: skip
    return statistics.median(drawn)


def chart_figures(browser: Browser, server: LiveServer, repeat: int) -> bool:
    """Prints the chart figures and verdicts; True when both targets are met."""
    tasks = chart_tasks(server)
    print("task page charts, headless chromium:")
    met = True
    for label, task in tasks.items():
        figure, target = measure_chart(browser, server, task, repeat), CHART_TARGETS_MS[label]
        verdict = "met" if figure <= target else "MISSED"
        met = met and figure <= target
        print(f"target drawn <= {target:.0f} ms, {label}: {figure:.0f} ms, {verdict}")
    return met


def compare_tasks(server: LiveServer, tasks: int, points: int) -> list[str]:
    api = ClearmlApi.of(server)
    try:
        made = [api.call("tasks.create", name=f"cmp {i}", type="training")["id"]
                for i in range(tasks)]  # fmt: skip
        for task in made:
            add_series(api, task, 1, points)
        return made
    finally:
        api.close()


def compare_figures(browser: Browser, server: LiveServer, repeat: int) -> None:
    """The compare page of COMPARED tasks x COMPARED_POINTS points: drawn as it opens (the
    series averaged down by itself) and after choosing "All" (every point), medians."""
    ids = compare_tasks(server, COMPARED, COMPARED_POINTS)
    context, page = signed_in(browser, server)
    path = "/ui/experiments/compare?" + "&".join(f"ids={i}" for i in ids)
    opened, everything = [], []
    for _ in range(repeat + 1):  # the first is a warm-up
        tab = context.new_page()
        tab.goto(path)
        tab.wait_for_function("window.chartsDrawnAt !== undefined", timeout=120_000)
        opened.append(float(tab.evaluate("window.chartsDrawnAt")))
        tab.evaluate("window.chartsDrawnAt = undefined; window.askedAt = performance.now()")
        tab.select_option("#chart-tools select[name=samples]", "all")
        tab.wait_for_function("window.chartsDrawnAt !== undefined", timeout=120_000)
        everything.append(float(tab.evaluate("window.chartsDrawnAt - window.askedAt")))
        tab.close()
    context.close()
    total = COMPARED * COMPARED_POINTS
    print(f"compare {COMPARED} tasks x {COMPARED_POINTS} points, headless chromium:")
    print(
        f"  opened (at most {200_000 // COMPARED} points a series): drawn median "
        f"{statistics.median(opened[1:]):.0f} ms (all: {', '.join(f'{d:.0f}' for d in opened[1:])})"
    )
    print(f"  every point ({total}): drawn median {statistics.median(everything[1:]):.0f} ms "
          f"after choosing All (all: {', '.join(f'{d:.0f}' for d in everything[1:])})")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the server's directory")
    parser.add_argument("--only", choices=("sessions", "charts", "compare"), help="one part only")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("bench/ui.py needs Debian's chromium: apt-get install -y chromium")
    home = Path(tempfile.mkdtemp(prefix="hangar-bench-ui-"))
    server = LiveServer(home=home, database_url=f"sqlite+aiosqlite:///{home}/h.db",
                        extra_env={"HANGAR_LOG_LEVEL": "WARNING"})  # fmt: skip
    server.start()
    charts_met = True
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            if args.only == "compare":
                compare_figures(browser, server, args.repeat)
                return 0
            if args.only != "sessions":
                charts_met = chart_figures(browser, server, args.repeat)
            if args.only == "charts":
                return 0 if charts_met else 1
            make_sessions(server, args.sessions)
            print(f"session list, {args.sessions} sessions, headless chromium:")
            fcp, _ = measure(browser, server, "/ui/sessions?status=all", args.repeat)
            whole, _ = measure(browser, server, "/ui/sessions?status=all&limit=1000", args.repeat)
            browser.close()
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    for label, figure in (("the default page", fcp), (f"all {args.sessions} on one page", whole)):
        verdict = "met" if figure <= TARGET_MS else "MISSED"
        print(f"target FCP <= {TARGET_MS:.0f} ms, {label}: {figure:.0f} ms, {verdict}")
    return 0 if fcp <= TARGET_MS and charts_met else 1


if __name__ == "__main__":
    sys.exit(main())

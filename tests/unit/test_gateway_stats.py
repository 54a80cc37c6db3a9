"""The gateway's per-endpoint counts and the ``hangar_gateway_*`` series made from them when
``/metrics`` is read: counters, the in-flight gauge and the latency histogram (a bucket
holds its bound), and the endpoint object's summary."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from hangar.api.gateway import stats

EID = 990001  # a test's own endpoint: the counts are the process's


def series() -> dict[str, float]:
    found = {}
    for line in generate_latest(REGISTRY).decode().splitlines():
        if line.startswith("hangar_gateway") and f'endpoint="{EID}"' in line:
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_counts_become_the_series_and_the_summary() -> None:
    assert stats.opened(EID) == 1
    stats.answered(EID, 200, 0.001)
    stats.answered(EID, 502, 0.2)
    stats.failed(EID, "worker")
    stats.retried(EID)
    found = series()
    assert found[f'hangar_gateway_requests_total{{endpoint="{EID}",status="2xx"}}'] == 1
    assert found[f'hangar_gateway_requests_total{{endpoint="{EID}",status="5xx"}}'] == 1
    assert found[f'hangar_gateway_errors_total{{endpoint="{EID}",reason="worker"}}'] == 1
    assert found[f'hangar_gateway_retries_total{{endpoint="{EID}"}}'] == 1
    assert found[f'hangar_gateway_in_flight_requests{{endpoint="{EID}"}}'] == 1
    bucket = 'hangar_gateway_request_duration_seconds_bucket{{endpoint="{}",le="{}"}}'
    assert [found[bucket.format(EID, le)] for le in ("0.001", "0.1", "0.25", "+Inf")] == [
        1, 1, 2, 2,
    ]  # fmt: skip
    assert found[f'hangar_gateway_request_duration_seconds_count{{endpoint="{EID}"}}'] == 2
    assert stats.closed(EID) == 0
    summary = stats.snapshot(EID)
    assert (summary["requests"], summary["errors"], summary["retries"]) == (2, 1, 1)
    assert summary["inFlight"] == 0 and summary["latencyMs"]["p99"] == 200.0

"""The demo's traffic generator against a tiny loopback HTTP server (no local cloud needed)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from demo.traffic import TrafficError, TrafficGenerator, TrafficSnapshot, VersionStats, version_of


class _Handler(BaseHTTPRequestHandler):
    # Set per server: (status, body, delay_s) for the n-th request.
    respond: Callable[[int], tuple[int, bytes, float]]
    seen = 0
    seen_lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        with self.seen_lock:
            type(self).seen += 1
            n = type(self).seen
        status, body, delay_s = self.respond(n)
        if delay_s:
            time.sleep(delay_s)  # the server under test is slow on purpose
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _body(environment: str, version: str) -> bytes:
    return json.dumps({"environment": environment, "version": version}).encode()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[int], tuple[int, bytes, float]]], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(respond: Callable[[int], tuple[int, bytes, float]]) -> str:
        handler = type("Handler", (_Handler,), {"respond": staticmethod(respond), "seen": 0})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/hello"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_requests_are_counted_per_version_with_errors_charged_to_the_version_that_failed(serve):
    def respond(n: int) -> tuple[int, bytes, float]:
        if n % 2:
            return 200, _body("blue", "v1.0.0"), 0.0
        # Every other green answer is a 500 that still names its release, like the faulty handler.
        return (500 if n % 4 == 0 else 200), _body("green", "v2.0.0"), 0.0

    url = serve(respond)
    with TrafficGenerator(url, rate_per_s=200, workers=4) as gen:
        _wait_for(lambda: gen.snapshot().requests >= 40)
    snap = gen.snapshot()
    blue, green = snap.by_version["blue v1.0.0"], snap.by_version["green v2.0.0"]
    assert blue.errors_5xx == 0
    assert green.errors_5xx > 0
    assert green.errors_5xx <= green.requests
    assert abs(blue.requests - green.requests) <= 4  # one in-flight request per worker
    assert blue.p99_ms is not None and blue.p99_ms >= 0
    assert snap.failed == 0


def test_stop_joins_all_workers_within_the_request_timeout_even_when_the_server_hangs(serve):
    url = serve(lambda n: (200, _body("blue", "v1.0.0"), 3.0))
    gen = TrafficGenerator(url, rate_per_s=50, workers=4, timeout_s=0.3).start()
    _wait_for(lambda: gen.snapshot().failed >= 1)  # at least one request has timed out
    began = time.monotonic()
    assert gen.stop() is True
    assert time.monotonic() - began < 0.3 + 1.0
    assert not gen.running


def test_stop_interrupts_idle_workers_at_once(serve):
    url = serve(lambda n: (200, _body("blue", "v1.0.0"), 0.0))
    gen = TrafficGenerator(url, rate_per_s=0.2, workers=2).start()  # next send is 10 s away
    _wait_for(lambda: gen.snapshot().requests >= 1)
    began = time.monotonic()
    assert gen.stop(timeout_s=2.0) is True
    assert time.monotonic() - began < 1.0


def test_a_slow_server_does_not_slow_the_schedule_down_it_shows_as_missed_slots(serve):
    url = serve(lambda n: (200, _body("blue", "v1.0.0"), 0.1))
    with TrafficGenerator(url, rate_per_s=40, workers=1) as gen:
        # One worker, 25 ms between slots, 100 ms per answer: most slots cannot be sent.
        _wait_for(lambda: gen.snapshot().requests >= 3)
    snap = gen.snapshot()
    assert snap.missed >= snap.requests


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hello",
        "http://10.0.0.1:4566/hello",
        "https://abc123.execute-api.us-east-1.amazonaws.com/production/hello",
        "ftp://127.0.0.1/hello",
        "not a url",
    ],
)
def test_non_loopback_urls_are_refused_before_any_request(url):
    with pytest.raises(TrafficError):
        TrafficGenerator(url, rate_per_s=1)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/x", "http://127.1.2.3/x", "http://[::1]:1/x", "http://localhost/x"]
)
def test_loopback_urls_are_accepted(url):
    TrafficGenerator(url, rate_per_s=1)


@pytest.mark.parametrize(("rate", "workers"), [(0, 1), (-5, 1), (10, 0)])
def test_nonsense_rates_and_worker_counts_are_refused(rate, workers):
    with pytest.raises(TrafficError):
        TrafficGenerator("http://127.0.0.1:1/x", rate_per_s=rate, workers=workers)


def test_a_snapshot_minus_an_earlier_one_gives_the_counts_in_between():
    earlier = TrafficSnapshot(
        at=1.0, by_version={"blue v1": VersionStats(requests=10, errors_5xx=1)}, failed=1, missed=0
    )
    later = TrafficSnapshot(
        at=2.0,
        by_version={"blue v1": VersionStats(requests=15, errors_5xx=1), "green v2": VersionStats(requests=5)},
        failed=3,
        missed=2,
    )
    delta = later.since(earlier)
    assert delta.by_version == {"blue v1": VersionStats(requests=5), "green v2": VersionStats(requests=5)}
    assert (delta.failed, delta.missed, delta.requests) == (2, 2, 10)


class _FakeResponse:
    def __init__(self, payload: object) -> None:
        self._payload = payload

    def json(self) -> object:
        if isinstance(self._payload, Exception):
            raise self._payload
        return self._payload


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"environment": "green", "version": "v2.0.0"}, "green v2.0.0"),
        ({"version": "v2.0.0"}, "v2.0.0"),
        ({"message": "Internal server error"}, "unknown"),
        (["not", "an", "object"], "unknown"),
        (ValueError("not json"), "unknown"),
    ],
)
def test_the_answering_version_is_read_from_the_handler_body(payload, expected):
    assert version_of(_FakeResponse(payload)) == expected  # type: ignore[arg-type]

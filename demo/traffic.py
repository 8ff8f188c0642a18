"""Steady, open-loop HTTP traffic against a loopback URL, counted per release version.

Open loop: every worker sends on a fixed schedule whatever the server's latency, so a slow release
cannot slow the load down and hide its own problem (the coordinated-omission trap of closed-loop
generators). A send slot that comes round while the worker is still busy is counted as `missed`,
not queued, so the generator never builds a backlog it would fire in a burst later.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

UNKNOWN_VERSION = "unknown"
# Latencies kept per version for percentiles; enough for several minutes at the default rate.
_MAX_SAMPLES = 50_000
# (wall time, version, status) of the latest answers, for "when did this version first answer after t".
_MAX_ANSWERS = 200_000


class TrafficError(ValueError):
    """A generator that cannot be started as asked (bad URL, rate or worker count)."""


@dataclass(frozen=True)
class VersionStats:
    """What one release version served, as the client saw it."""

    requests: int = 0
    errors_5xx: int = 0
    errors_4xx: int = 0
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors_5xx / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class TrafficSnapshot:
    """Counters at one instant; subtract two snapshots to get what happened in between."""

    at: float
    by_version: dict[str, VersionStats]
    failed: int  # no HTTP answer at all (connection refused, timeout)
    missed: int  # send slots skipped because the worker was still busy

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.by_version.values())

    def since(self, earlier: TrafficSnapshot) -> TrafficSnapshot:
        """Counts between `earlier` and this snapshot (p99 is dropped: it does not subtract)."""
        delta: dict[str, VersionStats] = {}
        for version, now in self.by_version.items():
            before = earlier.by_version.get(version, VersionStats())
            requests_ = now.requests - before.requests
            if requests_:
                delta[version] = VersionStats(
                    requests=requests_,
                    errors_5xx=now.errors_5xx - before.errors_5xx,
                    errors_4xx=now.errors_4xx - before.errors_4xx,
                )
        return TrafficSnapshot(
            at=self.at,
            by_version=delta,
            failed=self.failed - earlier.failed,
            missed=self.missed - earlier.missed,
        )


@dataclass
class _Counters:
    requests: int = 0
    errors_5xx: int = 0
    errors_4xx: int = 0
    latencies_ms: list[float] = field(default_factory=list)


def version_of(response: requests.Response) -> str:
    """The release that answered, from the handler's JSON body (`version` and `environment` fields).

    The demo handlers put both in every body, error bodies included, so errors can be charged to the
    release that caused them. Anything else (API Gateway's own error bodies, HTML) is `unknown`.
    """
    try:
        body = response.json()
    except ValueError:
        return UNKNOWN_VERSION
    if not isinstance(body, dict):
        return UNKNOWN_VERSION
    version, environment = body.get("version"), body.get("environment")
    if version and environment:
        return f"{environment} {version}"
    return str(version or environment or UNKNOWN_VERSION)


def require_loopback(url: str) -> None:
    """Refuse anything but a loopback http(s) URL: this generator is for the local cloud only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TrafficError(f"traffic URL must be http(s)://host/..., got {url!r}")
    host = parts.hostname
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise TrafficError(
            f"refusing to send load to {host!r}: the traffic generator only targets loopback "
            "(127.0.0.0/8, ::1, localhost); use a load-testing tool you control for real endpoints"
        )


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


class TrafficGenerator:
    """`rate_per_s` requests per second, spread over `workers` threads, each with its own session.

    Use as `with TrafficGenerator(url, 50) as gen: ...` or call `start()` and `stop()`;
    `snapshot()` reads the counters at any time.
    """

    def __init__(
        self,
        url: str,
        rate_per_s: float,
        workers: int = 8,
        *,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        require_loopback(url)
        if not rate_per_s > 0:
            raise TrafficError(f"rate_per_s must be > 0, got {rate_per_s}")
        if workers < 1:
            raise TrafficError(f"workers must be >= 1, got {workers}")
        self.url = url
        self.rate_per_s = float(rate_per_s)
        self.workers = workers
        self.timeout_s = timeout_s
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counters: dict[str, _Counters] = {}
        self._failed = 0
        self._missed = 0
        self._answers: deque[tuple[float, str, int]] = deque(maxlen=_MAX_ANSWERS)
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> TrafficGenerator:
        if self._threads:
            raise TrafficError("traffic generator already started")
        start = self._clock()
        interval = self.workers / self.rate_per_s
        for index in range(self.workers):
            # Stagger the workers so together they send evenly, not in bursts of `workers`.
            first = start + index / self.rate_per_s
            thread = threading.Thread(
                target=self._run, args=(first, interval), name=f"traffic-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self, timeout_s: float | None = None) -> bool:
        """Stop sending and join the workers; True if all of them finished within the bound.

        The bound defaults to the request timeout plus a margin, since a worker can at worst be
        waiting on one in-flight request.
        """
        self._stop.set()
        deadline = self._clock() + (timeout_s if timeout_s is not None else self.timeout_s + 1.0)
        for thread in self._threads:
            thread.join(max(0.0, deadline - self._clock()))
        return not any(thread.is_alive() for thread in self._threads)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def __enter__(self) -> TrafficGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- counters ----------------------------------------------------------------------------------

    def snapshot(self) -> TrafficSnapshot:
        with self._lock:
            by_version = {
                version: VersionStats(
                    requests=c.requests,
                    errors_5xx=c.errors_5xx,
                    errors_4xx=c.errors_4xx,
                    p99_ms=_percentile(sorted(c.latencies_ms), 0.99),
                )
                for version, c in self._counters.items()
            }
            return TrafficSnapshot(
                at=time.time(), by_version=by_version, failed=self._failed, missed=self._missed
            )

    def first_seen_after(self, since: float) -> dict[str, float]:
        """When (wall time, `time.time()`) each version first answered at or after `since`."""
        with self._lock:
            answers = list(self._answers)
        seen: dict[str, float] = {}
        for at, version, _ in answers:
            if at >= since:
                seen.setdefault(version, at)
        return seen

    def answered_between(self, start: float, end: float) -> dict[str, int]:
        """How many answers each version gave between two wall times (any status)."""
        with self._lock:
            answers = list(self._answers)
        counts: dict[str, int] = {}
        for at, version, _ in answers:
            if start <= at < end:
                counts[version] = counts.get(version, 0) + 1
        return counts

    def _record(self, version: str, status: int, latency_ms: float) -> None:
        with self._lock:
            self._answers.append((time.time(), version, status))
            counters = self._counters.setdefault(version, _Counters())
            counters.requests += 1
            if status >= 500:
                counters.errors_5xx += 1
            elif status >= 400:
                counters.errors_4xx += 1
            if len(counters.latencies_ms) < _MAX_SAMPLES:
                counters.latencies_ms.append(latency_ms)

    # -- worker ------------------------------------------------------------------------------------

    def _run(self, first: float, interval: float) -> None:
        next_at = first
        with requests.Session() as session:
            while True:
                wait = next_at - self._clock()
                # Event.wait doubles as the sleep, so stop() interrupts a waiting worker at once.
                if wait > 0 and self._stop.wait(wait):
                    return
                if self._stop.is_set():
                    return
                self._send(session)
                next_at += interval
                now = self._clock()
                if now > next_at:
                    skipped = int((now - next_at) // interval) + 1
                    next_at += skipped * interval
                    with self._lock:
                        self._missed += skipped

    def _send(self, session: requests.Session) -> None:
        began = self._clock()
        try:
            response = session.get(self.url, timeout=self.timeout_s)
        except requests.RequestException:
            with self._lock:
                self._failed += 1
            return
        self._record(version_of(response), response.status_code, (self._clock() - began) * 1000.0)

"""How several metric periods of one version add up to one window."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from controller.domain import WindowStats

__all__ = ["TailLatency", "TailPair", "WindowStats", "combine", "error_rate", "paired_tails", "tail_latency"]

Percentile = Literal["p99", "p90", "p50"]


def error_rate(stats: WindowStats) -> float | None:
    """5XX share of requests; None without requests (0 % would be a claim, not a measurement)."""
    return stats.error_rate


def _weighted(values: list[tuple[float | None, int]]) -> float | None:
    known = [(v, n) for v, n in values if v is not None and n > 0]
    total = sum(n for _, n in known)
    if not total:
        return None
    return sum(v * n for v, n in known) / total


def combine(windows: Iterable[WindowStats]) -> WindowStats:
    """Sum counts over periods; percentiles as the request-weighted mean of the periods' percentiles.

    CloudWatch cannot add percentiles of different periods, and a second query per tick with one period
    spanning the whole bake would depend on how the service aligns long periods. The weighted mean follows
    a sustained regression (every period's p99 rises) and damps a single slow period; the statistical judge
    sees the periods one by one.
    """
    items = list(windows)
    return WindowStats(
        requests=sum(w.requests for w in items),
        errors_5xx=sum(w.errors_5xx for w in items),
        errors_4xx=sum(w.errors_4xx for w in items),
        p50_ms=_weighted([(w.p50_ms, w.requests) for w in items]),
        p90_ms=_weighted([(w.p90_ms, w.requests) for w in items]),
        p99_ms=_weighted([(w.p99_ms, w.requests) for w in items]),
        slow_requests=None
        if any(w.slow_requests is None for w in items)
        else sum(w.slow_requests or 0 for w in items),
    )


# CloudWatch's percentiles are nearest-rank: over n requests, pXX is the slowest one unless n * (1 - XX/100)
# >= 1. So a period's p99 is one request's latency below 100 requests, and its p90 below 10; these are where
# each percentile starts to say something about more than one request, not tuned values.
TAIL_PERCENTILES: tuple[tuple[Percentile, int], ...] = (("p99", 100), ("p90", 10), ("p50", 1))


@dataclass(frozen=True)
class TailLatency:
    """A window's tail as far as its periods can tell it: per period the highest of p99, p90, p50 that is
    not its slowest request alone (the p50 for a period of fewer than 10), request-weighted over the periods.

    A fixed gate judging a thin period's p99 judges its slowest request: one cold start of a new function,
    one lock wait, rolled healthy releases back. Where every period holds 100 requests this is the p99."""

    ms: float
    read_at: tuple[Percentile, ...]  # the percentiles read below a p99 of 100 requests; () when none was
    thin_periods: int  # periods not read at a p99 of 100 requests or more
    periods: int

    def describe(self) -> str:
        if not self.thin_periods:
            return f"p99 {self.ms:.0f} ms"
        thin = f"{self.thin_periods} of {self.periods} periods"
        if self.read_at == ("p99",):  # a source without p50/p90: the thin periods' p99 is all there is
            return f"p99 {self.ms:.0f} ms ({thin} under 100 requests, their p99 their slowest request)"
        return f"tail {self.ms:.0f} ms (the {' or '.join(self.read_at)} in {thin}: a p99 needs 100 requests)"


@dataclass(frozen=True)
class TailPair:
    """Canary and baseline read at the same percentile in each period (the one both sides' requests
    support), so a thin canary's p90 is held to the baseline's p90, not to its slowest request."""

    canary: TailLatency
    baseline_ms: float

    def describe_baseline(self) -> str:
        label = "p99" if not self.canary.thin_periods else "tail"
        return f"baseline {label} {self.baseline_ms:.0f} ms"


_ORDER: tuple[Percentile, ...] = tuple(name for name, _ in TAIL_PERCENTILES)


def _percentile_of(period: WindowStats, name: Percentile) -> float | None:
    return {"p99": period.p99_ms, "p90": period.p90_ms, "p50": period.p50_ms}[name]


def _supported(requests: int, period: WindowStats) -> tuple[Percentile, bool] | None:
    """(percentile, thin): the highest percentile `requests` support that the period reports; failing that
    (a source that reports only some percentiles) the lowest one it has, counted thin."""
    for name, needs in TAIL_PERCENTILES:
        if requests >= needs and _percentile_of(period, name) is not None:
            return name, name != "p99"
    for name in reversed(_ORDER):
        if _percentile_of(period, name) is not None:
            return name, True
    return None


@dataclass
class _Reading:
    """The periods read so far: each (value, requests), and which were read below a 100-request p99."""

    values: list[tuple[float | None, int]] = field(default_factory=list)
    read_at: set[Percentile] = field(default_factory=set)
    thin: int = 0

    def add(self, value: float, requests: int, name: Percentile, is_thin: bool) -> None:
        self.values.append((value, requests))
        if is_thin:
            self.thin += 1
            self.read_at.add(name)

    def tail(self) -> TailLatency | None:
        mean = _weighted(self.values)
        if mean is None:
            return None
        return TailLatency(mean, tuple(sorted(self.read_at, key=_ORDER.index)), self.thin, len(self.values))


def tail_latency(periods: Iterable[WindowStats]) -> TailLatency | None:
    """One version's tail over these periods (see `TailLatency`); None when no period with requests has
    a latency."""
    reading = _Reading()
    for period in periods:
        chosen = _supported(period.requests, period) if period.requests > 0 else None
        if chosen is not None:
            name, is_thin = chosen
            value = _percentile_of(period, name)
            assert value is not None
            reading.add(value, period.requests, name, is_thin)
    return reading.tail()


def _baseline_at(baseline: WindowStats, name: Percentile) -> float | None:
    """The baseline at `name`, or at the next higher percentile it reports (a laxer limit, never a
    stricter one): a baseline period without a p90 still bounds a canary's p90 by its p99."""
    for higher in reversed(_ORDER[: _ORDER.index(name) + 1]):
        value = _percentile_of(baseline, higher)
        if value is not None:
            return value
    return None


def paired_tails(periods: Iterable[tuple[WindowStats, WindowStats]]) -> TailPair | None:
    """Canary and baseline tails over (canary, baseline) periods, each period read at the percentile the
    smaller side's requests support (see `TailPair`); None without a period where both have a latency."""
    reading, baseline_values = _Reading(), list[tuple[float | None, int]]()
    for canary, baseline in periods:
        if canary.requests <= 0 or baseline.requests <= 0:
            continue
        chosen = _supported(min(canary.requests, baseline.requests), canary)
        if chosen is None:
            continue
        name, is_thin = chosen
        c, b = _percentile_of(canary, name), _baseline_at(baseline, name)
        if c is None or b is None:
            continue
        reading.add(c, canary.requests, name, is_thin)
        baseline_values.append((b, baseline.requests))
    canary_tail, baseline_ms = reading.tail(), _weighted(baseline_values)
    if canary_tail is None or baseline_ms is None:
        return None
    return TailPair(canary_tail, baseline_ms)

"""How several metric periods of one version add up to one window."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


def _percentile_of(period: WindowStats, name: Percentile) -> float | None:
    return {"p99": period.p99_ms, "p90": period.p90_ms, "p50": period.p50_ms}[name]


def _supported(requests: int, *periods: WindowStats) -> tuple[Percentile, bool] | None:
    """(percentile, thin): the highest percentile `requests` support that every period reports; failing that
    (a source that reports only some percentiles) the lowest one they all have, counted thin."""
    for name, needs in TAIL_PERCENTILES:
        if requests >= needs and all(_percentile_of(p, name) is not None for p in periods):
            return name, name != "p99"
    for name, _ in reversed(TAIL_PERCENTILES):
        if all(_percentile_of(p, name) is not None for p in periods):
            return name, True
    return None


class _Weighted:
    def __init__(self) -> None:
        self.sum, self.weight = 0.0, 0

    def add(self, value: float, weight: int) -> None:
        self.sum += value * weight
        self.weight += weight

    @property
    def mean(self) -> float:
        return self.sum / self.weight


def _tail(canary: _Weighted, read_at: set[Percentile], thin: int, periods: int) -> TailLatency:
    order = [name for name, _ in TAIL_PERCENTILES]
    return TailLatency(canary.mean, tuple(sorted(read_at, key=order.index)), thin, periods)


def tail_latency(periods: Iterable[WindowStats]) -> TailLatency | None:
    """One version's tail over these periods (see `TailLatency`); None when no period with requests has
    a latency."""
    total, read_at, thin, count = _Weighted(), set[Percentile](), 0, 0
    for period in periods:
        chosen = _supported(period.requests, period) if period.requests > 0 else None
        if chosen is None:
            continue
        name, is_thin = chosen
        value = _percentile_of(period, name)
        assert value is not None
        total.add(value, period.requests)
        count += 1
        if is_thin:
            thin += 1
            read_at.add(name)
    return _tail(total, read_at, thin, count) if total.weight else None


def _baseline_at(baseline: WindowStats, name: Percentile) -> float | None:
    """The baseline at `name`, or at the next higher percentile it reports (a laxer limit, never a
    stricter one): a baseline period without a p90 still bounds a canary's p90 by its p99."""
    order = [n for n, _ in TAIL_PERCENTILES]
    for higher in reversed(order[: order.index(name) + 1]):
        value = _percentile_of(baseline, higher)
        if value is not None:
            return value
    return None


def paired_tails(periods: Iterable[tuple[WindowStats, WindowStats]]) -> TailPair | None:
    """Canary and baseline tails over (canary, baseline) periods, each period read at the percentile the
    smaller side's requests support (see `TailPair`); None without a period where both have a latency."""
    canary_total, baseline_total = _Weighted(), _Weighted()
    read_at, thin, count = set[Percentile](), 0, 0
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
        canary_total.add(c, canary.requests)
        baseline_total.add(b, baseline.requests)
        count += 1
        if is_thin:
            thin += 1
            read_at.add(name)
    if not canary_total.weight:
        return None
    return TailPair(_tail(canary_total, read_at, thin, count), baseline_total.mean)

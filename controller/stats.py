"""How several metric periods of one version add up to one window."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controller.domain import WindowStats

__all__ = ["TailLatency", "WindowStats", "combine", "error_rate", "tail_latency"]


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
TAIL_PERCENTILES = (("p99", 100), ("p90", 10), ("p50", 1))


@dataclass(frozen=True)
class TailLatency:
    """A window's tail as far as its periods can tell it: per period the highest of p99, p90, p50 that is
    not its slowest request alone (p50 for a period of fewer than 10), request-weighted over the periods.

    A fixed gate judging a thin period's p99 judges its slowest request: one cold start of a new function,
    one lock wait, rolled healthy releases back. Where every period holds 100 requests this is the p99."""

    ms: float
    lowest: str  # the lowest percentile any period contributed: "p99", "p90" or "p50"
    thin_periods: int  # periods judged below their p99
    periods: int

    def describe(self) -> str:
        if not self.thin_periods:
            return f"p99 {self.ms:.0f} ms"
        thin = f"{self.thin_periods} of {self.periods} periods under 100 requests"
        if self.lowest == "p99":  # a source without p50/p90: the thin periods' p99 is all there is
            return f"p99 {self.ms:.0f} ms ({thin}, their p99 their slowest request)"
        judged = "p90" if self.lowest == "p90" else "p90 or p50"
        return f"tail {self.ms:.0f} ms (the {judged} in {thin})"


def _period_tail(period: WindowStats) -> tuple[float, str, bool] | None:
    """(value, percentile, thin): the highest percentile the period's requests support; failing that (a
    source that reports only some percentiles) the lowest one it has, still counted thin."""
    values = {"p99": period.p99_ms, "p90": period.p90_ms, "p50": period.p50_ms}
    for name, needs in TAIL_PERCENTILES:
        value = values[name]
        if value is not None and period.requests >= needs:
            return value, name, name != "p99"
    for name, _ in reversed(TAIL_PERCENTILES):
        value = values[name]
        if value is not None:
            return value, name, True
    return None


def tail_latency(periods: Iterable[WindowStats]) -> TailLatency | None:
    """The tail of these periods (see `TailLatency`); None when no period with requests has a latency."""
    weighted, total, thin, count, lowest = 0.0, 0, 0, 0, "p99"
    order = [name for name, _ in TAIL_PERCENTILES]
    for period in periods:
        tail = _period_tail(period)
        if tail is None or period.requests <= 0:
            continue
        value, name, is_thin = tail
        weighted += value * period.requests
        total += period.requests
        count += 1
        if is_thin:
            thin += 1
            lowest = max(lowest, name, key=order.index)
    if not total:
        return None
    return TailLatency(weighted / total, lowest, thin, count)

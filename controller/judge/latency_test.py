"""An anytime-valid latency test from the percentiles CloudWatch reports per period.

A slower release shows first in its tail: more of its requests land above the baseline's 99th (or 90th)
percentile. Each period, the share of the canary's requests above the baseline's p99 is read off the canary's
own p90 and p99 (its log-latency interpolated between them, or extrapolated past p99 with the same slope:
exact for a lognormal tail, a local approximation otherwise), which gives an estimated count of exceedances.
Under "the canary is as fast as the baseline" that count is Binomial(n, 1 %) (Binomial(n, 10 %) for the p90
reading); the test bets on it being r times that, for a few r, in an onset mixture (controller/judge/onset.py)
so a release that slows down late is caught as soon as it does. The estimate is not an exact count and the
baseline's own percentiles are samples too, so the bets are tempered by `LATENCY_TEMPER` and a period counts
only with `MIN_EXPECTED` exceedances expected under the null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

from controller.domain import WindowStats
from controller.judge.onset import OnsetMixture

_NORMAL = NormalDist()
Z90, Z99 = _NORMAL.inv_cdf(0.90), _NORMAL.inv_cdf(0.99)
RATIOS: tuple[float, ...] = (1.5, 2.0, 3.0, 5.0, 10.0)  # exceedance ratios bet on
LATENCY_TEMPER = 0.5  # the share of each period's log likelihood ratio the bet takes
MIN_EXPECTED = 1.0  # exceedances expected under the null before a period counts
TOLERANCE = 1.1  # the canary's tail may hold this many times the baseline's share above its percentiles


def share_above(value: float, p90: float | None, p99: float | None) -> float | None:
    """The share of a distribution above `value`, from its p90 and p99 (log-linear in the normal scale)."""
    if p90 is None or p99 is None or p90 <= 0 or p99 <= 0 or value <= 0:
        return None
    if p99 <= p90:
        return 0.01 if value <= p99 else 0.0
    slope = (Z99 - Z90) / (math.log(p99) - math.log(p90))
    z = Z90 + slope * (math.log(value) - math.log(p90))
    return 1 - _NORMAL.cdf(z)


@dataclass
class LatencyEProcess:
    """Evidence that the canary's tail is heavier than the baseline's, period by period."""

    first_weight: float = 0.5
    horizon: int = 60
    mixture: OnsetMixture = field(init=False)
    periods: int = 0
    last_excess: float | None = None  # the latest judged period's estimated canary/baseline exceedance ratio

    def __post_init__(self) -> None:
        self.mixture = OnsetMixture(self.first_weight, self.horizon)

    def observe(self, canary: WindowStats, baseline: WindowStats) -> None:
        logs = [0.0] * len(RATIOS)
        readings = (
            (0.01, baseline.p99_ms),
            (0.10, baseline.p90_ms),
        )
        for level, reference in readings:
            if reference is None or canary.requests * level < MIN_EXPECTED:
                continue
            share = share_above(reference, canary.p90_ms, canary.p99_ms)
            if share is None:
                continue
            null = min(0.5, level * TOLERANCE)
            count = canary.requests * share
            self.last_excess = share / level
            for j, r in enumerate(RATIOS):
                alt = min(0.99, null * r)
                # Binomial log likelihood ratio of the estimated count, half per reading (two readings).
                value = count * math.log(alt / null) + (canary.requests - count) * math.log(
                    (1 - alt) / (1 - null)
                )
                logs[j] += 0.5 * LATENCY_TEMPER * value
        self.mixture.add(logs)
        self.periods += 1

    def log_e_value(self) -> float:
        return self.mixture.log_e_value([1 / len(RATIOS)] * len(RATIOS))

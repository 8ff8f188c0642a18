"""How much a service's per-period error rate varies beyond binomial noise, from its own counts.

A period's errors are modelled as Poisson with rate n * lambda * Z, Z a mean-1 gamma factor with squared
coefficient of variation c2 (negative binomial counts). c2 is estimated by the method of moments from a
series of periods, each compared with the rate of the periods around it (so a daily swing in the rate is not
mistaken for per-period noise), and used at an upper confidence bound: overestimating the noise only costs
power, underestimating it costs false rollbacks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Periods on each side that set a period's local rate: +-15 minutes at one-minute periods.
NEIGHBOURS = 15
# The standard errors above the estimate that c2 is used at.
UPPER_SDS = 2.0
# c2 used at least (a CV of 5 %), whatever the history says, and when there is none.
DISPERSION_FLOOR = 0.0025


@dataclass(frozen=True)
class Dispersion:
    c2: float  # squared CV used by the tests (an upper bound, at least the floor)
    estimate: float  # the point estimate
    periods: int  # periods it rests on


def estimate_c2(periods: Sequence[tuple[int, int]], floor: float) -> Dispersion:
    """c2 from (requests, errors) per period, oldest first; `floor` when there is too little to tell."""
    ns = [n for n, _ in periods if n > 0]
    ks = [k for n, k in periods if n > 0]
    size = len(ns)
    if size < 2 * NEIGHBOURS + 1:
        return Dispersion(floor, floor, size)
    cum_n, cum_k = [0] * (size + 1), [0] * (size + 1)
    total_n = total_k = 0
    for i in range(size):
        total_n += ns[i]
        total_k += ks[i]
        cum_n[i + 1], cum_k[i + 1] = total_n, total_k
    tops: list[float] = []
    bottoms: list[float] = []
    for i in range(size):
        lo = i - NEIGHBOURS if i > NEIGHBOURS else 0
        hi = i + NEIGHBOURS + 1 if i + NEIGHBOURS + 1 < size else size
        n = ns[i]
        around_n = cum_n[hi] - cum_n[lo] - n
        if around_n <= 0:
            continue
        expected = n * (cum_k[hi] - cum_k[lo] - ks[i]) / around_n
        if expected <= 0:
            continue
        # (k - expected)^2 counts the period's own Poisson variance and the neighbours' estimate's too.
        gap = ks[i] - expected
        tops.append(gap * gap - expected * (1 + n / around_n))
        bottoms.append(expected * expected)
    denominator = sum(bottoms)
    if not tops or denominator <= 0:
        return Dispersion(floor, floor, size)
    c2 = sum(tops) / denominator
    spread = math.sqrt(sum((t - c2 * d) ** 2 for t, d in zip(tops, bottoms, strict=True))) / denominator
    return Dispersion(max(floor, c2 + UPPER_SDS * spread), max(0.0, c2), len(tops))

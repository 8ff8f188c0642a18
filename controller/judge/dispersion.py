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


@dataclass(frozen=True)
class Dispersion:
    c2: float  # squared CV used by the tests (an upper bound, at least the floor)
    estimate: float  # the point estimate
    periods: int  # periods it rests on


def estimate_c2(periods: Sequence[tuple[int, int]], floor: float) -> Dispersion:
    """c2 from (requests, errors) per period, oldest first; `floor` when there is too little to tell."""
    usable = [(n, k) for n, k in periods if n > 0]
    if len(usable) < 2 * NEIGHBOURS + 1:
        return Dispersion(floor, floor, len(usable))
    ns = [n for n, _ in usable]
    ks = [k for _, k in usable]
    cum_n = [0]
    cum_k = [0]
    for n, k in usable:
        cum_n.append(cum_n[-1] + n)
        cum_k.append(cum_k[-1] + k)
    terms: list[tuple[float, float]] = []
    for i in range(len(usable)):
        lo, hi = max(0, i - NEIGHBOURS), min(len(usable), i + NEIGHBOURS + 1)
        around_n = cum_n[hi] - cum_n[lo] - ns[i]
        around_k = cum_k[hi] - cum_k[lo] - ks[i]
        if around_n <= 0:
            continue
        expected = ns[i] * around_k / around_n
        if expected <= 0:
            continue
        # (k - expected)^2 counts the period's own Poisson variance and the neighbours' estimate's too.
        noise = expected * (1 + ns[i] / around_n)
        terms.append(((ks[i] - expected) ** 2 - noise, expected * expected))
    denominator = sum(d for _, d in terms)
    if not terms or denominator <= 0:
        return Dispersion(floor, floor, len(usable))
    c2 = sum(t for t, _ in terms) / denominator
    spread = math.sqrt(sum((t - c2 * d) ** 2 for t, d in terms)) / denominator
    return Dispersion(max(floor, c2 + UPPER_SDS * spread), max(0.0, c2), len(terms))

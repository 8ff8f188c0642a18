"""How much any test could detect in a family cell: a ceiling to read the detection goals against.

An error regression in a run is caught at best by an oracle that knows the onset, both versions' rates,
sends every request after the onset to the canary and decides once, at the 30-minute horizon, with the
most powerful test at the false-rollback rate alpha (Neyman-Pearson: reject when the canary's error count
is high). Its power is a ceiling for every policy here, ours and the peers: they must also learn the
baseline's rate, share traffic, watch continuously and promote healthy releases in time. Where the
ceiling is under a detection goal, no policy can meet that goal in that cell; the report says so, apart
from the misses that a better judge could avoid.

The same oracle bounds the false-rollback goal from below, read against the strong detection goal: in an
identical cell, a test that would catch a 2x regression 99 % of the time must roll back at least the
floor's share of identical releases. Where that floor is over 1 %, the two goals cannot both hold.

The counts are taken as Poisson at the canary's exact per-minute rates, with and without the regression
(the oracle knows even the cell's overdispersion, which only makes the ceiling higher than any policy
could reach).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from bench.family_streams import FamilyWorld

# The regression the false-rollback floor is read against: the strong detection goal's smallest ratio, and
# that goal's detection rate.
FLOOR_RATIO = 2.0
DETECT_STRONG = 0.99
EXACT_UP_TO = 400.0  # expected errors under the null: exact Poisson tails below, a normal approximation above


def poisson_upper_tail(k: int, mean: float) -> float:
    """P(K >= k) for K ~ Poisson(mean)."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if mean > 10 * EXACT_UP_TO:
        return 1 - NormalDist(mean, math.sqrt(mean)).cdf(k - 0.5)
    log_pmf = -mean  # log P(K = 0)
    below = 0.0
    for j in range(k):
        below += math.exp(log_pmf)
        log_pmf += math.log(mean) - math.log(j + 1)
    return max(0.0, 1.0 - below)


def oracle_power(null_errors: float, alternative_errors: float, alpha: float) -> float:
    """The power of the most powerful one-sided count test at level alpha (not randomised)."""
    if alternative_errors <= null_errors:
        return 0.0
    if null_errors > EXACT_UP_TO:
        z = NormalDist().inv_cdf(1 - alpha)
        critical = math.ceil(null_errors + z * math.sqrt(null_errors) + 0.5)
    else:
        critical = _exact_critical(null_errors, alpha)
    return poisson_upper_tail(critical, alternative_errors)


def _exact_critical(mean: float, alpha: float) -> int:
    """The smallest count c >= max(1, ceil(mean)) with P(K >= c) <= alpha, K ~ Poisson(mean): the tails of
    `poisson_upper_tail`, to the same bits, summed once upwards rather than from zero for every c."""
    critical = max(1, math.ceil(mean))
    if mean <= 0:
        return critical
    below, log_pmf = 0.0, -mean  # below: P(K < j), log_pmf: log P(K = j), for j = 0, 1, ...
    for j in range(critical):
        below += math.exp(log_pmf)
        log_pmf += math.log(mean) - math.log(j + 1)
    while max(0.0, 1.0 - below) > alpha:
        below += math.exp(log_pmf)
        log_pmf += math.log(mean) - math.log(critical + 1)
        critical += 1
    return critical


def smallest_miss_free_rollbacks(null_errors: float, alternative_errors: float, beta: float) -> float:
    """The fewest false rollbacks of a count test that misses the alternative at most beta of the time:
    it must roll back from the largest count c with P(K < c | alternative) <= beta, so at least
    P(K >= c | null) of identical releases."""
    if alternative_errors > EXACT_UP_TO:
        z = NormalDist().inv_cdf(1 - beta)
        critical = math.floor(alternative_errors - z * math.sqrt(alternative_errors) + 0.5)
        return poisson_upper_tail(max(critical, 0), null_errors)
    critical, below, log_pmf = 0, 0.0, -alternative_errors  # below = P(K < critical + 1 | alternative)
    while True:
        below += math.exp(log_pmf)  # now P(K <= critical)
        if below > beta:
            break
        critical += 1
        log_pmf += math.log(alternative_errors) - math.log(critical)
    return poisson_upper_tail(critical, null_errors)


def false_rollback_floor(world: FamilyWorld, beta: float, ratio: float = FLOOR_RATIO) -> float | None:
    """Identical cells: the mean over runs of the fewest false rollbacks any test can have while catching
    a `ratio`x regression from the first request with probability 1 - beta, deciding at the horizon with
    every request on the canary (None for regression cells)."""
    if world.cell.kind != "identical":
        return None
    null = (world.volume * world.canary_rate).sum(axis=1)
    floors = [smallest_miss_free_rollbacks(n, n * ratio, beta) for n in null.tolist()]
    return float(np.mean(floors))


def detection_ceiling(world: FamilyWorld, alpha: float) -> float | None:
    """The mean over the cell's runs of the oracle's power (error regressions only; None otherwise)."""
    if world.cell.kind != "errors":
        return None
    exposure = world.volume * world.active  # requests served after the onset
    worse = 1 + (world.draws.ratio[:, None] - 1) * world.active
    alternative = (exposure * world.canary_rate).sum(axis=1)
    null = (exposure * world.canary_rate / worse).sum(axis=1)  # the same canary, without the regression
    powers = [oracle_power(n, a, alpha) for n, a in zip(null.tolist(), alternative.tolist(), strict=True)]
    return float(np.mean(powers))

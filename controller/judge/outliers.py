"""Rare outlying periods: how often the history shows one, and the cap that keeps the fail test valid there.

Every test models a period's error count as negative binomial, its c2 read off the spread of the history's
periods (controller/judge/dispersion.py). Noise whose spread comes in rare spikes (a retry storm, a
dependency's blip: one minute in fifty at five times the usual rate, the other minutes steady) has that
variance and a far heavier tail. One spike on the canary then reads as a regression at odds of thousands to
one in a single period, and the e-process's expectation under the null is no longer 1: healthy releases
are rolled back by a minute no regression caused.

The history shows such periods. `read_outliers` counts those the negative binomial puts beyond
OUTLIER_TAIL around their neighbourhood's rate, at the c2 of the other periods (the spikes left out of
their own yardstick, so they do not hide each other), and takes their share at an upper bound: `share`.

The history's fail test then bets with Huber's censored likelihood ratio (Huber 1965, "A robust version of the
probability ratio test"). If a share eps of periods may follow any distribution at all and the rest follow
the model, a period's ratio pi capped at c, min(pi, c), has expectation at most 1 whenever
E0[(pi - c)+] >= eps (c - 1) / (1 - eps): the mass the cap takes from the model's periods pays for the most
an outlier can add. `log_cap` solves that for the period's null and alternative counts. Capped ratios still
multiply into a nonnegative supermartingale, so Ville's bound alpha holds as before. A cap is at least 1, so
a period that favours the null is never touched, and without outliers in the history nothing is capped.

The count pass test meets the same spikes from the other side: a spike on a healthy canary is strong
evidence for "a regression", and one could undo ten minutes of pass evidence and run the release out of
time. Its period ratio rho (cleaner canary against the regression) is held at or above Huber's lower clip
c', times (1 - eps): (1 - eps) max(rho, c') has expectation 1 under the regression when
(1 - eps) [P1(rho > c') + c' P0(rho <= c')] = 1 (`log_floor`), and a regression's own spikes only lower
rho, so beta holds as before.

The split test is left as it is: given the period's total errors, a spike is what made that total, so no
share of contaminated periods holds per total; behind a trusted history it carries 5 % of the fail bet.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from controller.judge.dispersion import NEIGHBOURS, estimate_c2, neighbourhood_sums
from controller.judge.emath import nb_log_pmf, nb_upper_tail

# A period whose count the model puts beyond this upper tail is an outlier. A day of 1,440 periods that
# follows the model shows one in about 70 days.
OUTLIER_TAIL = 1e-5
# The share of outlying periods is used at this many standard errors above the count seen (as c2 is).
OUTLIER_SDS = 2.0
# Counts this many model standard deviations above their expected value are checked exactly; the model's
# upper tail is heavier than the normal's, so nothing under it can be beyond OUTLIER_TAIL.
SCREEN_SDS = 4.0
# Times the outliers are looked for again, each with c2 from the periods not yet flagged.
REFLAG_ROUNDS = 3


@dataclass(frozen=True)
class Outliers:
    """The history's outlying periods: how many, the share of periods the history tests take to be anything
    (an upper bound; 0 when there are none, and then nothing is censored), and c2 (its upper bound, as
    dispersion.estimate_c2 gives it) of the periods left, the model the rest follow (None without any)."""

    periods: int
    share: float
    bulk_c2: float | None = None


NO_OUTLIERS = Outliers(0, 0.0)


def read_outliers(
    periods: Sequence[tuple[int, int]], floor: float, estimate: float | None = None
) -> Outliers:
    """The outlying periods among (requests, errors) per period, oldest first. `estimate`: the point
    estimate of c2 over all of them, where the caller has it (estimate_c2's, read again otherwise)."""
    ns = [n for n, _ in periods if n > 0]
    ks = [k for n, k in periods if n > 0]
    if len(ns) < 2 * NEIGHBOURS + 1:
        return NO_OUTLIERS
    around_ns, around_ks = neighbourhood_sums(ns, NEIGHBOURS), neighbourhood_sums(ks, NEIGHBOURS)
    # The rate each period is held to: its neighbours', one error lent so that a lone error among
    # error-free neighbours is not an outlier.
    expected = [
        n * (ak + 1) / an if an > 0 else math.inf for n, an, ak in zip(ns, around_ns, around_ks, strict=True)
    ]
    flagged: set[int] = set()
    c2 = estimate_c2(periods, floor).estimate if estimate is None else estimate
    bulk = None
    for _ in range(REFLAG_ROUNDS):
        now = {i for i, (k, mean) in enumerate(zip(ks, expected, strict=True)) if _outlying(k, mean, c2)}
        if now == flagged:
            break
        flagged = now
        kept = [(n, k) for i, (n, k) in enumerate(zip(ns, ks, strict=True)) if i not in flagged]
        bulk = estimate_c2(kept, floor)
        c2 = bulk.estimate
    if not flagged or bulk is None:
        return NO_OUTLIERS
    count = len(flagged)
    share = (count + 1 + OUTLIER_SDS * math.sqrt(count + 1)) / len(ns)
    return Outliers(count, min(share, 0.5), bulk.c2)


def _outlying(k: int, mean: float, c2: float) -> bool:
    if not math.isfinite(mean) or k <= mean + SCREEN_SDS * math.sqrt(mean + c2 * mean * mean):
        return False
    return nb_upper_tail(k, mean, c2, enough=OUTLIER_TAIL) < OUTLIER_TAIL


def _walk(mean0: float, mean1: float, c2: float) -> Iterator[tuple[float, float, float]]:
    """Counts upwards from under both means' mass to past both (the mass outside negligible): for each,
    log NB(x; mean1) / NB(x; mean0) and the upper tails P0(X >= x), P1(X >= x)."""
    low, high = min(mean0, mean1), max(mean0, mean1)
    x = max(0, math.floor(low - 6 * math.sqrt(low + c2 * low * low)))
    last = high + 60 * math.sqrt(high + c2 * high * high) + 100
    tail0 = tail1 = 1.0
    while x <= last:
        log_p0, log_p1 = nb_log_pmf(x, mean0, c2), nb_log_pmf(x, mean1, c2)
        yield log_p1 - log_p0, tail0, tail1
        tail0 = max(0.0, tail0 - math.exp(log_p0))
        tail1 = max(0.0, tail1 - math.exp(log_p1))
        x += 1


def log_cap(mean0: float, multiple: float, c2: float, share: float) -> float:
    """log c: the cap on a period's likelihood ratio NB(x; multiple * mean0) / NB(x; mean0) that keeps its
    expectation at most 1 when a `share` of periods may be anything (see the module docstring).

    On c in [pi(x - 1), pi(x)) the ratio exceeds c from x on, so E0[(pi - c)+] = T1(x) - c T0(x) with T the
    upper tails P(X >= x); the equation then gives c = (T1(x) + e) / (T0(x) + e), e = share / (1 - share),
    and the root is the one that falls in its own interval (the left side falls in c, the right rises)."""
    if share <= 0 or multiple <= 1 or mean0 <= 0:
        return math.inf
    e = share / (1 - share)
    below, log_c = -math.inf, 0.0
    for at, tail0, tail1 in _walk(mean0, multiple * mean0, c2):
        log_c = math.log((tail1 + e) / (tail0 + e))
        if below <= log_c < at:
            return log_c
        below = at
    return log_c


def capped(log_lr: float, mean0: float, multiple: float, c2: float, share: float) -> float:
    """A period's log likelihood ratio for `multiple` x mean0 against mean0, capped at `log_cap`."""
    if share <= 0 or log_lr <= 0:
        return log_lr
    return min(log_lr, log_cap(mean0, multiple, c2, share))


def log_floor(mean0: float, ratio: float, c2: float, share: float) -> float:
    """log c': the floor under a pass test's period ratio rho = NB(x; ratio * mean0) / NB(x; mean0), ratio
    under 1 (a cleaner canary against the regression), such that (1 - share) max(rho, c') keeps expectation
    at most 1 under the regression: Huber's lower clip, (1 - share) [P1(rho > c') + c' P0(rho <= c')] = 1.

    rho falls in x, so on c' in (rho(x), rho(x - 1)] the ratio is at most c' from x on, and c' = (1 / (1 -
    share) - P1(X < x)) / P0(X >= x)."""
    if share <= 0 or ratio >= 1 or mean0 <= 0:
        return -math.inf
    target = 1 / (1 - share)
    above = math.inf
    for at, tail0, tail1 in _walk(mean0, ratio * mean0, c2):
        floor = (target - (1 - tail1)) / tail0 if tail0 > 0 else math.inf
        if floor > 0 and at < math.log(floor) <= above:
            return math.log(floor)
        above = at
    return above


def floored(log_lr: float, mean0: float, ratio: float, c2: float, share: float) -> float:
    """A pass test's period log ratio for `ratio` x mean0 against mean0 (the regression), held at or above
    `log_floor` and paid for by log(1 - share): one spike on a healthy canary costs the pass test at most
    the floor."""
    if share <= 0:
        return log_lr
    if log_lr < 0:
        log_lr = max(log_lr, log_floor(mean0, ratio, c2, share))
    return log_lr + math.log1p(-share)

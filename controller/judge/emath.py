"""The arithmetic the judge's tests share: likelihood ratios, rate bounds, mixtures of e-values."""

from __future__ import annotations

import math


def log_ratio_factor(x: int, e: int, w: float, psi: float, psi_ref: float) -> float:
    """log of P(x of e errors on the canary | psi) / P(same | psi_ref) for canary request share w."""
    return x * (math.log(psi) - math.log(psi_ref)) - e * (
        math.log(w * psi + 1 - w) - math.log(w * psi_ref + 1 - w)
    )


def split_log_lr(x: int, e: int, w: float, psi: float, psi_ref: float, c2: float) -> float:
    """`log_ratio_factor` with each period's canary share of errors overdispersed by c2 (equal at c2 = 0)."""
    if c2 <= 0:
        return log_ratio_factor(x, e, w, psi, psi_ref)

    def share(ratio: float) -> float:
        return w * ratio / (w * ratio + 1 - w)

    return bb_log_lr(x, e, share(psi), share(psi_ref), c2)


def upper_rate(requests: int, errors: int) -> float | None:
    """A ~97.5 % upper bound of a rate seen as `errors` in `requests` (Poisson approximation, +1 smoothed);
    None without requests."""
    if requests <= 0:
        return None
    return min(1.0, (errors + 1 + 2.0 * math.sqrt(errors + 1)) / requests)


def rate_bound(errors: int, requests: int, sds: float) -> float:
    """A rough upper (sds > 0) or lower (sds < 0) bound on a rate; only sizes margins, never the guarantee."""
    if requests <= 0:
        return math.nan
    return max(0.0, errors + 1 + sds * math.sqrt(errors + 1)) / requests


def poisson_bound(errors: int, requests: int, z: float) -> float:
    """Upper (z > 0) or lower (z < 0) confidence bound on a rate from a count (Wilson-Hilferty)."""
    if requests <= 0:
        return math.nan
    k = errors + 1 if z > 0 else errors
    if k <= 0:
        return 0.0
    return max(0.0, k * (1 - 1 / (9 * k) + z / (3 * math.sqrt(k))) ** 3) / requests


def log_mix(weights: tuple[float, ...] | list[float], logs: list[float]) -> float:
    """log of sum(w * exp(l)), stable, for weights > 0 (an empty or all -inf mixture is -inf)."""
    live = [(w, lg) for w, lg in zip(weights, logs, strict=True) if w > 0 and lg > -math.inf]
    if not live:
        return -math.inf
    top = max(lg for _, lg in live)
    return top + math.log(sum(w * math.exp(lg - top) for w, lg in live))


def log_add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)), stable: `log_mix` of two terms at weight 1, to the same bits, without building
    its lists (the late-onset bets add two terms per bet and period, millions of times in the benchmark)."""
    if a == -math.inf:
        return b + 0.0  # as log_mix's top + log(1): -0.0 comes back as 0.0
    if b == -math.inf:
        return a + 0.0
    top, low = (a, b) if a >= b else (b, a)
    return top + math.log(1.0 + math.exp(low - top))


# -- overdispersed likelihoods ---------------------------------------------------------------------------
#
# Per-minute error rates vary more than binomial noise (bursts, a dependency's hiccups). Modelled as a
# mean-1 gamma factor on each period's rate with squared coefficient of variation c2 (shape k = 1 / c2), a
# period's error count is negative binomial (gamma-Poisson); given a period's total errors, the canary's
# share of them is beta-binomial. Betting with these likelihood ratios keeps each e-process's expectation
# at 1 under the overdispersed null; the binomial and Poisson ones it generalises exceed 1 there, which is
# how bursty errors roll good releases back. c2 = 0 gives back the Poisson and binomial ratios.

BINOMIAL_PRECISION = 1e7  # a beta-binomial this precise is a binomial, to float precision


def nb_log_lr(x: int, expected: float, ratio: float, c2: float) -> float:
    """log NB(x; ratio * expected, k) / NB(x; expected, k), k = 1 / c2 (Poisson when c2 = 0)."""
    if expected <= 0:
        return 0.0
    if c2 <= 0:
        return x * math.log(ratio) - (ratio - 1) * expected
    k = 1.0 / c2
    shrink = math.log(k + expected) - math.log(k + ratio * expected)
    return k * shrink + x * (math.log(ratio) + shrink)


def nb_log_pmf(x: int, mean: float, c2: float) -> float:
    """log P(X = x) for a negative binomial of this mean and squared CV c2 of its gamma (Poisson at 0)."""
    if mean <= 0:
        return 0.0 if x == 0 else -math.inf
    if c2 <= 0:
        return x * math.log(mean) - mean - math.lgamma(x + 1)
    k = 1.0 / c2
    return (
        math.lgamma(x + k)
        - math.lgamma(k)
        - math.lgamma(x + 1)
        + k * (math.log(k) - math.log(k + mean))
        + x * (math.log(mean) - math.log(k + mean))
    )


def nb_upper_tail(x: int, mean: float, c2: float, enough: float = math.inf) -> float:
    """P(X >= x), summed upwards from x until the terms no longer count (x above the mean: they fall), or
    until the sum reaches `enough` (then it is at least that)."""
    total, term_at = 0.0, x
    while True:
        term = math.exp(nb_log_pmf(term_at, mean, c2))
        total += term
        if total >= enough or term <= total * 1e-12 or term_at - x > 100_000:
            return total
        term_at += 1


def split_precision(q: float, c2: float) -> float:
    """The beta precision of a period's canary share of errors when both versions' rates carry independent
    gamma noise of squared CV c2: Var(share) ~ q^2 (1 - q)^2 2 c2 = q (1 - q) / (precision + 1)."""
    if c2 <= 0 or q <= 0 or q >= 1:
        return BINOMIAL_PRECISION
    return min(BINOMIAL_PRECISION, max(1.0, 1.0 / (2.0 * c2 * q * (1.0 - q)) - 1.0))


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _log_bb(x: int, s: int, q: float, precision: float) -> float:
    """log of the beta-binomial probability of x of s (without the binomial coefficient)."""
    if precision >= BINOMIAL_PRECISION:
        return (x * math.log(q) if x else 0.0) + ((s - x) * math.log1p(-q) if s - x else 0.0)
    a, b = q * precision, (1 - q) * precision
    return _log_beta(x + a, s - x + b) - _log_beta(a, b)


def bb_log_lr(x: int, s: int, q1: float, q0: float, c2: float) -> float:
    """log of P(x of s errors on the canary | share q1) / P(same | q0), overdispersed by c2."""
    if s <= 0:
        return 0.0
    return _log_bb(x, s, q1, split_precision(q1, c2)) - _log_bb(x, s, q0, split_precision(q0, c2))


def bb_log_lrs(x: int, s: int, alternatives: list[float], q0: float, c2: float) -> list[float]:
    """`bb_log_lr` for several alternative shares at once (the null's term computed once)."""
    if s <= 0:
        return [0.0] * len(alternatives)
    base = _log_bb(x, s, q0, split_precision(q0, c2))
    return [_log_bb(x, s, q1, split_precision(q1, c2)) - base for q1 in alternatives]

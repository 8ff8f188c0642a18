"""Common random numbers and the per-period samplers of the judge benchmark.

Every policy in a scenario reads the same pre-drawn uniforms and normals, one set per (run, period), and
turns them into counts by inverse transform at whatever share the policy chose. Two policies at the same
share therefore see identical periods, and a policy at a larger share sees more requests from the same
draw (counts are monotone in the share). Nothing simulates single requests: per-period counts are drawn
directly (Poisson requests, binomial errors) and latency percentiles from the sampling distribution of an
order statistic, so a whole benchmark runs in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PERIOD_S = 60.0  # CloudWatch's API Gateway metric granularity
EXACT_BELOW = 60.0  # mean above which counts use a skew-corrected normal approximation
PERCENTILES = (0.50, 0.90, 0.99)


def norm_ppf(u: np.ndarray) -> np.ndarray:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    u = np.clip(np.asarray(u, dtype=float), 1e-300, 1 - 1e-16)
    out = np.empty_like(u)
    low = u < 0.02425
    high = u > 1 - 0.02425
    mid = ~(low | high)
    q = np.sqrt(-2 * np.log(u[low]))
    out[low] = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
        (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
    )
    q = np.sqrt(-2 * np.log(1 - u[high]))
    out[high] = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
        (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
    )
    q = u[mid] - 0.5
    r = q * q
    out[mid] = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
    return out


def _normal_count(u: np.ndarray, mean: np.ndarray, var: np.ndarray, skew: np.ndarray) -> np.ndarray:
    """Cornish-Fisher (skew-corrected) normal quantile, rounded to a count >= 0."""
    z = norm_ppf(u)
    value = mean + np.sqrt(var) * (z + skew * (z * z - 1) / 6)
    return np.maximum(0, np.floor(value + 0.5)).astype(np.int64)


def _exact_count(u: np.ndarray, first: np.ndarray, ratio) -> np.ndarray:
    """Smallest k with CDF(k) >= u, walking the pmf by its ratio p(k+1)/p(k) = ratio(k)."""
    out = np.zeros(u.shape, dtype=np.int64)
    pmf = first.copy()
    cdf = pmf.copy()
    k = 0
    open_ = cdf < u
    while open_.any() and k < 10_000:
        out += open_
        pmf = pmf * ratio(k)
        cdf = cdf + pmf
        k += 1
        open_ = open_ & (cdf < u) & (pmf > 0)
    return out


def poisson_inv(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson(lam) counts from uniforms, exact for small means."""
    u = np.asarray(u, dtype=float)
    lam = np.broadcast_to(np.asarray(lam, dtype=float), u.shape)
    out = np.zeros(u.shape, dtype=np.int64)
    small = (lam > 0) & (lam <= EXACT_BELOW)
    if small.any():
        lam_s = lam[small]
        out[small] = _exact_count(u[small], np.exp(-lam_s), lambda k: lam_s / (k + 1))
    big = lam > EXACT_BELOW
    if big.any():
        lb = lam[big]
        out[big] = _normal_count(u[big], lb, lb, 1 / np.sqrt(lb))
    return out


def binomial_inv(u: np.ndarray, n: np.ndarray, p: float | np.ndarray) -> np.ndarray:
    """Binomial(n, p) counts from uniforms, exact for small means; `p` is one rate or one per draw."""
    u = np.asarray(u, dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=np.int64), u.shape)
    rates = np.broadcast_to(np.asarray(p, dtype=float), u.shape)
    out = np.zeros(u.shape, dtype=np.int64)
    full = rates >= 1
    out[full] = n[full]
    mean = n * rates
    small = (n > 0) & (rates > 0) & ~full & (mean <= EXACT_BELOW)
    if small.any():
        ns, ps = n[small].astype(float), rates[small]
        log_q = math.log1p(-float(p)) if np.ndim(p) == 0 else np.log1p(-ps)
        odds = ps / (1 - ps)
        out[small] = _exact_count(
            u[small], np.exp(ns * log_q), lambda k: np.maximum(ns - k, 0) / (k + 1) * odds
        )
    big = (rates > 0) & ~full & (mean > EXACT_BELOW)
    if big.any():
        nb, pb = n[big].astype(float), rates[big]
        var = nb * pb * (1 - pb)
        out[big] = np.minimum(_normal_count(u[big], nb * pb, var, (1 - 2 * pb) / np.sqrt(var)), n[big])
    return out


def percentile_sample(
    z: np.ndarray,
    n: np.ndarray,
    q: float,
    median_ms: float,
    sigma: float | np.ndarray,
    cold: np.ndarray | None = None,
    cold_ms: float | np.ndarray = math.inf,
) -> np.ndarray:
    """The q-quantile of n lognormal latencies, as one draw of its order statistic (NaN for n = 0); `sigma`
    is one lognormal shape or one per draw. `cold`: how many of the n are cold starts (bench/cold_starts.py),
    each slower than any other: a quantile that falls among them is `cold_ms` (one, or one per draw), one
    below them the order statistic of the other requests at the same rank.

    The k-th of n uniforms is Beta(k, n + 1 - k); a normal on its logit with the same mean and variance
    stands in for it, which keeps one normal per draw (common random numbers) and stays inside (0, 1).
    """
    n = np.asarray(n, dtype=float)
    out = np.full(n.shape, np.nan)
    has = n > 0
    if not has.any():
        return out
    nn = n[has]
    k = np.clip(np.ceil(q * nn), 1, nn)
    shape = np.broadcast_to(np.asarray(sigma, dtype=float), n.shape)[has]
    if cold is None:
        out[has] = _order_statistic(z[has], nn, k, median_ms, shape)
        return out
    warm = nn - np.asarray(cold, dtype=float)[has]
    among_cold = k > warm
    values = np.broadcast_to(np.asarray(cold_ms, dtype=float), n.shape)[has].copy()
    ok = ~among_cold
    values[ok] = _order_statistic(z[has][ok], warm[ok], k[ok], median_ms, shape[ok])
    out[has] = values
    return out


def _order_statistic(
    z: np.ndarray, n: np.ndarray, k: np.ndarray, median_ms: float, sigma: np.ndarray
) -> np.ndarray:
    """The k-th smallest of n lognormal latencies, one draw per element of z (see percentile_sample)."""
    m = k / (n + 1)
    s = np.sqrt(m * (1 - m) / (n + 2))
    logit = np.log(m / (1 - m)) + z * s / (m * (1 - m))
    level = 1 / (1 + np.exp(-logit))
    return median_ms * np.exp(sigma * norm_ppf(level))


def split_by_minute(
    rng: np.random.Generator, requests: np.ndarray, errors: np.ndarray, minutes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spread each run's total requests and errors over `minutes` equal minutes, keeping the totals.

    Requests follow the multinomial a Poisson stream conditioned on its total gives (minute j gets a
    binomial share of what the earlier minutes left); each minute's errors are a binomial share of the
    errors left in proportion to its requests, clipped so no minute has more errors than requests and the
    rest still fit (the hypergeometric split, to within the errors' share of the requests).
    """
    n_left = np.asarray(requests, dtype=np.int64).copy()
    k_left = np.asarray(errors, dtype=np.int64).copy()
    n = np.empty((n_left.size, minutes), dtype=np.int64)
    k = np.empty((n_left.size, minutes), dtype=np.int64)
    for j in range(minutes - 1):
        n_j = rng.binomial(n_left, 1.0 / (minutes - j))
        k_j = rng.binomial(k_left, n_j / np.maximum(n_left, 1))
        k_j = np.clip(k_j, k_left - (n_left - n_j), n_j)
        n[:, j], k[:, j] = n_j, k_j
        n_left -= n_j
        k_left -= k_j
    n[:, -1], k[:, -1] = n_left, k_left
    return n, k


Z_P99 = 2.3263478740408408  # the standard normal's 99th percentile


def beyond(threshold_ms: np.ndarray, version: Version) -> np.ndarray:
    """The share of a version's lognormal latencies above `threshold_ms` (one per run, or one)."""
    z = np.log(threshold_ms / version.median_ms) / np.asarray(version.sigma, dtype=float)
    return 0.5 * np.vectorize(math.erfc)(np.asarray(z, dtype=float) / math.sqrt(2.0))


@dataclass(frozen=True)
class Version:
    """A version's 5XX rate and lognormal latency; `Streams.draw` also takes one rate and sigma per run."""

    error_rate: float | np.ndarray
    median_ms: float
    sigma: float | np.ndarray  # lognormal shape: p99 = median * exp(2.326 * sigma)

    @property
    def p99_ms(self) -> float | np.ndarray:
        return self.median_ms * np.exp(Z_P99 * np.asarray(self.sigma, dtype=float))


@dataclass(frozen=True)
class ColdStarts:
    """One period's cold starts per version, one per run (bench/cold_starts.py), and each run's cold-start
    latency in ms."""

    canary: np.ndarray
    baseline: np.ndarray
    latency_ms: np.ndarray


def _cold_ms(cold: ColdStarts | None) -> float | np.ndarray:
    return math.inf if cold is None else cold.latency_ms


@dataclass
class Period:
    """One period of a subset of runs, per version: what CloudWatch would report."""

    canary_requests: np.ndarray
    canary_errors: np.ndarray
    baseline_requests: np.ndarray
    baseline_errors: np.ndarray
    canary_latency: np.ndarray  # (runs, 3): p50, p90, p99 in ms; NaN without requests
    baseline_latency: np.ndarray
    # Requests slower than the live version's p99 (what a day of history reads it as); None: not drawn.
    canary_slow: np.ndarray | None = None
    baseline_slow: np.ndarray | None = None


class Streams:
    """Pre-drawn random numbers for `runs` runs of `periods` periods, from one seed."""

    def __init__(self, runs: int, periods: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.runs = runs
        self.periods = periods
        self.seed = seed
        self.u_requests = rng.random((2, runs, periods))  # canary, baseline
        self.u_errors = rng.random((2, runs, periods))
        self.z_latency = rng.standard_normal((2, runs, periods, len(PERCENTILES)))
        self.u_history = rng.random((2, runs))  # requests, errors (drawn last: earlier streams unchanged)
        self.u_slow = rng.random((2, runs, periods))  # slow requests (after the history: it stays as it was)
        self._histories: dict[tuple[float, float, float], tuple[np.ndarray, np.ndarray]] = {}

    def history(self, rps: float, seconds: float, baseline: Version) -> tuple[np.ndarray, np.ndarray]:
        """Each run's baseline history before the rollout, per minute: (requests, 5XX errors), each of
        shape (runs, minutes). Each run's totals are one Poisson and one binomial draw from this scenario's
        streams; `split_by_minute` spreads them over the minutes from a generator of its own."""
        key = (rps, seconds, baseline.error_rate)
        if key not in self._histories:
            idx = np.arange(self.runs)
            requests = poisson_inv(self.u_history[0, idx], np.full(self.runs, rps * seconds))
            errors = binomial_inv(self.u_history[1, idx], requests, baseline.error_rate)
            minutes = max(1, round(seconds / PERIOD_S))
            rng = np.random.default_rng([self.seed, 1])
            self._histories[key] = split_by_minute(rng, requests, errors, minutes)
        return self._histories[key]

    def period(
        self,
        t: int,
        idx: np.ndarray,
        share: np.ndarray,
        rps: float,
        canary: Version,
        baseline: Version,
        latency: bool = True,
    ) -> Period:
        """Period t (0-based) for runs idx, with the canary serving `share` (0..1) of the traffic."""
        return self.draw(t, idx, share, rps * PERIOD_S, canary, baseline, latency)

    def draw(
        self,
        t: int,
        idx: np.ndarray,
        share: np.ndarray,
        volume: float | np.ndarray,
        canary: Version,
        baseline: Version,
        latency: bool = True,
        cold: ColdStarts | None = None,
        shock: np.ndarray | None = None,
    ) -> Period:
        """Period t for runs idx: `volume` (both versions' requests expected in the period) and each
        version's error rate and sigma are one value, or one per run of idx. `cold`: the period's cold starts
        per version (outside the family; none drawn: the family's). `shock`: one factor per run of idx on
        every latency of both versions (outside the family; None: the family's)."""
        share = np.clip(np.asarray(share, dtype=float), 0.0, 1.0)
        n_c = poisson_inv(self.u_requests[0, idx, t], volume * share)
        n_b = poisson_inv(self.u_requests[1, idx, t], volume * (1 - share))
        x_c = binomial_inv(self.u_errors[0, idx, t], n_c, canary.error_rate)
        x_b = binomial_inv(self.u_errors[1, idx, t], n_b, baseline.error_rate)
        if not latency:
            nothing = np.full((idx.size, len(PERCENTILES)), np.nan)
            return Period(n_c, x_c, n_b, x_b, nothing, nothing)
        # Slow requests are beyond the live version's p99 (what a day of history reads it as).
        threshold = np.asarray(baseline.p99_ms, dtype=float)
        cold_c = cold_b = None
        if cold is not None:
            cold_c = np.minimum(cold.canary, n_c).astype(np.int64)
            cold_b = np.minimum(cold.baseline, n_b).astype(np.int64)
        if shock is not None:
            # Every latency times the factor: a request is slow if its unshocked latency is beyond the
            # threshold over the factor, and each percentile scales with it.
            threshold = threshold / shock
        lat_c, slow_c = self._latency(0, t, idx, n_c, canary, threshold, cold_c, _cold_ms(cold))
        lat_b, slow_b = self._latency(1, t, idx, n_b, baseline, threshold, cold_b, _cold_ms(cold))
        if shock is not None:
            lat_c, lat_b = lat_c * shock[:, None], lat_b * shock[:, None]
        return Period(n_c, x_c, n_b, x_b, lat_c, lat_b, slow_c, slow_b)

    def _latency(
        self,
        side: int,
        t: int,
        idx: np.ndarray,
        n: np.ndarray,
        version: Version,
        threshold: np.ndarray,
        cold: np.ndarray | None,
        cold_ms: float | np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One version's (side 0: canary, 1: baseline) percentiles (runs, 3) and slow requests in period t.

        Slow requests are drawn apart from the percentiles (each from its own number): both marginals are
        exact, their coupling within a period is not modelled. A cold start is slow whatever its draw."""
        percentiles = np.stack(
            [
                percentile_sample(
                    self.z_latency[side, idx, t, i], n, q, version.median_ms, version.sigma, cold, cold_ms
                )
                for i, q in enumerate(PERCENTILES)
            ],
            axis=1,
        )
        warm = n if cold is None else n - cold
        slow = binomial_inv(self.u_slow[side, idx, t], warm, beyond(threshold, version))
        return percentiles, slow if cold is None else slow + cold

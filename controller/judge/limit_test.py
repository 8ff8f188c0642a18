"""The time-limit test: one fixed-sample test of "the canary is a regression" in the last judged period.

The judge's pass test is anytime-valid: it may be read after every period, and it pays for that with a
threshold of 1/beta on its evidence. A release it has not passed by the time limit used to be rolled back
undecided, however close its evidence came. At the limit the judge looks once more, and only once, with
a test of a fixed sample: the canary's errors so far against what a regression at the pass margin would
have made. Looking once, at a time fixed in advance, such a test passes a regression at the margin about
`limit_beta` of the time at most (its tails are a normal and a negative binomial approximation, checked
against simulation in tests/unit/test_judge_limit_test.py), so a release's chance of being passed as a
regression at the margin is at most beta + limit_beta in all (docs/judge.md, "The time limit's last look:
a fixed-sample test").

A release passes only if it passes in each of two windows: the whole rollout, and its second half. That
is an intersection-union test, so each window keeps the full level: a regression that began anywhere in
the first half is a regression throughout the second, and there it is passed at most `limit_beta` of the
time however healthy the periods before it were (late onset; the ramp gives the canary most of its traffic
in the second half, so the second window costs little power).

In each window, two forms, each at half of `limit_beta` where both apply (a union bound):
- the split form: each period's canary errors given that period's errors of both versions, binomial at the
  share a canary at the margin would take (`LimitPeriod`), summed; a shock that hits both versions cancels,
  and independent per-minute noise widens each period's variance (its logit varies by about 2 c2);
- the history form: the canary's errors against a negative binomial at the regression rate the history
  test is pinned to, with the per-period noise c2; only while the drift watch has no evidence that today's
  baseline fell below its history (a fall would make that rate too high to stand for a regression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

# Above this many errors the negative binomial's lower tail is read from its normal approximation: the
# exact sum costs one step per error, and there the two agree to far better than the test needs.
EXACT_TAIL_ERRORS = 20_000


@dataclass(frozen=True)
class LimitPeriod:
    """One judged period as the time-limit test reads it: its number (from 1), the canary's requests and
    errors, both versions' errors, the canary's share of the requests (None without baseline requests)
    and the pass margin the judge held the canary to in that period."""

    number: int
    canary_requests: int
    canary_errors: int
    errors: int
    canary_share: float | None
    margin_ratio: float


@dataclass(frozen=True)
class WindowResult:
    """One window's tail probabilities (None: that form did not apply) and whether it passed."""

    first_period: int
    split_p: float | None
    history_p: float | None
    passed: bool

    @property
    def p(self) -> float:
        """The smaller of the two tail probabilities (1 when neither form applied)."""
        return min(v for v in (self.split_p, self.history_p, 1.0) if v is not None)


@dataclass(frozen=True)
class LimitTestResult:
    """Each window's result, the level, and whether the release passed in every window."""

    windows: tuple[WindowResult, ...]
    level: float

    @property
    def passed(self) -> bool:
        return bool(self.windows) and all(w.passed for w in self.windows)

    @property
    def p(self) -> float:
        """The window that came closest to holding the release back: its smaller tail probability."""
        return max((w.p for w in self.windows), default=1.0)


def split_lower_tail(periods: list[LimitPeriod], c2: float) -> float | None:
    """P(canary errors <= observed) for a canary at the margin, given each period's errors of both versions
    (normal approximation with a continuity correction); None without a period that had errors."""
    observed = expected = variance = 0.0
    for period in periods:
        w = period.canary_share
        if period.errors == 0 or w is None:
            continue
        psi = period.margin_ratio
        p = w * psi / (w * psi + 1 - w)
        spread = p * (1 - p)
        observed += period.canary_errors
        expected += period.errors * p
        # Binomial variance, plus per-minute noise on each version's rate: the split's logit moves by
        # about c2 for each version, so its share by spread * sqrt(2 c2).
        variance += period.errors * spread + period.errors * (period.errors - 1) * spread * spread * 2 * c2
    if variance <= 0:
        return None
    return NormalDist().cdf((observed + 0.5 - expected) / math.sqrt(variance))


def negative_binomial_lower_tail(observed: int, mean: float, variance: float) -> float:
    """P(X <= observed) for a count with this mean and variance: negative binomial (Poisson when the
    variance is no more than the mean)."""
    if mean <= 0:
        return 1.0
    if observed > EXACT_TAIL_ERRORS:
        return NormalDist().cdf((observed + 0.5 - mean) / math.sqrt(max(variance, mean)))
    if variance <= mean * (1 + 1e-9):
        log_term = -mean
        total = math.exp(log_term)
        for k in range(1, observed + 1):
            log_term += math.log(mean / k)
            total += math.exp(log_term)
        return min(1.0, total)
    size = mean * mean / (variance - mean)
    success = mean / variance
    log_term = size * math.log(success)
    log_fail = math.log1p(-success)
    total = math.exp(log_term)
    for k in range(1, observed + 1):
        log_term += math.log((k - 1 + size) / k) + log_fail
        total += math.exp(log_term)
    return min(1.0, total)


def history_lower_tail(periods: list[LimitPeriod], rate: float, c2: float) -> float | None:
    """P(canary errors <= observed) for a canary erring at `rate` in every period, each period's count
    negative binomial with noise c2; None without canary requests."""
    means = [p.canary_requests * rate for p in periods if p.canary_requests > 0]
    if not means:
        return None
    variance = sum(m * (1 + c2 * m) for m in means)
    return negative_binomial_lower_tail(sum(p.canary_errors for p in periods), sum(means), variance)


def window_starts(horizon_periods: int) -> tuple[int, ...]:
    """The first period of each window: the whole rollout and its second half."""
    second_half = horizon_periods // 2 + 1
    return (1, second_half) if second_half > 1 else (1,)


def limit_test(
    periods: list[LimitPeriod],
    c2: float,
    level: float,
    horizon_periods: int,
    history_rate: float | None,
) -> LimitTestResult:
    """Pass at `level` if, in every window, either form's tail probability is within its share of it.
    `history_rate`: the regression rate of the history form (None: the split form alone)."""
    results = []
    for first in window_starts(horizon_periods):
        window = [p for p in periods if p.number >= first]
        split_p = split_lower_tail(window, c2)
        history_p = None
        if history_rate is not None and history_rate < 1:
            history_p = history_lower_tail(window, history_rate, c2)
        forms = [v for v in (split_p, history_p) if v is not None]
        share = level / len(forms) if forms else 0.0
        results.append(WindowResult(first, split_p, history_p, any(v <= share for v in forms)))
    return LimitTestResult(tuple(results), level)

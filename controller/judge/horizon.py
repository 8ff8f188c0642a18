"""The smallest regression the pass test can rule out before the rollout's time limit.

`--strategy adaptive` rolls back a release the judge has not passed within its time limit (30 minutes by
default): no decision is not a pass. A pass margin that the traffic cannot resolve in that time therefore
rolls back healthy releases. At 2-10 requests/s and a 1-5 % error rate, telling a canary at the baseline's
rate from one 1.5x worse at beta = 1 % takes about the whole limit, and a fifth of identical releases ran
out of time in the scenario family (docs/judge.md).

So before each period the judge plans (`resolvable_ratio`): the evidence its pass test is expected to hold
at the limit, for a canary at the baseline's rate, from the canary's requests so far plus the periods left
at the latest period's traffic, split as the test would learn most from it (all of it to the canary when
the test reads the canary against a history, half when against the concurrent baseline). The ramp decides
the split, so this is the most the traffic left can tell: the margin widens only where no split would
resolve it, whatever share the canary starts at. If that expectation, less z of its standard deviations,
falls short of the pass threshold, the margin widens to the smallest ratio that reaches it, never beyond
the widest margin (`JudgeConfig.widest_regression_ratio`, 2x by default: regressions of 2x or more are
still passed at most beta of the time). z comes from alpha: an identical release then runs out of time
about alpha of the time or less, under the normal approximation, which is the false-rollback promise.

The same plan (the judge's `MarginPlanner`, controller/judge/margin.py) narrows where the traffic allows
(`resolves`): an absolute margin (0.5 points by default) makes the ratio 6x for a service at 0.1 % errors, so
its doublings pass. Where the traffic left resolves the widest margin, the judge uses that instead (2x), so a
busy low-error service gets its doublings caught at the price of slower promotions. Where it does not, the
judge takes the narrowest ratio between the two that the traffic left resolves, planned with caution
(`_cautious_ratio`: today's rate one standard deviation above its estimate, z at alpha / 2), and the absolute
margin stays only where even that is out of reach. With a history and `JudgeConfig.narrowest_regression_ratio`
(1.3 by default; `shift --narrowest-ratio off` turns it off) the same cautious plan also narrows a margin
below the configured one where the traffic left resolves it (`_narrowed_ratio`): a busy service's 1.3-2x
regressions are caught, and its healthy releases take longer to pass. That narrowing reads today's rate
off the concurrent baseline's own counts, DRIFT_SDS standard deviations high, so it waits for the baseline to
show that today's rate leaves a healthy canary room under the narrower margin. The plan's target includes
the drift watch's discount on the history's pass test (a baseline below its history), which the test must
make up before it passes. The judge reads the planned ratio against today's baseline rate, one standard
deviation above its estimate (`_today_high`): a history's test builds its margin on the history's rate, a
baseline that rose since then leaves less margin over today's than the ratio says, and the estimate (the
history's pseudo-counts plus today's) lags the rise.

The plan reads only request counts and the baseline's rate (never the canary's errors), and it is fixed
before the period it applies to, so the pass test stays a supermartingale for every canary at or beyond the
widest margin used; the judgement reports that margin.

The model: a period with mu expected canary errors adds to the pass test's log-likelihood ratio (rate r
against psi * r) mu * (psi - 1 - ln psi) on average, with variance mu * ln(psi)^2, for Poisson counts.
Under per-period noise c2 the plan reads the negative binomial's own mean and variance (k = 1 / c2,
L = ln((psi mu + k) / (mu + k)) - ln psi): mu * L + k * ln((psi mu + k) / (mu + k)) and
L^2 * mu * (1 + c2 mu). Where the noise dominates a period (c2 * mu >> 1) that mean is
(ln psi - 1 + 1 / psi) / c2: a quarter less at 1.5x, and over a third less at 2x, than the
(psi - 1 - ln psi) / c2 that discounting the Poisson's information by 1 + c2 mu gives. Planned on that
discount, a busy, noisy service's margin stayed too narrow, and 2 % of its identical releases ran out of
time against the 1 % planned (docs/judge.md). Without a baseline history the pass test compares the canary
with the concurrent baseline, which is itself a sample: its information is the one-sample figure,
discounted for noise, times the baseline's share of the period's traffic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodTraffic:
    """One period's requests, all the test needs to plan with."""

    canary: int
    baseline: int

    @property
    def canary_share(self) -> float:
        total = self.canary + self.baseline
        return self.canary / total if total else 0.0


@dataclass(frozen=True)
class PassPlan:
    """What the plan knows before a period: the traffic so far, the periods left and the rate."""

    seen: Sequence[PeriodTraffic]
    periods_left: int  # including the coming one
    baseline_rate: float
    c2: float
    one_sample: bool  # the pass test reads the canary against a history's rate (True) or the baseline's
    log_target: float  # the log evidence the deciding test must reach (threshold over its weight)
    z: float  # standard deviations of slack (from alpha)


def _information(plan: PassPlan, canary: float, total: float) -> float:
    """The pass test's information from one period of `canary` of `total` requests: the expected canary
    errors at the baseline's rate, discounted for noise and, two-sample, for the baseline's sampling."""
    mu = canary * plan.baseline_rate
    info = mu / (1 + plan.c2 * mu)
    return info if plan.one_sample or total <= 0 else info * (1 - canary / total)


def _best_canary(plan: PassPlan, total: int) -> int:
    """The canary's requests in the split of a period's `total` the pass test learns most from (module
    docstring): all of them against a history, half against the concurrent baseline."""
    return total if plan.one_sample else total // 2


def effective_errors(plan: PassPlan) -> float:
    """The expected canary errors at the limit, discounted for noise and, for the two-sample test, for the
    baseline's own sampling: the pass test's information per unit of (psi - 1 - ln psi)."""
    if not plan.seen or plan.baseline_rate <= 0:
        return 0.0
    latest = plan.seen[-1]
    total = latest.canary + latest.baseline
    seen = sum(_information(plan, t.canary, t.canary + t.baseline) for t in plan.seen)
    return seen + max(plan.periods_left, 0) * _information(plan, _best_canary(plan, total), total)


def period_moments(plan: PassPlan, canary: float, total: float, psi: float) -> tuple[float, float]:
    """The mean and variance of the log evidence one period adds to the pass test, for a canary at the
    baseline's rate against one psi times worse. Against a history (one-sample) under noise, the negative
    binomial's own: the information model's (psi - 1 - ln psi) per unit is the Poisson's, and where the
    noise dominates a period (c2 * mu >> 1) the negative binomial's is (ln psi - 1 + 1 / psi), a quarter
    less at 1.5x and more beyond (module docstring)."""
    mu = canary * plan.baseline_rate
    if mu <= 0:
        return 0.0, 0.0
    if plan.one_sample and plan.c2 > 0:
        k = 1 / plan.c2
        shrink = math.log(psi * mu + k) - math.log(mu + k)
        per_error = shrink - math.log(psi)
        return mu * per_error + k * shrink, per_error * per_error * mu * (1 + plan.c2 * mu)
    info = _information(plan, canary, total)
    u = math.log(psi)
    return (psi - 1 - u) * info, u * u * info


def _slack(plan: PassPlan, psi: float) -> float:
    """The planned evidence for margin psi at the limit, less z standard deviations, over the target."""
    mean = variance = 0.0
    for traffic in plan.seen:
        m, v = period_moments(plan, traffic.canary, traffic.canary + traffic.baseline, psi)
        mean, variance = mean + m, variance + v
    latest = plan.seen[-1]
    total = latest.canary + latest.baseline
    m, v = period_moments(plan, _best_canary(plan, total), total, psi)
    left = max(plan.periods_left, 0)
    mean, variance = mean + left * m, variance + left * v
    return mean - plan.z * math.sqrt(variance) - plan.log_target


def resolves(plan: PassPlan, psi: float) -> bool:
    """Whether the pass test is planned to resolve margin psi by the limit."""
    info = effective_errors(plan)
    return info > 0 and psi > 1 + plan.z / math.sqrt(info) and _slack(plan, psi) >= 0


def resolvable_ratio(plan: PassPlan, narrowest: float, widest: float) -> float:
    """The smallest margin in [narrowest, widest] the pass test is planned to resolve by the limit (widest
    when even that is out of reach)."""
    if narrowest >= widest:
        return narrowest
    info = effective_errors(plan)
    if info <= 0:
        return widest
    root = math.sqrt(info)

    def slack(psi: float) -> float:
        return _slack(plan, psi)

    # slack falls from psi = 1 to about 1 + z / sqrt(info) and rises after it: search only the rising part
    # (slack is below zero all the way to its minimum, so a root to the right of `low` is the only one).
    low = max(narrowest, 1 + plan.z / root)
    if low >= widest or slack(widest) < 0:
        return widest
    if slack(low) >= 0:
        return low
    high = widest
    for _ in range(40):
        mid = (low + high) / 2
        if slack(mid) >= 0:
            high = mid
        else:
            low = mid
    return high

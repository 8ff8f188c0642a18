"""The pass margin for the coming period, planned for the rollout's time limit.

The model behind the plan (how much evidence the traffic left can give the pass test) is in
controller/judge/horizon.py; this module decides, before each period, which margin the judge holds the canary
to: widened where the traffic left cannot resolve the configured one, the absolute part given way to a ratio
where that is wider than the widest margin wanted, and (as far as `JudgeConfig.narrowest_regression_ratio`,
1.3x by default) narrowed where the traffic left resolves less. It reads request counts and the baseline
only, never the canary's errors, so the pass test stays valid at the widest margin used (docs/judge.md,
"The time limit").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from statistics import NormalDist

from controller.judge.config import JudgeConfig
from controller.judge.emath import poisson_bound
from controller.judge.history import DRIFT_SDS, HistoryTests
from controller.judge.horizon import PassPlan, PeriodTraffic, resolvable_ratio, resolves


class MarginPlanner:
    """Plans the pass margin (relative part, absolute part) before each period.

    `log_target` is the log evidence the deciding pass test must reach (its threshold over its weight);
    `history` is the judge's history tests (None without a usable history), read for today's rate, the
    margin's base and the drift watch's discount.
    """

    def __init__(
        self, config: JudgeConfig, history: HistoryTests | None, c2: float, log_target: float
    ) -> None:
        self.config = config
        self.history = history
        self.c2 = c2
        self.log_target = log_target
        limited = config.horizon_periods is not None
        # z = Phi^-1(1 - alpha): an identical release runs out of time about alpha of the time or less.
        self.z = NormalDist().inv_cdf(1 - config.alpha) if limited else 0.0
        self.cautious_z = NormalDist().inv_cdf(1 - config.alpha / 2) if limited else 0.0

    def plan(
        self,
        traffic: Sequence[PeriodTraffic],
        periods: int,
        baseline_rate: float,
        baseline_errors: int,
        baseline_requests: int,
    ) -> tuple[float, float]:
        """The pass margin for the coming period (relative part, absolute part), after `periods` periods of
        `traffic`, with `baseline_rate` the judge's estimate of the baseline's rate and the baseline's
        counts so far: a ratio under the configured margin, as narrow as narrowest_regression_ratio, where
        the traffic left resolves it (_narrowed_ratio); else regression_relative and regression_absolute,
        the relative part widened when the traffic left cannot resolve it, and the absolute part dropped
        when it is wider than widest_regression_ratio and the traffic left resolves that ratio, or a
        narrower ratio between the two (_cautious_ratio); the widest ratio is read against a lower bound on
        today's baseline rate where that is above the margin's base."""
        c = self.config
        configured = (c.regression_relative, c.regression_absolute)
        widest = c.widest_regression_ratio
        if c.horizon_periods is None or not traffic or 1 + c.regression_relative >= widest:
            return configured  # no limit, nothing seen yet, or the user's ratio is already the widest
        if baseline_rate <= 0:
            return configured
        plan = PassPlan(
            seen=traffic,
            periods_left=c.horizon_periods - periods,
            baseline_rate=baseline_rate,
            c2=self.c2,
            one_sample=self.history is not None,
            # The drift watch's discount is taken off the history's pass test (HistoryTests.pass_discount):
            # the plan must make it up, or a baseline below its history runs a narrow margin out of time.
            log_target=self.log_target + (self.history.pass_discount() if self.history else 0.0),
            z=self.z,
        )
        base = self.history.pass_base() if self.history is not None else baseline_rate
        if base <= 0:
            return configured
        # The history's tests build the margin on the history's rate, but a healthy canary errs at today's:
        # where today's rate may be above that base, the margin over today's rate is smaller than the ratio
        # says, and the plan reads it against today's, one standard deviation above its estimate (the
        # estimate lags a baseline that rose since its history). A fall it does not credit: the drift watch
        # slows the pass test then (HistoryTests.pass_discount), and the plan's target above counts it.
        # A margin's ratio to today's rate over its ratio to the base:
        to_today = min(1.0, base / self._today_high(baseline_rate))
        configured_ratio = 1 + max(c.regression_relative, c.regression_absolute / base)
        # The widest margin is a ratio to today's rate. Once the concurrent baseline shows that today's rate
        # is above the base (its lower bound, DRIFT_SDS below its count, the bound the history tests move
        # to), the widest margin over the base grows with it: else a baseline that rose since its history
        # leaves a healthy canary less than 2x of room, and it runs out of time.
        today_low = poisson_bound(baseline_errors, baseline_requests, -DRIFT_SDS)
        if not math.isnan(today_low) and today_low > base:
            widest *= today_low / base
        # A narrowed margin leaves a healthy canary little room over today's rate, and today's estimate
        # lags a baseline that rose since its history: the narrowing reads today's rate at its ceiling.
        ceiling = poisson_bound(baseline_errors, baseline_requests, DRIFT_SDS)
        narrowed = self._narrowed_ratio(plan, to_today, min(configured_ratio, widest), base / ceiling)
        if narrowed is not None:
            return narrowed - 1, 0.0
        if configured_ratio > widest:
            # The absolute margin is wider than the widest margin wanted: the widest where the traffic left
            # resolves it, else the narrowest ratio between the two that it resolves, planned with caution.
            if resolves(plan, widest * to_today):
                return widest - 1, 0.0
            if self.history is None:
                return configured  # without a history, no rate for today to read a ratio on (_cautious_ratio)
            between = self._cautious_ratio(plan, to_today, widest, configured_ratio)
            return (between - 1, 0.0) if between < configured_ratio else configured
        planned = resolvable_ratio(plan, configured_ratio * to_today, widest * to_today) / to_today
        return max(c.regression_relative, min(planned, widest) - 1), c.regression_absolute

    def _today_high(self, estimate: float) -> float:
        """Today's baseline rate one standard deviation above `estimate` (with a history, the estimate is the
        history's pseudo-counts plus the concurrent baseline's: Poisson on the same counts), or the estimate
        itself without a history."""
        if self.history is None:
            return estimate
        errors, requests = self.history.current_counts()
        return (errors + math.sqrt(errors)) / requests

    def _narrowed_ratio(self, plan: PassPlan, to_today: float, top: float, to_ceiling: float) -> float | None:
        """A margin under `top` (the configured ratio, or the widest where that is wider), as narrow as
        narrowest_regression_ratio, that the traffic left is planned to resolve with the caution of
        _cautious_ratio; None where the traffic resolves nothing under `top`, or without a history.

        `to_ceiling` is the margin's base over the highest rate today's baseline may have by its own counts:
        DRIFT_SDS standard deviations above them, the bound past which the history's tests take its rate
        as moved (NaN before it has served a request: no narrowing). Narrowed on today's estimate instead
        (the history's pseudo-counts plus the baseline's, which lag a rise), a healthy canary stayed in
        its canary long enough for the trusting fail test to roll back 1.1-1.5 % of identical releases
        under a 15-30 % rise (docs/judge.md, "Narrower where the traffic allows")."""
        narrowest = self.config.narrowest_regression_ratio
        if narrowest is None or self.history is None or narrowest >= top or not to_ceiling > 0:
            return None
        ratio = self._cautious_ratio(plan, min(to_today, to_ceiling), narrowest, top)
        return ratio if ratio < top else None

    def _cautious_ratio(self, plan: PassPlan, to_today: float, widest: float, configured: float) -> float:
        """The narrowest margin in [widest, configured] (ratios to the margin's base) that the traffic left
        is planned to resolve, or configured. At these margins (a few errors a period) the plan's
        normal approximation is not conservative, so it keeps z at alpha / 2 (half the false-rollback budget
        for running out of time), not alpha. Only with a baseline history: without one, a clean baseline's
        rate is a guess (half an error over its requests), and a ratio to it would hold a clean canary to a
        margin it can never show."""
        assert self.history is not None
        cautious = replace(plan, z=self.cautious_z)
        return resolvable_ratio(cautious, widest * to_today, configured * to_today) / to_today

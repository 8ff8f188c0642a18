"""One-sample tests of the canary's own errors against the baseline's rate known from its history.

See "Baseline history" in docs/judge.md and the package docstring.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from controller.domain import BaselineHistory
from controller.judge.config import JudgeConfig
from controller.judge.emath import log_mix, nb_log_lr, poisson_bound
from controller.judge.onset import RestartedBets
from controller.judge.outliers import capped, floored

# The share of alpha (and beta) spent on the history's confidence bound when history is used: the bound
# misses the true baseline rate with probability alpha * history_bound_share, the e-processes get the rest.
# Pseudo-errors the history lends the running estimate of the current baseline rate: enough to keep one
# quiet period from moving it, few enough that a baseline whose rate really moved takes over in a period
# or two of traffic.
HISTORY_PRIOR_ERRORS = 10.0
# How far outside its own confidence bounds the concurrent baseline must be before it, not the history,
# sets the rates the history tests are pinned to (the baseline's rate moved since the history).
DRIFT_SDS = 3.0
# The drift watch: e-processes on the concurrent baseline's own counts for "its rate has left the history's
# bound", mixed evenly over these multiples of the upper bound (rises) and of the lower bound (falls). They
# discount the history tests and keep the trusting ramp's share narrow (controller/ramp.py) while they are
# above 1.
DRIFT_RISES: tuple[float, ...] = (1.1, 1.2, 1.35, 1.5, 2.0, 3.0)
DRIFT_FALLS: tuple[float, ...] = (0.9, 0.8, 0.65, 0.5)
# The fail test's drift discount is the concurrent baseline's likelihood ratio for its own rate against the
# history's upper bound, raised to this power times the canary/baseline request ratio. At 1 the discount
# only matches the canary's evidence on average, and their difference wanders like a random walk that a
# long rollout eventually carries over the threshold; 2 gives that difference a downward drift (measured in
# tests/unit/test_judge.py, good releases under a 30 % rise: 4.5 % rolled back with it, 9 % without).
DRIFT_FAIL_POWER = 2.0
# The history count test's bets, as multiples of r* = (history rate) / q: a canary like the baseline sits
# at r*, so most of the weight goes there; the rest covers a spotless canary and a slightly worse one.
HISTORY_COUNT_MULTIPLES: tuple[float, ...] = (0.0, 0.5, 1.0, 1.2)
HISTORY_COUNT_WEIGHTS: tuple[float, ...] = (0.05, 0.1, 0.7, 0.15)


class HistoryTests:
    """One-sample tests of the canary's own errors against the baseline's rate known from its history.

    See "Baseline history" in the module docstring. `null_rate` and `regression_rate` are what the fail and
    the pass test are pinned to for the coming period: the history's confidence bounds, moved to the
    concurrent baseline's own bounds when it has drifted past them, and the null at least today's estimate
    (predictable: earlier periods only).
    """

    def __init__(
        self, config: JudgeConfig, history: BaselineHistory, c2: float = 0.0, outlier_share: float = 0.0
    ) -> None:
        c = config
        self.config = config
        self.c2 = c2  # extra-binomial noise per period: the counts are negative binomial, not Poisson
        # The share of periods that may be anything (spikes): the fail test caps each period's ratio for it,
        # the count pass test floors it (controller/judge/outliers.py).
        self.outlier_share = outlier_share
        self.history = history
        self.rate = history.errors_5xx / history.requests
        z_fail = NormalDist().inv_cdf(1 - c.alpha * c.history_bound_share)
        z_pass = NormalDist().inv_cdf(1 - c.beta * c.history_bound_share)
        self.high = poisson_bound(history.errors_5xx, history.requests, z_fail)
        self.low = poisson_bound(history.errors_5xx, history.requests, -z_pass)
        # The running estimate of the current baseline rate starts at the history's rate, with the weight
        # of HISTORY_PRIOR_ERRORS errors (a clean history lends its upper bound instead of zero).
        prior_rate = self.rate if history.errors_5xx else self.high
        self.prior_requests = HISTORY_PRIOR_ERRORS / prior_rate
        self.prior_errors = HISTORY_PRIOR_ERRORS
        self.log_fail = [0.0] * len(c.alternatives)
        self.log_margin = 0.0
        self.late = RestartedBets(len(c.alternatives) + 1, c.late_onset_share, c.late_onset_starts)
        self.log_count = [0.0] * len(HISTORY_COUNT_MULTIPLES)
        self.canary_requests = 0
        self.canary_errors = 0
        self.null_expected_errors = 0.0
        self.baseline_requests = 0
        self.baseline_errors = 0
        self.null_rate = self.high
        self.regression_rate = self._regression(self.low)
        self.margin_rate = self.regression_rate  # the fail test's margin bet: never widened
        self._count_scale = 1.0
        self.log_rises = [0.0] * len(DRIFT_RISES)
        self.log_falls = [0.0] * len(DRIFT_FALLS)
        r_star = min(0.95, self.rate / self.regression_rate) if self.regression_rate > 0 else 0.0
        self.count_ratios = tuple(min(0.97, m * r_star) for m in HISTORY_COUNT_MULTIPLES)

    def _regression(self, base: float, relative: float | None = None, absolute: float | None = None) -> float:
        c = self.config
        relative = c.regression_relative if relative is None else relative
        absolute = c.regression_absolute if absolute is None else absolute
        return base + max(base * relative, absolute)

    def current_counts(self) -> tuple[float, float]:
        """The counts behind current_estimate(): the concurrent baseline's and the history's pseudo-counts."""
        return self.baseline_errors + self.prior_errors, self.baseline_requests + self.prior_requests

    def current_estimate(self) -> float:
        """The baseline's current rate: concurrent counts plus the history's pseudo-counts."""
        errors, requests = self.current_counts()
        return errors / requests

    def _prepare(self, pass_relative: float, pass_absolute: float) -> None:
        """Fix the coming period's null and regression rates from the baseline seen before it.

        The history's bounds hold unless the baseline's rate has moved since; the concurrent baseline's
        own bounds (DRIFT_SDS wide, so noise rarely crosses them) take over once it shows that it has, and
        the fail test's null never sits below current_estimate() (a rise raises it before it is certain).
        `pass_relative` and `pass_absolute` are the pass margin's parts as the judge planned them for its
        time limit (the relative part widened, or the absolute part dropped); the count test's bets keep
        the rates they had at the configured margin.
        """
        c = self.config
        now_low = poisson_bound(self.baseline_errors, self.baseline_requests, -DRIFT_SDS)
        # The fail test's null never sits below the running estimate of today's rate: a baseline that rose
        # since its history raises it as its errors come in, long before DRIFT_SDS of evidence (docs/judge.md,
        # "Today's rate").
        high = max(self.high, 0.0 if math.isnan(now_low) else now_low, self.current_estimate())
        low = self.pass_base()
        self.null_rate = high * (1 + c.tolerance_relative) + c.tolerance_absolute
        self.margin_rate = self._regression(low)
        self.regression_rate = self._regression(low, pass_relative, pass_absolute)
        self._count_scale = self.margin_rate / self.regression_rate if self.regression_rate > 0 else 1.0

    def pass_base(self) -> float:
        """The rate the coming period's regression rate is built on: the history's lower bound, or the
        concurrent baseline's upper bound once the baseline has fallen below it."""
        now_high = poisson_bound(self.baseline_errors, self.baseline_requests, DRIFT_SDS)
        return min(self.low, math.inf if math.isnan(now_high) else now_high)

    @property
    def margin_multiple(self) -> float:
        return max(self.margin_rate / self.null_rate, 1.1) if self.null_rate > 0 else 1.1

    @property
    def log_rise_e_value(self) -> float:
        """log of the concurrent baseline's evidence that its rate rose above the history's upper bound."""
        return log_mix([1 / len(DRIFT_RISES)] * len(DRIFT_RISES), self.log_rises)

    @property
    def log_fall_e_value(self) -> float:
        """log of the concurrent baseline's evidence that its rate fell below the history's lower bound."""
        return log_mix([1 / len(DRIFT_FALLS)] * len(DRIFT_FALLS), self.log_falls)

    def _canary_to_baseline(self) -> float:
        """How much more traffic the canary has had than the baseline (at least 1): a discount read from
        the baseline is scaled by it, or a large canary share would outrun the evidence that voids it."""
        return max(1.0, self.canary_requests / self.baseline_requests) if self.baseline_requests else 1.0

    def _fail_discount(self) -> float:
        """log of the fail test's drift discount: the concurrent baseline's likelihood ratio at its own rate
        against the history's upper bound (0 while it is under the bound), see DRIFT_FAIL_POWER."""
        n, k = self.baseline_requests, self.baseline_errors
        if n == 0 or self.high <= 0 or k / n <= self.high:
            return 0.0
        rate = k / n
        log_lr = k * math.log(rate / self.high) - (rate - self.high) * n
        return DRIFT_FAIL_POWER * max(0.0, log_lr) * self._canary_to_baseline()

    def pass_discount(self) -> float:
        """log of the pass test's drift discount: the drift watch's evidence of a fall (a baseline better
        than its history would let a canary pass that is worse than today's baseline)."""
        return max(0.0, self.log_fall_e_value) * self._canary_to_baseline()

    def observe(
        self, n: int, k: int, baseline_n: int, baseline_k: int, pass_relative: float, pass_absolute: float
    ) -> None:
        """One period: pin its rates on the baseline seen before it, count the baseline (the drift
        discounts read it), then bet on the canary's counts (n requests, k 5XX errors); `pass_relative`
        and `pass_absolute` are the pass margin's parts for this period (planned by the judge)."""
        self._prepare(pass_relative, pass_absolute)
        self.baseline_requests += baseline_n
        self.baseline_errors += baseline_k
        self.canary_requests += n
        c2 = self.c2
        for j, m in enumerate(DRIFT_RISES):
            self.log_rises[j] += nb_log_lr(baseline_k, self.high * baseline_n, m, c2)
        for j, m in enumerate(DRIFT_FALLS):
            self.log_falls[j] += nb_log_lr(baseline_k, self.low * baseline_n, m, c2)
        llrs = [0.0] * (len(self.config.alternatives) + 1)
        p0 = self.null_rate
        if n > 0 and p0 < 1:
            self.canary_errors += k
            self.null_expected_errors += p0 * n
            share, mean0, margin = self.outlier_share, p0 * n, self.margin_multiple
            for j, m in enumerate(self.config.alternatives):
                llrs[j] = capped(nb_log_lr(k, mean0, m, c2), mean0, m, c2, share)
                self.log_fail[j] += llrs[j]
            llrs[-1] = capped(nb_log_lr(k, mean0, margin, c2), mean0, margin, c2, share)
            self.log_margin += llrs[-1]
        self.late.add(llrs)
        if n == 0:
            return
        q = self.regression_rate
        if q >= 1:
            return
        for j, unscaled in enumerate(self.count_ratios):
            if self.log_count[j] == -math.inf:
                continue
            r = min(0.97, unscaled * self._count_scale)
            if r == 0:
                clean = n * q if c2 <= 0 else math.log1p(n * q * c2) / c2
                self.log_count[j] = -math.inf if k else self.log_count[j] + clean
            else:
                llr = nb_log_lr(k, q * n, r, c2)
                self.log_count[j] += floored(llr, q * n, r, c2, self.outlier_share)

    @property
    def log_fail_e_value(self) -> float:
        c = self.config
        logs = self.late.combined([*self.log_fail, self.log_margin])
        raw = log_mix([*c.history_weights, c.history_margin_weight], logs)
        return raw - self._fail_discount()

    @property
    def log_pass_e_value(self) -> float:
        return log_mix(HISTORY_COUNT_WEIGHTS, self.log_count) - self.pass_discount()

"""The judge's tests, robust to what production traffic does: bursts, drift and late-breaking regressions.

Three things the idealised tests assumed, and what replaces each assumption:

* Errors are binomial. Per-minute error rates vary more than that (a slow dependency, a retry storm), and
  a likelihood ratio that assumes binomial noise has an expectation above 1 under such a null: it rolls
  good releases back. The service's own per-minute history says how much its rate varies beyond binomial
  noise (controller/judge/dispersion.py: the squared coefficient of variation c2 of a mean-1 gamma factor
  on each period's rate, at an upper bound), and every test bets with the overdispersed likelihood: negative
  binomial for a version's own count, beta-binomial for the canary's share of a period's errors
  (controller/judge/emath.py). With c2 = 0 they are the binomial and Poisson tests they generalise. A shock
  that hits both versions at once cancels out of the split test, whatever its size.
* The baseline's rate is the history's. Today's rate may sit well off its last day. The history is a prior
  on today's rate, not a point: log(today's rate) ~ Normal(log(history rate), drift_sd^2), updated by the
  concurrent baseline's own counts (as many effective errors as overdispersion leaves them). The one-sample
  tests are pinned to this posterior's upper bound (fail) or lower bound (pass), both predictable. Early on
  the bound is wide and the history counts little; as the concurrent baseline accumulates errors it takes
  over, so a drift the prior did not expect is learnt within minutes at high traffic (and at low traffic a
  drifted null cannot gather enough errors to roll a release back in the time a rollout takes).
* A regression is there from the first request. Evidence gathered while the canary was healthy counts
  against every regression and, summed from the start, hides one that begins later. The fail tests keep a
  likelihood ratio per start period and mix them (controller/judge/onset.py), still anytime-valid.

The prior over regressions is log-uniform: equal weight on a geometric grid of ratios (`alternatives`), the
one prior that does not prefer a scale; the regression margin itself gets `margin_weight`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from controller.domain import BaselineHistory, HistoryEvidence
from controller.judge.config import JudgeConfig
from controller.judge.dispersion import Dispersion, estimate_c2
from controller.judge.emath import bb_log_lr, bb_log_lrs, nb_log_lr
from controller.judge.onset import OnsetMixture


@dataclass(frozen=True)
class TodaysRate:
    """Today's baseline rate: the history's prior updated by the concurrent baseline (log-normal)."""

    mean_log: float
    sd_log: float

    def bound(self, z: float) -> float:
        return math.exp(self.mean_log + z * self.sd_log)


class HistoryPrior:
    """The live version's history as a prior on today's rate, and the concurrent baseline that updates it."""

    def __init__(self, config: JudgeConfig, history: BaselineHistory, c2: float) -> None:
        self.config = config
        self.history = history
        self.rate = history.errors_5xx / history.requests
        # A clean history says the rate is under about one error in its requests, not zero.
        self.prior_rate = max(self.rate, 0.5 / history.requests)
        sd_sampling = 1.0 / math.sqrt(history.errors_5xx + 0.5)
        self.prior_sd = math.hypot(config.drift_sd, sd_sampling)
        self.c2 = c2
        self.baseline_requests = 0
        self.baseline_errors = 0
        self.baseline_periods = 0

    def add_baseline(self, requests: int, errors: int) -> None:
        self.baseline_requests += requests
        self.baseline_errors += errors
        self.baseline_periods += requests > 0

    def todays_rate(self) -> TodaysRate:
        """The posterior on log(today's rate) from the prior and the concurrent baseline so far."""
        prior_precision = 1.0 / self.prior_sd**2
        n, k = self.baseline_requests, self.baseline_errors
        if n <= 0:
            return TodaysRate(math.log(self.prior_rate), self.prior_sd)
        per_period = (k + 0.5) / max(self.baseline_periods, 1)
        information = (k + 0.5) / (1.0 + per_period * self.c2)
        estimate = math.log((k + 0.5) / n)
        precision = prior_precision + information
        mean = (prior_precision * math.log(self.prior_rate) + information * estimate) / precision
        return TodaysRate(mean, 1.0 / math.sqrt(precision))


class RobustErrorTests:
    """The fail and pass e-processes on error counts (see the module docstring); pure, one per rollout."""

    def __init__(self, config: JudgeConfig, history: BaselineHistory | None, trust_history: bool) -> None:
        c = config
        self.config = c
        periods = history.per_period if history is not None else ()
        self.dispersion: Dispersion = estimate_c2(periods, c.dispersion_floor)
        self.c2 = self.dispersion.c2
        self.prior = HistoryPrior(c, history, self.c2) if history is not None else None
        self.trusts = self.prior is not None and trust_history
        self.z_fail = NormalDist().inv_cdf(1 - c.bound_miss)
        self.z_pass = NormalDist().inv_cdf(1 - c.bound_miss)
        self.split_fail = OnsetMixture(c.onset_first_weight, c.onset_horizon)
        self.history_fail = OnsetMixture(c.onset_first_weight, c.onset_horizon)
        self.log_split_pass = 0.0
        self.log_count_pass = [0.0] * len(c.count_ratios)
        self.log_history_pass = [0.0] * len(c.count_ratios)
        self.baseline_requests = 0
        self.baseline_errors = 0
        self.null_rate = math.nan
        self.regression_rate = math.nan
        self.pass_ratio = 1 + c.regression_relative
        self.margin: float | None = None  # the traffic-decided margin, once fixed (margin_ladder)
        self.periods = 0
        self.requests = 0
        # per history-test start: (canary errors, errors expected at the null rate) since that start
        self.windows: list[list[float]] = []

    # -- the coming period's pins (from earlier periods only) -----------------------------------------------

    def _baseline_bound(self, z: float) -> float:
        """An upper (z > 0) or lower (z < 0) bound on today's baseline rate from data so far."""
        if self.prior is not None:
            return self.prior.todays_rate().bound(z)
        n, k = self.baseline_requests, self.baseline_errors
        if n <= 0:
            return math.nan
        return math.exp(math.log((k + 0.5) / n) + z / math.sqrt(k + 0.5))

    def _regression(self, base: float) -> float:
        c = self.config
        if self.margin is not None:
            return base * self.margin
        return base + max(base * c.regression_relative, c.regression_absolute)

    @property
    def passing(self) -> bool:
        """Whether the pass tests bet yet: with a traffic-decided margin, only once it is fixed."""
        return not self.config.margin_ladder or self.margin is not None

    def _decide_margin(self) -> None:
        """The smallest ratio of the ladder whose pass test the coming traffic can settle in time: Wald's
        expected requests, ln(1/beta) / (p (m - 1 - ln m)), inflated by the overdispersion of a period's
        count, within `margin_traffic_share` of the requests `decision_periods` periods bring."""
        c = self.config
        rate = self.current_estimate()
        per_period = self.requests / max(self.periods, 1)
        available = c.margin_traffic_share * per_period * c.decision_periods
        inflation = 1 + rate * per_period * self.c2
        for m in sorted(c.margin_ladder):
            needed = math.log(1 / c.beta) * inflation / (rate * (m - 1 - math.log(m)))
            if needed <= available:
                self.margin = m
                return
        self.margin = max(c.margin_ladder)

    def _prepare(self) -> None:
        c = self.config
        if c.margin_ladder and self.margin is None and self.periods >= c.margin_periods:
            self._decide_margin()
        high = self._baseline_bound(self.z_fail)
        low = self._baseline_bound(-self.z_pass)
        self.null_rate = (
            high * (1 + c.tolerance_relative) + c.tolerance_absolute if high == high else math.nan
        )
        self.regression_rate = self._regression(0.0 if low != low else low)
        if self.margin is not None:
            self.pass_ratio = self.margin
            return
        estimate = self._baseline_bound(0.0)
        if estimate == estimate and estimate > 0:
            self.pass_ratio = 1 + max(c.regression_relative, c.regression_absolute / estimate)

    # -- one period ------------------------------------------------------------------------------------------

    def observe(self, n: int, x: int, baseline_n: int, y: int) -> None:
        self._prepare()
        self._split(n, x, baseline_n, y)
        if self.passing:
            self._count(n, x)
        if self.prior is not None:
            self._history(n, x)
            self.prior.add_baseline(baseline_n, y)
        self.baseline_requests += baseline_n
        self.baseline_errors += y
        self.periods += 1
        self.requests += n + baseline_n

    def _split(self, n: int, x: int, baseline_n: int, y: int) -> None:
        c = self.config
        psi0 = 1 + c.tolerance_relative
        ratios = [*c.alternatives, max(self.pass_ratio / psi0, 1.1)]
        if n == 0 or baseline_n == 0:
            self.split_fail.add([0.0] * len(ratios))
            return
        w = n / (n + baseline_n)
        s = x + y

        def share(psi: float) -> float:
            return w * psi / (w * psi + 1 - w)

        q0 = share(psi0)
        self.split_fail.add(bb_log_lrs(x, s, [share(psi0 * r) for r in ratios], q0, self.c2))
        if self.passing:
            self.log_split_pass += bb_log_lr(x, s, share(1.0), share(self.pass_ratio), self.c2)

    def _count(self, n: int, x: int) -> None:
        """The canary's own count against the absolute margin, whatever the baseline (pass only)."""
        q = self._regression(max(0.0, self._concurrent_low()))
        if n == 0 or q >= 1:
            return
        for j, r in enumerate(self.config.count_ratios):
            self.log_count_pass[j] += _lower_rate_log_lr(x, n * q, r, self.c2)

    def _concurrent_low(self) -> float:
        n, k = self.baseline_requests, self.baseline_errors
        if n <= 0:
            return 0.0
        return max(0.0, k + 0.5 - 2 * math.sqrt(k + 0.5)) / n

    def _history(self, n: int, x: int) -> None:
        c = self.config
        ratios = [*c.alternatives, self.margin_multiple]
        if n == 0 or not self.null_rate < 1:
            self.history_fail.add([0.0] * len(ratios))
            return
        expected = n * self.null_rate
        self.history_fail.add([nb_log_lr(x, expected, r, self.c2) for r in ratios])
        if c.onset_first_weight < 1:
            self.windows.append([0.0, 0.0])
        for window in self.windows:
            window[0] += x
            window[1] += expected
        q = self.regression_rate
        if q < 1 and self.passing:
            for j, r in enumerate(c.count_ratios):
                self.log_history_pass[j] += _lower_rate_log_lr(x, n * q, r, self.c2)

    # -- reading ---------------------------------------------------------------------------------------------

    @property
    def margin_multiple(self) -> float:
        if not self.null_rate > 0:
            return 1.1
        return max(self.regression_rate / self.null_rate, 1.1)

    def _prior(self, margin_weight: float) -> list[float]:
        c = self.config
        share = (1 - margin_weight) / len(c.alternatives)
        return [share] * len(c.alternatives) + [margin_weight]

    def log_fail_split(self) -> float:
        return self.split_fail.log_e_value(self._prior(self.config.margin_weight))

    def log_fail_history(self) -> float | None:
        if self.prior is None:
            return None
        return self.history_fail.log_e_value(self._prior(self.config.margin_weight))

    def log_pass_count(self) -> float:
        return _log_mix(self.config.count_weights, self.log_count_pass)

    def log_pass_history(self) -> float | None:
        if self.prior is None:
            return None
        return _log_mix(self.config.count_weights, self.log_history_pass)

    def likeliest_window(self) -> tuple[float, float]:
        """(canary errors, errors expected at the null) since the start the history test finds likeliest:
        what the ramp reads the worst plausible regression off."""
        if not self.windows:
            return 0.0, 0.0

        def support(window: list[float]) -> float:
            k, e = window
            r = max(1.0, k / e) if e > 0 else 1.0
            return k * math.log(r) - (r - 1) * e

        return tuple(max(self.windows, key=support))  # type: ignore[return-value]

    def history_evidence(self, weight: float) -> HistoryEvidence | None:
        if self.prior is None:
            return None
        prior = self.prior
        today = prior.todays_rate()
        k, e = self.likeliest_window()
        rise = _drift_log_lr(prior.baseline_errors, prior.baseline_requests, prior.prior_rate, rising=True)
        fall = _drift_log_lr(prior.baseline_errors, prior.baseline_requests, prior.prior_rate, rising=False)
        return HistoryEvidence(
            requests=prior.history.requests,
            errors_5xx=prior.history.errors_5xx,
            error_rate=prior.rate,
            rate_low=today.bound(-self.z_pass),
            rate_high=today.bound(self.z_fail),
            null_rate=self.null_rate,
            regression_rate=self.regression_rate,
            weight=weight,
            fail=self.trusts,
            drift_rise_e_value=math.exp(min(rise, 700.0)),
            drift_fall_e_value=math.exp(min(fall, 700.0)),
            canary_errors_5xx=int(k),
            null_expected_errors=e,
        )

    def current_estimate(self) -> float:
        estimate = self._baseline_bound(0.0)
        if estimate == estimate:
            return estimate
        return 0.5 / max(self.baseline_requests, 1)


def _lower_rate_log_lr(x: int, expected_at_q: float, r: float, c2: float) -> float:
    """Evidence against "rate >= q" from betting on the rate r * q < q (-inf once an error refutes r = 0)."""
    if r <= 0:
        return -math.inf if x else -_clean_log(expected_at_q, c2)
    return nb_log_lr(x, expected_at_q, r, c2)


def _clean_log(expected: float, c2: float) -> float:
    """-log P(0 errors | mean `expected`) under the negative binomial."""
    if c2 <= 0:
        return -expected
    return -math.log1p(expected * c2) / c2


def _log_mix(weights: tuple[float, ...], logs: list[float]) -> float:
    live = [(w, lg) for w, lg in zip(weights, logs, strict=True) if w > 0 and lg > -math.inf]
    if not live:
        return -math.inf
    top = max(lg for _, lg in live)
    return top + math.log(sum(w * math.exp(lg - top) for w, lg in live))


def _drift_log_lr(errors: int, requests: int, rate: float, rising: bool) -> float:
    """The concurrent baseline's log likelihood ratio for its own rate against the history's (0 when it is
    on the other side): how strongly it says today's rate rose (or fell)."""
    if requests <= 0 or rate <= 0:
        return 0.0
    own = errors / requests
    if (own <= rate) if rising else (own >= rate):
        return 0.0
    if own <= 0:
        return rate * requests
    return errors * math.log(own / rate) - (own - rate) * requests

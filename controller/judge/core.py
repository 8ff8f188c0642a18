"""The Judge: accumulates evidence period by period and answers CONTINUE, PASS or FAIL.

The split, count and history tests are described in the package docstring (controller/judge/__init__.py).
"""

from __future__ import annotations

import math
from dataclasses import replace

from controller.domain import (
    Alternative,
    BaselineHistory,
    Evidence,
    HistoryEvidence,
    Judgement,
    Verdict,
    WindowStats,
)
from controller.judge.concurrent import ConcurrentTests
from controller.judge.config import COUNT_SHARE, LASTING_WIDEST_RATIO, JudgeConfig
from controller.judge.history import HISTORY_COUNT_WEIGHTS, HistoryTests
from controller.judge.horizon import PeriodTraffic
from controller.judge.latency import LatencyState
from controller.judge.limit_test import LimitPeriod, LimitTestResult, limit_test
from controller.judge.margin import MarginPlanner
from controller.judge.noise import read_noise
from controller.judge.outliers import Outliers
from controller.judge.slow import SlowRequestTest


class Judge:
    """Accumulates evidence period by period; see the module docstring for the tests it runs."""

    def __init__(self, config: JudgeConfig | None = None, history: BaselineHistory | None = None) -> None:
        self.config = config or JudgeConfig()
        c = self.config
        usable = history is not None and history.requests >= c.history_min_requests and c.history_weight > 0
        # The noise every test carries, and what the history tests carry (controller/judge/noise.py).
        periods = history.per_period if history is not None else ()
        self.noise = read_noise(c, periods, usable)
        self.c2 = self.noise.c2  # read in every period's likelihoods
        self.history = (
            HistoryTests(c, history, self.noise.history_c2, self.noise.outlier_share)
            if usable and history is not None
            else None
        )
        self._history_weight = c.history_weight if self.history else 0.0
        spent = c.history_bound_share if self.history else 0.0
        self._history_fail_weight = self._history_weight if c.history_fail else 0.0
        self.fail_threshold = 1 / (c.alpha * (1 - (spent if c.history_fail else 0.0)))
        self.pass_threshold = 1 / (c.beta * (1 - spent))
        self.periods = 0
        self.canary_requests = 0
        self.canary_errors = 0
        self.canary_errors_4xx = 0
        self.baseline_requests = 0
        self.baseline_errors = 0
        self.baseline_errors_4xx = 0
        # The pass margin's parts for the coming period, as planned for the time limit (_plan_pass_margin).
        self._pass_relative = c.regression_relative
        self._pass_absolute = c.regression_absolute
        self.concurrent = ConcurrentTests(c, self.c2, self._pass_relative, self._pass_absolute)
        self.widest_pass_relative = c.regression_relative
        self._traffic: list[PeriodTraffic] = []
        # What the plan must reach: the pass threshold over the weight of the test it models (the history
        # count test's main bet with a history, the split test without).
        if self.history is not None:
            planned_weight = self._history_weight * max(HISTORY_COUNT_WEIGHTS)
        else:
            planned_weight = 1 - COUNT_SHARE
        # Under lasting noise 2x may be out of reach in time: the plan may widen the margin past it.
        planned = (
            replace(c, widest_regression_ratio=max(c.widest_regression_ratio, LASTING_WIDEST_RATIO))
            if self.carries_lasting_noise
            else c
        )
        self._margin = MarginPlanner(
            planned, self.history, self.noise.history_c2, math.log(self.pass_threshold / planned_weight)
        )
        self._latency = LatencyState()
        self.slow = SlowRequestTest(c) if c.latency_slow_alpha is not None else None
        # What the time-limit test reads (controller/judge/limit_test.py), period by period.
        self._limit_periods: list[LimitPeriod] = []
        self._final: Judgement | None = None

    @property
    def carries_lasting_noise(self) -> bool:
        """Whether the history's noise lasts and the tests carry it (JudgeConfig.lasting_noise)."""
        return self.noise.carries_lasting_noise

    @property
    def history_c2(self) -> float:
        """The noise the history tests carry: the periods' other than the censored outliers'."""
        return self.noise.history_c2

    @property
    def outliers(self) -> Outliers:
        """The history's periods its noise model cannot explain (spikes)."""
        return self.noise.outliers

    @property
    def caps_outliers(self) -> bool:
        """Whether the history tests censor each period's ratio for the outliers' share."""
        return self.noise.caps_outliers

    @property
    def uses_history(self) -> bool:
        """Whether the judge uses the baseline history (given one of at least history_min_requests)."""
        return self.history is not None

    @property
    def trusts_history(self) -> bool:
        """Whether the fail test uses the baseline history (history_fail, and a history long enough)."""
        return self._history_fail_weight > 0

    # -- evidence -----------------------------------------------------------------------------------------

    def _null_ratio(self) -> float:
        """psi0 for the coming period (the split fail test's null ratio)."""
        return self.concurrent.null_ratio(self.baseline_errors, self.baseline_requests)

    def _plan_pass_margin(self) -> tuple[float, float]:
        """The pass margin for the coming period, planned for the time limit (controller/judge/margin.py)."""
        return self._margin.plan(
            self._traffic,
            self.periods,
            self._baseline_estimate(),
            self.baseline_errors,
            self.baseline_requests,
        )

    @property
    def fail_split_e_value(self) -> float:
        """The split test's evidence against "canary no worse than tolerance"."""
        return self.concurrent.fail_split_e_value

    @property
    def fail_history_e_value(self) -> float | None:
        """The history test's evidence against "canary no worse than tolerance" (None without history)."""
        if self.history is None:
            return None
        return math.exp(min(self.history.log_fail_e_value, 700.0))

    @property
    def fail_e_value(self) -> float:
        """Evidence against "canary no worse than tolerance" from both fail tests; FAIL at fail_threshold."""
        h = self._history_fail_weight
        return (1 - h) * self.fail_split_e_value + h * (self.fail_history_e_value or 0.0)

    @property
    def pass_split_e_value(self) -> float:
        """The split test's evidence against "canary is a regression worth catching"."""
        return self.concurrent.pass_split_e_value

    @property
    def pass_count_e_value(self) -> float:
        """The count test's evidence against "canary rate >= q" (0 once every alternative is refuted)."""
        return self.concurrent.pass_count_e_value

    @property
    def pass_history_e_value(self) -> float | None:
        """The history count test's evidence against "canary is a regression" (None without history)."""
        if self.history is None:
            return None
        return math.exp(max(min(self.history.log_pass_e_value, 700.0), -700.0))

    @property
    def pass_e_value(self) -> float:
        """Evidence against "canary is a regression worth catching" from all pass tests; PASS at
        pass_threshold."""
        h = self._history_weight
        concurrent = (1 - COUNT_SHARE) * self.pass_split_e_value + COUNT_SHARE * self.pass_count_e_value
        return (1 - h) * concurrent + h * (self.pass_history_e_value or 0.0)

    def _update_errors(self, canary: WindowStats, baseline: WindowStats) -> None:
        x = min(canary.errors_5xx, canary.requests)
        y = min(baseline.errors_5xx, baseline.requests)
        margin = (self._pass_relative, self._pass_absolute)
        totals = (self.baseline_errors, self.baseline_requests)
        self.concurrent.observe((canary.requests, x), (baseline.requests, y), totals, *margin)
        share = canary.requests / (canary.requests + baseline.requests) if baseline.requests else None
        psi_pass = self.concurrent.psi_pass
        self._limit_periods.append(LimitPeriod(self.periods, canary.requests, x, x + y, share, psi_pass))
        if self.history is not None:
            self.history.observe(canary.requests, x, baseline.requests, y, *margin)

    # -- verdict ------------------------------------------------------------------------------------------

    def observe(self, canary: WindowStats, baseline: WindowStats) -> Judgement:
        """Add one metric period of both versions and judge everything seen so far."""
        if self._final is not None:
            return self._final
        self.periods += 1
        self.canary_requests += canary.requests
        self.canary_errors += min(canary.errors_5xx, canary.requests)
        self.canary_errors_4xx += canary.errors_4xx
        self.baseline_requests += baseline.requests
        self.baseline_errors += min(baseline.errors_5xx, baseline.requests)
        self.baseline_errors_4xx += baseline.errors_4xx
        self._update_errors(canary, baseline)
        self._traffic.append(PeriodTraffic(canary.requests, baseline.requests))
        self._pass_relative, self._pass_absolute = self._plan_pass_margin()
        self.widest_pass_relative = max(self.widest_pass_relative, self._pass_relative)
        self._latency.observe(self.config, canary, baseline)
        if self.slow is not None and canary.slow_requests is not None and baseline.slow_requests is not None:
            self.slow.observe(
                (canary.requests, canary.slow_requests), (baseline.requests, baseline.slow_requests)
            )
        judgement = self._judge()
        if judgement.verdict is not Verdict.CONTINUE:
            self._final = judgement
        return judgement

    def _rates(self) -> tuple[float | None, float | None]:
        canary = self.canary_errors / self.canary_requests if self.canary_requests else None
        base = self.baseline_errors / self.baseline_requests if self.baseline_requests else None
        return canary, base

    def _alternatives(self) -> tuple[Alternative, ...]:
        """Each regression the fail test bets on (ratio as a multiple of psi0) and its log-likelihood ratio
        against "no worse". With a trusted history, the history test's (multiples of its null rate), which
        is the one that decides."""
        if self.history is not None and self.trusts_history:
            hist = self.history
            ratios = [*self.config.alternatives, hist.margin_multiple]
            logs = [*hist.log_fail, hist.log_margin]
            return tuple(Alternative(m, lf) for m, lf in zip(ratios, logs, strict=True))
        tests = self.concurrent
        out = [Alternative(m, lf) for m, lf in zip(self.config.alternatives, tests.log_fail, strict=True)]
        psi0 = self._null_ratio()
        if self.config.margin_weight > 0 and math.isfinite(psi0):
            out.append(Alternative(max(tests.psi_margin / psi0, 1.1), tests.log_margin))
        return tuple(out)

    def evidence(self) -> Evidence:
        """Everything the verdict rests on."""
        return Evidence(
            periods=self.periods,
            canary_requests=self.canary_requests,
            canary_errors_5xx=self.canary_errors,
            canary_errors_4xx=self.canary_errors_4xx,
            baseline_requests=self.baseline_requests,
            baseline_errors_5xx=self.baseline_errors,
            baseline_errors_4xx=self.baseline_errors_4xx,
            fail_e_value=self.fail_e_value,
            fail_threshold=self.fail_threshold,
            pass_e_value=self.pass_e_value,
            pass_threshold=self.pass_threshold,
            pass_margin_ratio=self.concurrent.psi_pass,
            null_ratio=self._null_ratio() if not self._history_fail_weight else self._history_null_ratio(),
            baseline_rate_estimate=self._baseline_estimate(),
            alternatives=self._alternatives(),
            latency=self._latency.evidence(),
            history=None if self.history is None else self._history_evidence(),
            components=tuple(
                (name, value)
                for name, value in (
                    ("fail_split", self.fail_split_e_value),
                    ("fail_history", self.fail_history_e_value),
                    ("pass_split", self.pass_split_e_value),
                    ("pass_count", self.pass_count_e_value),
                    ("pass_history", self.pass_history_e_value),
                    ("pass_count_rate", self.concurrent.count_rate),
                    ("fail_slow", self.slow.e_value if self.slow is not None and self.slow.periods else None),
                )
                if value is not None
            ),
        )

    def _baseline_estimate(self) -> float:
        """The baseline's error rate for sizing decisions (the ramp): history-informed when available."""
        if self.history is not None:
            return self.history.current_estimate()
        return (self.baseline_errors + 0.5) / max(self.baseline_requests, 1)

    def _history_null_ratio(self) -> float:
        assert self.history is not None
        return self.history.null_rate / max(self._baseline_estimate(), 1e-12)

    def _history_evidence(self) -> HistoryEvidence:
        assert self.history is not None
        hist = self.history
        return HistoryEvidence(
            requests=hist.history.requests,
            errors_5xx=hist.history.errors_5xx,
            error_rate=hist.rate,
            rate_low=hist.low,
            rate_high=hist.high,
            null_rate=hist.null_rate,
            regression_rate=hist.regression_rate,
            weight=self._history_weight,
            fail=self.trusts_history,
            drift_rise_e_value=math.exp(min(hist.log_rise_e_value, 700.0)),
            drift_fall_e_value=math.exp(min(hist.log_fall_e_value, 700.0)),
            canary_errors_5xx=hist.canary_errors,
            null_expected_errors=hist.null_expected_errors,
        )

    def _judge(self) -> Judgement:
        c = self.config
        ev = self.evidence()
        canary_rate, base_rate = self._rates()
        rates = f"canary 5XX {_pct(canary_rate)} of {self.canary_requests} vs baseline {_pct(base_rate)}"
        if ev.fail_e_value >= self.fail_threshold:
            return Judgement(
                Verdict.FAIL,
                f"{rates}: evidence {ev.fail_e_value:.0f} against 'no worse' reached "
                f"{self.fail_threshold:.0f} (false-rollback rate {c.alpha:g}).",
                ev,
            )
        if self.slow is not None and self.slow.failed:
            return Judgement(Verdict.FAIL, self.slow.reason(), ev)
        lat = self._latency
        if lat.severe is not None or lat.streak >= c.latency_breach_periods:
            worst = lat.worst_breach()
            assert worst is not None
            limit, how_long = (
                ("one-period limit", "") if lat.severe else ("limit", f" for {lat.streak} periods in a row")
            )
            return Judgement(
                Verdict.FAIL,
                f"canary {worst.name} {worst.canary_ms:.0f} ms above the {worst.limit_ms:.0f} ms {limit} "
                f"(baseline {worst.baseline_ms:.0f} ms){how_long}.",
                ev,
            )
        missing = []
        regression = f"{self.concurrent.psi_pass:.2g}x worse or at {_pct(self.concurrent.count_rate)} 5XX"
        if self.history is not None:
            regression = (
                f"at {_pct(self.history.regression_rate)} 5XX or worse (baseline history "
                f"{_pct(self.history.rate)} of {self.history.history.requests})"
            )
        if self._pass_absolute < c.regression_absolute:
            regression += (
                f"; from the next period the margin is {1 + self._pass_relative:.3g}x, not "
                f"{1 + c.regression_relative:g}x or {c.regression_absolute:.2%} more: the traffic left "
                "resolves it before the time limit"
            )
        elif self._pass_relative > c.regression_relative + 1e-9:
            noise = ", under the live version's lasting noise," if self.carries_lasting_noise else ""
            regression += (
                f"; the time limit widens the margin to {1 + self._pass_relative:.2g}x from the next period: "
                f"the traffic left{noise} cannot resolve {1 + c.regression_relative:g}x"
            )
        if self.periods < c.min_periods:
            missing.append(f"{self.periods}/{c.min_periods} periods")
        if self.canary_requests < c.min_canary_requests:
            missing.append(f"{self.canary_requests}/{c.min_canary_requests} canary requests")
        if lat.clean_periods == 0 or lat.last_judged_clean is not True:
            missing.append("a clean latency period" if lat.streak == 0 else "latency back under its limit")
        if not missing and ev.pass_e_value >= self.pass_threshold:
            return Judgement(
                Verdict.PASS,
                f"{rates}: evidence {ev.pass_e_value:.0f} that it is not {regression} "
                f"(missed-regression rate {c.beta:g}), latency within limits.",
                ev,
            )
        if not missing and self.at_time_limit:
            result = self.time_limit_test()
            if result.passed:
                return Judgement(
                    Verdict.PASS,
                    f"{rates}: at the time limit, a canary {regression} would have erred more "
                    f"(fixed-sample test: p = {result.p:.2g} under {result.level:g}), latency within limits.",
                    ev,
                )
        if ev.pass_e_value < self.pass_threshold:
            missing.insert(
                0, f"evidence {ev.pass_e_value:.1f}/{self.pass_threshold:.0f} that it is not {regression}"
            )
        return Judgement(Verdict.CONTINUE, f"{rates}; still needs " + ", ".join(missing) + ".", ev)

    @property
    def at_time_limit(self) -> bool:
        """Whether this is the last period the time limit lets the judge read, with a time-limit test."""
        c = self.config
        limited = c.limit_beta is not None and c.horizon_periods is not None
        return limited and self.periods == c.horizon_periods

    def time_limit_test(self) -> LimitTestResult:
        """The one fixed-sample test of "a regression at the pass margin" (controller/judge/limit_test.py),
        over the whole rollout and its second half: the split form, and the history form unless the drift
        watch saw today's baseline fall."""
        c = self.config
        assert c.limit_beta is not None and c.horizon_periods is not None
        history_rate = None
        if self.history is not None and self.history.log_fall_e_value <= 0:
            history_rate = self.history.regression_rate
        return limit_test(self._limit_periods, self.c2, c.limit_beta, c.horizon_periods, history_rate)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.2%}"

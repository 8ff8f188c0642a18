"""The judge over the robust tests (controller/judge/robust.py): the same contract as `Judge`."""

from __future__ import annotations

import math

from controller.domain import Alternative, BaselineHistory, Evidence, Judgement, Verdict, WindowStats
from controller.judge.config import COUNT_SHARE, JudgeConfig
from controller.judge.latency import LatencyState
from controller.judge.latency_test import LatencyEProcess
from controller.judge.robust import RobustErrorTests

# The fail e-process is errors' and latency's averaged with these weights (an average of e-processes is one).
LATENCY_SHARE = 0.25

# The log-uniform prior's grid: ratios from 1.25 to 100, each a factor ~1.6 from the next.
LOG_UNIFORM_ALTERNATIVES: tuple[float, ...] = tuple(round(1.25 * 1.6**i, 3) for i in range(10))


def robust_config(**overrides: object) -> JudgeConfig:
    """The robust judge's defaults: a log-uniform prior over regressions, the margin weighted like one of
    the grid's points."""
    n = len(LOG_UNIFORM_ALTERNATIVES)
    margin = 1 / (n + 1)
    base = {
        "alternatives": LOG_UNIFORM_ALTERNATIVES,
        "weights": tuple([(1 - margin) / n] * n),
        "margin_weight": margin,
        "margin_ladder": (1.3, 1.5, 2.0, 3.0, 5.0),
    }
    return JudgeConfig(**{**base, **overrides})  # type: ignore[arg-type]


class RobustJudge:
    """Accumulates evidence period by period; answers CONTINUE, PASS or FAIL (final once decided)."""

    def __init__(self, config: JudgeConfig | None = None, history: BaselineHistory | None = None) -> None:
        self.config = config or robust_config()
        c = self.config
        usable = history is not None and history.requests >= c.history_min_requests and c.history_weight > 0
        self.tests = RobustErrorTests(c, history if usable else None, c.history_fail)
        self._history_weight = c.history_weight if self.tests.prior is not None else 0.0
        self._history_fail_weight = self._history_weight if self.tests.trusts else 0.0
        self.fail_threshold = 1 / c.alpha
        self.pass_threshold = 1 / c.beta
        self.periods = 0
        self.canary_requests = self.canary_errors = self.canary_errors_4xx = 0
        self.baseline_requests = self.baseline_errors = self.baseline_errors_4xx = 0
        self._latency = LatencyState()
        self._slow = LatencyEProcess(c.onset_first_weight, c.onset_horizon)
        self._cache: dict[str, float] = {}  # e-values of the latest period, computed once
        self._final: Judgement | None = None

    @property
    def uses_history(self) -> bool:
        return self.tests.prior is not None

    @property
    def trusts_history(self) -> bool:
        return self._history_fail_weight > 0

    @property
    def history(self) -> object | None:
        return self.tests.prior

    # -- e-values --------------------------------------------------------------------------------------

    @property
    def errors_fail_e_value(self) -> float:
        cached = self._cache.get("errors")
        if cached is not None:
            return cached
        h = self._history_fail_weight
        split = math.exp(min(self.tests.log_fail_split(), 700.0))
        history = self.tests.log_fail_history()
        value = (1 - h) * split + h * (math.exp(min(history, 700.0)) if history is not None else 0.0)
        self._cache["errors"] = value
        return value

    @property
    def latency_fail_e_value(self) -> float:
        cached = self._cache.get("latency")
        if cached is None:
            cached = self._cache["latency"] = math.exp(min(self._slow.log_e_value(), 700.0))
        return cached

    @property
    def fail_e_value(self) -> float:
        return (1 - LATENCY_SHARE) * self.errors_fail_e_value + LATENCY_SHARE * self.latency_fail_e_value

    @property
    def pass_e_value(self) -> float:
        h = self._history_weight
        split = math.exp(max(min(self.tests.log_split_pass, 700.0), -700.0))
        count = math.exp(min(self.tests.log_pass_count(), 700.0))
        history = self.tests.log_pass_history()
        concurrent = (1 - COUNT_SHARE) * split + COUNT_SHARE * count
        return (1 - h) * concurrent + h * (math.exp(min(history, 700.0)) if history is not None else 0.0)

    # -- one period ------------------------------------------------------------------------------------

    def observe(self, canary: WindowStats, baseline: WindowStats) -> Judgement:
        if self._final is not None:
            return self._final
        self.periods += 1
        self._cache.clear()
        x = min(canary.errors_5xx, canary.requests)
        y = min(baseline.errors_5xx, baseline.requests)
        self.canary_requests += canary.requests
        self.canary_errors += x
        self.canary_errors_4xx += canary.errors_4xx
        self.baseline_requests += baseline.requests
        self.baseline_errors += y
        self.baseline_errors_4xx += baseline.errors_4xx
        self.tests.observe(canary.requests, x, baseline.requests, y)
        self._latency.observe(self.config, canary, baseline)
        self._slow.observe(canary, baseline)
        judgement = self._judge()
        if judgement.verdict is not Verdict.CONTINUE:
            self._final = judgement
        return judgement

    def evidence(self) -> Evidence:
        t = self.tests
        trusted = self.trusts_history
        mixture = t.history_fail if trusted else t.split_fail
        ratios = [*self.config.alternatives, t.margin_multiple if trusted else max(t.pass_ratio, 1.1)]
        null_ratio = (
            t.null_rate / max(t.current_estimate(), 1e-12) if trusted else 1 + self.config.tolerance_relative
        )
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
            pass_margin_ratio=t.pass_ratio,
            null_ratio=null_ratio,
            baseline_rate_estimate=t.current_estimate(),
            alternatives=tuple(Alternative(r, mixture.best(i)) for i, r in enumerate(ratios)),
            latency=self._latency.evidence(),
            history=t.history_evidence(self._history_weight),
            components=(
                ("overdispersion_c2", t.c2),
                ("fail_errors", self.errors_fail_e_value),
                ("fail_latency", self.latency_fail_e_value),
            ),
        )

    def _judge(self) -> Judgement:
        c = self.config
        ev = self.evidence()
        rates = (
            f"canary 5XX {_pct(ev.canary_error_rate)} of {self.canary_requests} vs baseline "
            f"{_pct(ev.baseline_error_rate)}"
        )
        if ev.fail_e_value >= self.fail_threshold:
            slow = self.latency_fail_e_value * LATENCY_SHARE > self.errors_fail_e_value * (1 - LATENCY_SHARE)
            what = (
                f"canary tail slower than the baseline's (~{self._slow.last_excess or 0:.1f}x its share "
                "above the baseline's p99/p90)"
                if slow
                else rates
            )
            return Judgement(
                Verdict.FAIL,
                f"{what}: evidence {ev.fail_e_value:.0f} against 'no worse' reached "
                f"{self.fail_threshold:.0f} (false-rollback rate {c.alpha:g})",
                ev,
            )
        missing = []
        if ev.pass_e_value < self.pass_threshold:
            missing.append(
                f"evidence {ev.pass_e_value:.1f}/{self.pass_threshold:.0f} that it is no regression"
            )
        if self.periods < c.min_periods:
            missing.append(f"{self.periods}/{c.min_periods} periods")
        if self.canary_requests < c.min_canary_requests:
            missing.append(f"{self.canary_requests}/{c.min_canary_requests} canary requests")
        if self._slow.periods == 0 or self.latency_fail_e_value > 1:
            missing.append("a latency tail no heavier than the baseline's")
        if not missing:
            return Judgement(
                Verdict.PASS,
                f"{rates}: evidence {ev.pass_e_value:.0f} that it is no regression (missed-regression "
                f"rate {c.beta:g}), latency within limits",
                ev,
            )
        return Judgement(Verdict.CONTINUE, f"{rates}; still needs " + ", ".join(missing), ev)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.2%}"

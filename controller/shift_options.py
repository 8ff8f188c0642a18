"""What one `shift` was asked to do, validated by `cli` before any AWS call."""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.engine_io import (
    CONFIRM_PROMOTION,
    CONFIRM_ROLLOUT,
    ON_ROLLBACK,
    POST_PROMOTION,
    POST_STEP,
    PRE_TRAFFIC,
)
from controller.errors import UsageError
from controller.guard import GuardSettings, guard_settings
from controller.hooks import DEFAULT_HOOK_TIMEOUT_S, DEFAULT_WEBHOOK_RETRIES
from controller.judge import JudgeConfig
from controller.judge.config import horizon_periods_for, min_periods_for
from controller.strategies import Policy
from controller.user_gates import UserGate


def _relative(ratio: float | None) -> float | None:
    """1.45 -> 0.45 without the float residue that would make two equal configurations differ."""
    return None if ratio is None else round(ratio - 1, 9)


DEFAULT_LATENCY_SEVERE_RATIO = (
    None if JudgeConfig.latency_severe_relative is None else round(1 + JudgeConfig.latency_severe_relative, 9)
)

# The judge's baseline history: a day covers the daily cycle of most services and is one cheap
# GetMetricData (4 series x 1,440 one-minute sums).
DEFAULT_BASELINE_HISTORY_S = 24 * 3600.0
DEFAULT_APPROVAL_TIMEOUT_S = 3600.0  # an hour: a person sees the notification and answers, else roll back
DEFAULT_GUARD_S = 600.0  # `--guard` without a length: ten minutes, ten one-minute CloudWatch periods
# Without `--guard`, an adaptive rollout guards its promotion this many metric periods: a regression that
# starts in the last period before the promotion is out of any canary judge's reach, and only a watch
# after it can catch it (docs/judge.md, "Late regressions").
DEFAULT_ADAPTIVE_GUARD_PERIODS = 10


def default_guard_s(adaptive: bool, period_s: float) -> float:
    """The guard a `shift` without `--guard` runs: ten metric periods under the judge's adaptive strategy,
    none on fixed steps (whose last step's bake is the user's own watch)."""
    return DEFAULT_ADAPTIVE_GUARD_PERIODS * period_s if adaptive else 0.0


@dataclass(frozen=True)
class JudgeMargin:
    """The smallest regression the judge must not pass: a ratio to the baseline's 5XX rate, or a rise of
    the rate, whichever is larger (JudgeConfig.regression_relative + 1, regression_absolute); and how far
    below it the judge may narrow where the traffic resolves that (JudgeConfig.narrowest_regression_ratio)."""

    ratio: float = 1 + JudgeConfig.regression_relative
    increase: float = JudgeConfig.regression_absolute
    narrowest: float | None = JudgeConfig.narrowest_regression_ratio  # None: never below the margin (off)

    @classmethod
    def from_flags(
        cls, ratio: float | None, increase: float | None, narrowest: float | None = None
    ) -> JudgeMargin:
        """From `--regression-ratio`, `--regression-increase` and `--narrowest-ratio` (None: not given; 0:
        `off`); UsageError if wrong. The default narrowing comes with the default margin only: a margin the
        user chose is the narrowest unless `--narrowest-ratio` is given too."""
        if narrowest is None:
            narrowest = cls.narrowest if ratio is None and increase is None else None
        elif narrowest == 0:  # off
            narrowest = None
        margin = cls(
            cls.ratio if ratio is None else ratio, cls.increase if increase is None else increase, narrowest
        )
        if margin.narrowest is not None and not 1 < margin.narrowest <= 100:
            raise UsageError(
                f"--narrowest-ratio {margin.narrowest:g} must be above 1 and at most 100, e.g. 1.3 (at or "
                "above --regression-ratio: never narrower than the margin)"
            )
        if not 1 < margin.ratio <= 100:
            raise UsageError(f"--regression-ratio {margin.ratio:g} must be above 1 and at most 100, e.g. 1.5")
        if not 0 < margin.increase < 1:
            raise UsageError(
                f"--regression-increase {margin.increase:g} must be above 0 and under 100%, e.g. 0.1%"
            )
        return margin


@dataclass(frozen=True)
class ShiftOptions:
    policy: Policy
    pre_traffic: str | None = None
    post_step: str | None = None
    confirm_rollout: str | None = None  # each hook point: a shell command or an http(s) webhook
    confirm_promotion: str | None = None
    post_promotion: str | None = None
    on_rollback: str | None = None
    hook_retries: int = DEFAULT_WEBHOOK_RETRIES  # a webhook's retries after the first attempt
    approval: bool = False  # --approval before-promotion: hold at the last step until `approve`
    approval_timeout_s: float = DEFAULT_APPROVAL_TIMEOUT_S
    guard_s: float = 0.0  # --guard: judge the promoted release this long; undo it on a regression
    guard_slow: bool = False  # --guard-slow: the guard judges the promoted release's slow requests too
    guard_keep_percent: float = 0.0  # --guard-keep: the former version's share beside it while guarding
    on_interrupt: str = "rollback"  # or "leave"
    dry_run: bool = False
    hook_timeout_s: float = DEFAULT_HOOK_TIMEOUT_S
    metrics_lag_s: float | None = None  # None: one metric period (CloudWatch publishes with a delay)
    baseline_history_s: float = DEFAULT_BASELINE_HISTORY_S  # 0: give the judge no history
    trust_history: bool = True  # the judge's fail test may use the history (JudgeConfig.history_fail)
    lasting_noise: bool = True  # --lasting-noise: the judge carries the history's lasting noise
    outlier_cap: bool = True  # --outliers: the judge caps each period's evidence for the history's spikes
    min_observation_s: float = 0.0  # --min-observation: the judge passes no sooner (0: its min_periods)
    margin: JudgeMargin = JudgeMargin()  # --regression-ratio, --regression-increase, --narrowest-ratio
    fixed_margin: bool = False  # --fixed-margin: no planning of the margin for the time limit
    latency_ratio: float = 1 + JudgeConfig.latency_tolerance_relative  # --latency-ratio
    latency_severe_ratio: float | None = DEFAULT_LATENCY_SEVERE_RATIO  # --latency-severe-ratio (None: off)
    limit_beta: float | None = JudgeConfig.limit_beta  # --limit-test: the time limit's last look (None: off)
    slow_threshold_ms: float | None = None  # --slow-ms (None: the live version's p99 over its history)
    slow_test: bool = True  # --slow-ms off: no slow-request test
    judge: bool = True  # the statistical judge is one of the gates
    user_gates: tuple[UserGate, ...] = ()  # a gates file's gates (placeholders not yet filled)
    gate_alarms: tuple[str, ...] = ()  # --gate-alarm: more alarms that roll back while in ALARM

    @property
    def hooks(self) -> dict[str, str]:
        """The configured hook points and their commands."""
        configured = {
            CONFIRM_ROLLOUT: self.confirm_rollout,
            PRE_TRAFFIC: self.pre_traffic,
            POST_STEP: self.post_step,
            CONFIRM_PROMOTION: self.confirm_promotion,
            POST_PROMOTION: self.post_promotion,
            ON_ROLLBACK: self.on_rollback,
        }
        return {name: command for name, command in configured.items() if command}

    def guard_settings(self) -> GuardSettings:
        """The post-promotion guard's settings: the gates' thresholds, the judge's margin when it runs, and
        with --guard-slow its slow-request test's level and tolerance, with --guard-keep the former
        version's share beside the release."""
        slow = self.judge_config() if self.guard_slow and self.judge and self.slow_test else None
        periods = math.ceil(self.guard_s / self.policy.period_s) if self.guard_s > 0 else 1
        ratio = self.margin.ratio if self.judge else None
        return guard_settings(self.policy.thresholds, ratio, slow, periods, self.guard_keep_percent)

    def judge_config(self) -> JudgeConfig:
        """The judge's settings for this rollout: whether it trusts the history, how long it must watch,
        the smallest regression, the time limit it plans its pass margin for (adaptive only) and how much
        slower the canary may be."""
        return JudgeConfig(
            history_fail=self.trust_history,
            lasting_noise=self.lasting_noise,
            outlier_cap=self.outlier_cap,
            min_periods=min_periods_for(self.min_observation_s, self.policy.period_s),
            regression_relative=self.margin.ratio - 1,
            regression_absolute=self.margin.increase,
            horizon_periods=horizon_periods_for(self._judged_time_limit_s(), self.policy.period_s),
            narrowest_regression_ratio=self._narrowest_ratio(),
            latency_tolerance_relative=self.latency_ratio - 1,
            latency_severe_relative=_relative(self.latency_severe_ratio),
            limit_beta=self.limit_beta,
            latency_slow_alpha=JudgeConfig.latency_slow_alpha if self.slow_test else None,
        )

    def _narrowest_ratio(self) -> float | None:
        """JudgeConfig.narrowest_regression_ratio: None where the margin may not narrow below the
        configured one (a --narrowest-ratio at or above it, or above the widest margin)."""
        narrowest = self.margin.narrowest
        widest = JudgeConfig.widest_regression_ratio
        if narrowest is None or narrowest >= min(self.margin.ratio, widest):
            return None
        return narrowest

    def _judged_time_limit_s(self) -> float | None:
        """The part of the time limit whose periods the judge reads: the last ones arrive a metrics lag
        after they end, so they fall past the limit, and the first starts at the first period boundary
        after the canary does, up to a period in (None: no limit). The judge plans its margin for these
        periods and takes its last look in the last of them (`--limit-test`)."""
        limit = self.policy.plan.max_duration_s
        if limit is None or self.fixed_margin:
            return None
        lag = self.policy.period_s if self.metrics_lag_s is None else self.metrics_lag_s
        return max(limit - lag - self.policy.period_s, self.policy.period_s)

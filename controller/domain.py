"""The domain's types: what a metric period says, what the judge concludes, what a gate answers.

Everything here is plain data (frozen dataclasses and enums) shared by the judge, the ramp, the gates, the
engine, the adapters and the benchmark. No behaviour beyond validation and small derived properties, so any
module can import it without pulling in another's logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class WindowStats:
    """One metric period of one version (or several periods added up), as CloudWatch reports it."""

    requests: int
    errors_5xx: int
    errors_4xx: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    # Requests slower than the rollout's slow-request threshold (None: not measured this period).
    slow_requests: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests", "errors_5xx", "errors_4xx"):
            if getattr(self, name) < 0:
                raise ValueError(f"WindowStats.{name} is {getattr(self, name)}; counts cannot be negative")
        if self.slow_requests is not None and not 0 <= self.slow_requests <= self.requests:
            raise ValueError(
                f"WindowStats.slow_requests is {self.slow_requests}; it counts some of the {self.requests} "
                "requests"
            )

    @property
    def error_rate(self) -> float | None:
        """5XX share of requests; None without requests (0 % would be a claim, not a measurement)."""
        return self.errors_5xx / self.requests if self.requests > 0 else None


EMPTY_WINDOW = WindowStats(requests=0, errors_5xx=0)


@dataclass(frozen=True)
class PeriodSample:
    """One metric period of both versions: the canary's own counts and the live version's."""

    start: float  # epoch seconds of the period's start
    canary: WindowStats
    baseline: WindowStats

    @property
    def has_data(self) -> bool:
        return self.canary.requests > 0 or self.baseline.requests > 0


@dataclass(frozen=True)
class BaselineHistory:
    """The live version's requests and 5XX errors before the rollout (e.g. its last 24 hours).

    `requests`/`errors_5xx` are the totals. `per_period` optionally holds the same traffic period by period
    (oldest first), so a judge can see how much the rate varies beyond binomial noise; totals must match.
    """

    requests: int
    errors_5xx: int
    per_period: tuple[tuple[int, int], ...] = ()
    # The live version's p99 latency over the same window (None: not read): the slow-request threshold.
    latency_p99_ms: float | None = None

    def __post_init__(self) -> None:
        if self.requests < 0 or self.errors_5xx < 0 or self.errors_5xx > self.requests:
            raise ValueError(
                f"BaselineHistory({self.requests}, {self.errors_5xx}): counts must be >= 0 and errors "
                "cannot exceed requests"
            )
        if self.per_period and (
            sum(n for n, _ in self.per_period) != self.requests
            or sum(k for _, k in self.per_period) != self.errors_5xx
        ):
            raise ValueError("BaselineHistory.per_period must add up to requests and errors_5xx")

    @property
    def error_rate(self) -> float | None:
        return self.errors_5xx / self.requests if self.requests else None

    @property
    def window(self) -> WindowStats:
        """The day as one window (its totals and p99): the guard's reference for the former version."""
        return WindowStats(self.requests, self.errors_5xx, p99_ms=self.latency_p99_ms)


class Verdict(Enum):
    CONTINUE = "continue"
    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True)
class Alternative:
    """One regression the fail test bets on: a canary/baseline error-rate ratio and its log-likelihood ratio
    against "no worse" so far (the ramp reads these to tell which regressions are still plausible)."""

    ratio: float
    log_likelihood_ratio: float


@dataclass(frozen=True)
class HistoryEvidence:
    """What the judge's one-sample tests against the baseline history hold (see controller/judge)."""

    requests: int
    errors_5xx: int
    error_rate: float
    rate_low: float
    rate_high: float
    null_rate: float
    regression_rate: float
    weight: float
    fail: bool  # the fail test trusts the history
    drift_rise_e_value: float
    drift_fall_e_value: float
    canary_errors_5xx: int
    null_expected_errors: float


@dataclass(frozen=True)
class PercentileCheck:
    name: str  # p50 | p90 | p99
    canary_ms: float
    baseline_ms: float
    limit_ms: float


@dataclass(frozen=True)
class LatencyEvidence:
    breach_streak: int = 0  # judged periods in a row with a percentile over its limit
    clean_periods: int = 0
    tail_clean_periods: int = 0  # clean periods in which p90 or p99 was judged
    last_checks: tuple[PercentileCheck, ...] = ()
    last_breached: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """Everything a judgement rests on. Ratios are canary/baseline error rates; e-values are the
    anytime-valid tests' evidence (FAIL at fail_threshold, PASS at pass_threshold)."""

    periods: int
    canary_requests: int
    canary_errors_5xx: int
    canary_errors_4xx: int
    baseline_requests: int
    baseline_errors_5xx: int
    baseline_errors_4xx: int
    fail_e_value: float
    fail_threshold: float
    pass_e_value: float
    pass_threshold: float
    pass_margin_ratio: float  # the smallest regression the pass test rules out, as a ratio
    null_ratio: float  # the ratio the fail test is pinned to ("no worse" plus the tolerance)
    baseline_rate_estimate: float  # the baseline's error rate for sizing decisions (the ramp)
    alternatives: tuple[Alternative, ...] = ()
    latency: LatencyEvidence = field(default_factory=LatencyEvidence)
    history: HistoryEvidence | None = None
    components: tuple[tuple[str, float], ...] = ()  # named sub-tests' e-values, for reports

    @property
    def canary_error_rate(self) -> float | None:
        return self.canary_errors_5xx / self.canary_requests if self.canary_requests else None

    @property
    def baseline_error_rate(self) -> float | None:
        return self.baseline_errors_5xx / self.baseline_requests if self.baseline_requests else None

    @property
    def trusts_history(self) -> bool:
        """Whether the fail test that decides is the one-sample test against the baseline history."""
        return self.history is not None and self.history.fail

    def component(self, name: str) -> float | None:
        return dict(self.components).get(name)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    evidence: Evidence


class GateStatus(Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NO_DATA = "NO_DATA"


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: GateStatus
    reason: str
    shadow: bool = False  # evaluated and reported, never rolls back

    @property
    def blocks(self) -> bool:
        """A failure that rolls the release back (a shadow gate's never does)."""
        return self.status is GateStatus.FAIL and not self.shadow


@dataclass(frozen=True)
class AlarmReading:
    """The watched alarms' states at one tick; `known` is False when DescribeAlarms failed."""

    states: tuple[tuple[str, str], ...] = ()
    known: bool = True

    @property
    def firing(self) -> tuple[str, ...]:
        return tuple(name for name, state in self.states if state == "ALARM")

    def as_dict(self) -> dict[str, str]:
        return dict(self.states)


class Outcome(Enum):
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"  # by a gate, a hook or missing data
    NOTHING_TO_DO = "nothing_to_do"
    DRY_RUN = "dry_run"
    INTERRUPTED = "interrupted"
    UNDONE = "undone"  # promoted, then put back on the former live slot (the guard, or abort while guarding)
    PROMOTED_HOOK_FAILED = "promoted_hook_failed"  # promoted; the post-promotion hook failed

"""The latency check: robust to one noisy period, not a sequential test.

Each period, every percentile both versions report is compared when both versions served enough requests for
that percentile to mean something (`latency_min_requests`): a breach is canary > baseline * (1 +
latency_tolerance_relative) + latency_tolerance_ms. Each percentile keeps its own record over the periods
that judged it: FAIL needs `latency_breach_periods` of its judgements in a row to breach, so one noisy
period cannot roll back, or one judgement above the one-period limit (`latency_severe_relative`, well
beyond the sampling noise of the percentiles judged), so a grossly slower canary does not serve a second
period; PASS needs at least one clean judged period and no percentile whose latest
judgement breached. A period too thin for a percentile says nothing about it: at low traffic a period that
can judge only the median neither clears a tail that breached nor breaks its streak (a slower tail with
an unchanged median is invisible to p50).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.domain import LatencyEvidence, PercentileCheck, WindowStats
from controller.judge.config import JudgeConfig

PERCENTILES = ("p50", "p90", "p99")


@dataclass
class LatencyState:
    streaks: dict[str, int] = field(default_factory=dict)  # per percentile: its judgements in a row breaching
    clean_periods: int = 0
    tail_clean_periods: int = 0  # clean periods in which a tail percentile (p90 or p99) was judged
    last_checks: tuple[PercentileCheck, ...] = ()
    last_breached: tuple[str, ...] = ()
    severe: PercentileCheck | None = None  # the first judgement over the one-period limit (that limit's)

    @property
    def streak(self) -> int:
        """The longest run of breaching judgements of any one percentile, up to its latest judgement."""
        return max(self.streaks.values(), default=0)

    @property
    def last_judged_clean(self) -> bool | None:
        """Whether every percentile judged so far was within its limit at its latest judgement (None: none
        judged yet)."""
        return None if not self.streaks else self.streak == 0

    def observe(self, config: JudgeConfig, canary: WindowStats, baseline: WindowStats) -> None:
        """Judge one period's percentiles; a percentile with too few requests keeps its record."""
        c = config
        checks: list[PercentileCheck] = []
        breached: list[str] = []
        for name, minimum in zip(PERCENTILES, c.latency_min_requests, strict=True):
            mine = getattr(canary, f"{name}_ms")
            theirs = getattr(baseline, f"{name}_ms")
            if mine is None or theirs is None or canary.requests < minimum or baseline.requests < minimum:
                continue
            limit = theirs * (1 + c.latency_tolerance_relative) + c.latency_tolerance_ms
            checks.append(PercentileCheck(name, mine, theirs, round(limit, 3)))
            if c.latency_severe_relative is not None and self.severe is None:
                severe_limit = theirs * (1 + c.latency_severe_relative) + c.latency_tolerance_ms
                if mine > severe_limit:
                    self.severe = PercentileCheck(name, mine, theirs, round(severe_limit, 3))
            if mine > limit:
                breached.append(name)
                self.streaks[name] = self.streaks.get(name, 0) + 1
            else:
                self.streaks[name] = 0
        if not checks:
            return  # too few canary requests: neither a breach nor a clean period
        self.last_checks, self.last_breached = tuple(checks), tuple(breached)
        if not breached:
            self.clean_periods += 1
            self.tail_clean_periods += any(check.name != "p50" for check in checks)

    def evidence(self) -> LatencyEvidence:
        return LatencyEvidence(
            breach_streak=self.streak,
            clean_periods=self.clean_periods,
            tail_clean_periods=self.tail_clean_periods,
            last_checks=self.last_checks,
            last_breached=self.last_breached,
        )

    def worst_breach(self) -> PercentileCheck | None:
        """The judgement that fails: one over the one-period limit, else the latest period's breach of the
        percentile with the longest streak."""
        if self.severe is not None:
            return self.severe
        longest = [name for name in self.last_breached if self.streaks.get(name, 0) == self.streak]
        if not longest:
            return None
        return next(check for check in self.last_checks if check.name == longest[-1])

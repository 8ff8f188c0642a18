"""The latency check: robust to one noisy period, not a sequential test.

Each period, every percentile both versions report is compared when the canary served enough requests for
that percentile to mean something (`latency_min_requests`): a breach is canary > baseline * (1 +
latency_tolerance_relative) + latency_tolerance_ms. FAIL needs `latency_breach_periods` consecutive
breaching periods, so one noisy period cannot roll back. PASS needs at least one clean judged period and
no breach in the latest judged period.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.domain import LatencyEvidence, PercentileCheck, WindowStats
from controller.judge.config import JudgeConfig

PERCENTILES = ("p50", "p90", "p99")


@dataclass
class LatencyState:
    streak: int = 0
    clean_periods: int = 0
    tail_clean_periods: int = 0  # clean periods in which a tail percentile (p90 or p99) was judged
    last_judged_clean: bool | None = None
    last_checks: tuple[PercentileCheck, ...] = ()
    last_breached: tuple[str, ...] = ()

    def observe(self, config: JudgeConfig, canary: WindowStats, baseline: WindowStats) -> None:
        """Judge one period's percentiles; a period with too few canary requests changes nothing."""
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
            if mine > limit:
                breached.append(name)
        if not checks:
            return  # too few canary requests: neither a breach nor a clean period
        self.last_checks, self.last_breached = tuple(checks), tuple(breached)
        if breached:
            self.streak += 1
            self.last_judged_clean = False
        else:
            self.streak = 0
            self.clean_periods += 1
            self.tail_clean_periods += any(check.name != "p50" for check in checks)
            self.last_judged_clean = True

    def evidence(self) -> LatencyEvidence:
        return LatencyEvidence(
            breach_streak=self.streak,
            clean_periods=self.clean_periods,
            tail_clean_periods=self.tail_clean_periods,
            last_checks=self.last_checks,
            last_breached=self.last_breached,
        )

    def worst_breach(self) -> PercentileCheck | None:
        if not self.last_breached:
            return None
        worst = self.last_breached[-1]
        return next(check for check in self.last_checks if check.name == worst)

"""The slow-request test: the canary's share of slow requests against the live version's, period by period.

A request is slow when it takes longer than a threshold fixed before the rollout (by default the live
version's p99 over the baseline history, so about 1 % of its requests; `shift --slow-ms`). Each period
reports how many of each version's requests were slow (`WindowStats.slow_requests`), and the test reads
their split exactly as the error split test reads 5XX errors (controller/judge/concurrent.py): given a slow
request in the period, it came from the canary with probability w*psi / (w*psi + 1 - w). That holds whatever
the live version's share of slow requests is and however it moves (a slow dependency slows both versions
alike), so it needs no latency model, and its FAIL is anytime-valid at `latency_slow_alpha`.

Why counts rather than percentiles: a tail that doubles moves the canary's p99 about 2x, but its share of
requests beyond the live version's p99 about 9x (a lognormal tail, 40 ms median, 100 ms p99), and 1.3x
about 3.5x. Counts add up across periods and a sequential test accumulates them; a percentile judged
against a limit only period by period cannot. The percentile check (controller/judge/latency.py) stays for
the median and p90, which slow counts at a p99 threshold do not see, and as the gate on PASS.

The null allows the canary `1 + latency_slow_tolerance` times the live version's share (1.5x by default,
the multiple the error test's margin calls a regression): a fresh version starts cold, and its first
instances add slow requests that are not a regression. On a lognormal tail, 1.5x the share beyond the p99 is
a p99 about 7 % higher (2x: 13 %). The test bets on multiples of that null (the error test's prior) and on a
margin of three times the live version's share, with the late-onset restarts of the error test. It only
fails a canary: it never holds up a PASS.
"""

from __future__ import annotations

import math
from dataclasses import replace

from controller.judge.concurrent import ConcurrentTests
from controller.judge.config import JudgeConfig

SLOW_MARGIN_RELATIVE = 2.0  # the margin bet: three times the live version's share of slow requests


class SlowRequestTest:
    """The split fail test on slow requests; fed once per period with both versions' slow counts."""

    def __init__(self, config: JudgeConfig) -> None:
        assert config.latency_slow_alpha is not None
        self.alpha = config.latency_slow_alpha
        self.threshold = 1 / self.alpha
        tolerance = config.latency_slow_tolerance
        slow_config = replace(
            config,
            tolerance_relative=tolerance,
            tolerance_absolute=0.0,
            regression_relative=max(SLOW_MARGIN_RELATIVE, tolerance * 1.5),
            regression_absolute=0.0,
            margin_sds=0.0,
        )
        # A slow spell that hits both versions cancels in the split; what is left of the noise is each
        # version's own, which the history (of errors) does not measure: the floor every test carries.
        self._tests = ConcurrentTests(
            slow_config, config.dispersion_floor, slow_config.regression_relative, 0.0
        )
        self.periods = 0
        self.canary_requests = 0
        self.canary_slow = 0
        self.baseline_requests = 0
        self.baseline_slow = 0

    @property
    def null_ratio(self) -> float:
        return 1 + self._tests.config.tolerance_relative

    def observe(self, canary: tuple[int, int], baseline: tuple[int, int]) -> None:
        """One period: each version's (requests, slow requests)."""
        self.periods += 1
        self.canary_requests += canary[0]
        self.canary_slow += canary[1]
        self.baseline_requests += baseline[0]
        self.baseline_slow += baseline[1]
        totals = (self.baseline_slow, self.baseline_requests)
        relative = self._tests.config.regression_relative
        self._tests.observe(canary, baseline, totals, relative, 0.0)

    @property
    def e_value(self) -> float:
        """Evidence against "the canary's share of slow requests is at most the null's multiple"."""
        return self._tests.fail_split_e_value if self.periods else 1.0

    @property
    def failed(self) -> bool:
        return self.e_value >= self.threshold

    def shares(self) -> tuple[float | None, float | None]:
        """The canary's and the live version's share of slow requests so far."""
        canary = self.canary_slow / self.canary_requests if self.canary_requests else None
        base = self.baseline_slow / self.baseline_requests if self.baseline_requests else None
        return canary, base

    def reason(self) -> str:
        canary, base = self.shares()
        return (
            f"canary slow requests {_pct(canary)} of {self.canary_requests} vs baseline {_pct(base)} of "
            f"{self.baseline_requests}: evidence {self.e_value:.0f} against 'at most "
            f"{self.null_ratio:g}x the baseline's share' reached {self.threshold:.0f} (false-rollback rate "
            f"{self.alpha:g})."
        )


def _pct(share: float | None) -> str:
    return "n/a" if share is None or math.isnan(share) else f"{share:.2%}"

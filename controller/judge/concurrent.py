"""The tests of the canary against the concurrent baseline: the split tests and the count pass test.

The split tests read each period's canary errors given both versions' errors in that period, so they hold
whatever the baseline's rate is and however it moves (the FAIL mixture over `alternatives` and the margin,
its late-onset restarts, and the PASS likelihood ratio at the pass margin); the count pass test bets on the
canary's own errors against the lowest rate that would be a regression, read from the baseline's earlier
periods. See "Error rate" in the package docstring; `HistoryTests` (controller/judge/history.py) are the
one-sample tests against the baseline's history, and the Judge (controller/judge/core.py) weighs the two.
"""

from __future__ import annotations

import math

from controller.judge.config import COUNT_RATIOS, COUNT_WEIGHTS, JudgeConfig
from controller.judge.emath import log_mix, nb_log_lr, rate_bound, split_log_lr
from controller.judge.onset import RestartedBets


class ConcurrentTests:
    """The split fail and pass tests and the count pass test; fed once per period by the Judge.

    `baseline_errors` and `baseline_requests` are the baseline's totals up to and including the period
    being read; the pass margin's parts (`pass_relative`, `pass_absolute`) are those the Judge planned for
    that period.
    """

    def __init__(self, config: JudgeConfig, c2: float, pass_relative: float, pass_absolute: float) -> None:
        c = config
        self.config = config
        self.c2 = c2
        self.log_fail = [0.0] * len(c.alternatives)
        self.log_margin = 0.0
        # The same bets (alternatives, then the margin) started in later periods: late onset.
        self.late = RestartedBets(len(c.alternatives) + 1, c.late_onset_share, c.late_onset_starts)
        self.log_pass = 0.0
        self.psi_pass = 1 + c.regression_relative
        self.psi_margin = self.psi_pass  # the fail test's margin bet: never widened
        self.log_count = [0.0] * len(COUNT_RATIOS)
        self.count_rate = self.regression_rate(0, 0, pass_relative, pass_absolute)

    def null_ratio(self, baseline_errors: int, baseline_requests: int) -> float:
        """psi0: the canary/baseline ratio the fail test's null allows (1 + tolerance)."""
        c = self.config
        if c.tolerance_absolute == 0:
            return 1 + c.tolerance_relative
        low = rate_bound(baseline_errors, baseline_requests, -2.0)
        if not low or math.isnan(low):
            return math.inf
        return 1 + c.tolerance_relative + c.tolerance_absolute / low

    def pass_ratio(
        self, baseline_errors: int, baseline_requests: int, relative: float, absolute: float
    ) -> float:
        """psi_pass: the margin as a ratio, its absolute part read through the baseline's rate."""
        rate = rate_bound(baseline_errors, baseline_requests, self.config.margin_sds)
        if math.isnan(rate):
            return 1 + relative
        return 1 + max(relative, absolute / rate)

    @staticmethod
    def regression_rate(errors: int, requests: int, relative: float, absolute: float) -> float:
        """q: the lowest canary rate that is a regression, from a low estimate of the baseline rate."""
        low = rate_bound(errors, requests, -2.0)
        low = 0.0 if math.isnan(low) else low
        return low + max(low * relative, absolute)

    def observe(
        self,
        canary: tuple[int, int],
        baseline: tuple[int, int],
        baseline_totals: tuple[int, int],
        pass_relative: float,
        pass_absolute: float,
    ) -> None:
        """One period: `canary` and `baseline` are its (requests, 5XX errors), errors at most requests."""
        c = self.config
        n, x = canary
        baseline_n, y = baseline
        errors_so_far, requests_so_far = baseline_totals
        psi0 = self.null_ratio(errors_so_far, requests_so_far)
        psi_pass = self.pass_ratio(errors_so_far, requests_so_far, pass_relative, pass_absolute)
        self.psi_pass = psi_pass
        self.psi_margin = self.pass_ratio(
            errors_so_far, requests_so_far, c.regression_relative, c.regression_absolute
        )
        self._observe_count(
            n, x, errors_so_far - y, requests_so_far - baseline_n, pass_relative, pass_absolute
        )
        llrs = [0.0] * (len(c.alternatives) + 1)
        if n == 0 or baseline_n == 0 or x + y == 0:
            self.late.add(llrs)
            return  # no split to read: the period says nothing about the ratio
        w = n / (n + baseline_n)
        c2 = self.c2
        if math.isfinite(psi0):
            for k, multiple in enumerate(c.alternatives):
                llrs[k] = split_log_lr(x, x + y, w, psi0 * multiple, psi0, c2)
                self.log_fail[k] += llrs[k]
            # The margin moves with the baseline estimate, but only between periods: still a fixed bet.
            llrs[-1] = split_log_lr(x, x + y, w, max(self.psi_margin, psi0 * 1.1), psi0, c2)
            self.log_margin += llrs[-1]
        self.late.add(llrs)
        self.log_pass += split_log_lr(x, x + y, w, 1.0, psi_pass, c2)

    def _observe_count(
        self, n: int, k: int, baseline_errors: int, baseline_requests: int, relative: float, absolute: float
    ) -> None:
        """Bet on the canary's own errors; q comes from the baseline before this period (predictable)."""
        q = self.regression_rate(baseline_errors, baseline_requests, relative, absolute)
        self.count_rate = q
        if n == 0 or q >= 1:
            return  # no canary requests, or no canary rate is a regression: nothing to bet on
        c2 = self.c2
        for j, r in enumerate(COUNT_RATIOS):
            if r == 0:
                clean = -n * math.log1p(-q) if c2 <= 0 else math.log1p(n * q * c2) / c2
                self.log_count[j] = -math.inf if k else self.log_count[j] + clean
            elif c2 <= 0:
                self.log_count[j] += k * math.log(r) + (n - k) * (math.log1p(-r * q) - math.log1p(-q))
            else:
                self.log_count[j] += nb_log_lr(k, n * q, r, c2)

    @property
    def fail_split_e_value(self) -> float:
        """The split test's evidence against "canary no worse than tolerance"."""
        logs = self.late.combined([*self.log_fail, self.log_margin])
        weights = [*self.config.weights, self.config.margin_weight]
        return math.exp(min(log_mix(weights, logs), 700.0))

    @property
    def pass_split_e_value(self) -> float:
        """The split test's evidence against "canary is a regression worth catching"."""
        return math.exp(max(min(self.log_pass, 700.0), -700.0))

    @property
    def pass_count_e_value(self) -> float:
        """The count test's evidence against "canary rate >= q" (0 once every alternative is refuted)."""
        total = sum(w * math.exp(min(lc, 700.0)) for w, lc in zip(COUNT_WEIGHTS, self.log_count, strict=True))
        return min(total, math.exp(700.0))

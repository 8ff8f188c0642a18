"""The guard's slow-request test (`shift --guard-slow`): does the promoted release serve more slow requests?

The judge's slow-request test (controller/judge/slow.py) reads the split of slow requests between the canary
and the live version in the same periods, so a slow spell that hits both cancels. After a promotion there is
no second version to split against: production serves the new release alone. The guard's p99 check (the
former version's p99 x 1.5 + 25 ms) sees only a tail that slows by more than half, and a release whose
tail slows by 1.3x from minute ten serves its users that for as long as nobody looks. This test is the
guard's one-sample counterpart of the judge's: the promoted release's share of slow requests (those beyond
the judge's threshold, `--slow-ms` or the live version's p99 over its history) against a fixed reference,

    H0: share <= allowed,  allowed = (1 + tolerance) x upper(s0)

with s0 the former version's share of slow requests beside the canary during the rollout (the judge's
baseline counts, read in the same metric periods as the canary's), `upper` its ~97.5 % upper bound, and the
tolerance the judge's slow test's (`JudgeConfig.latency_slow_tolerance`, 0.5: the multiple the error
margin calls a regression). Each period's slow count is modelled as the judge models error counts, negative
binomial with squared CV c2, here read off the same baseline periods at its upper bound (the series is
short, so the bound is loose and the test cautious). The mixture over multiples of `allowed` is an
e-process under H0 and reaches 1 / alpha with probability at most alpha (Ville), alpha the judge's slow
test's (0.002).

A release promoted healthy whose tail slows later in the guard must not first win back what the healthy
periods cost every bet: the bets restart at every period of the guard, with the prior spread evenly over
the guard's periods (controller/judge/onset.py's Shiryaev-Roberts mixture). The weights sum to one, so the
mixture is still an e-process and Ville's bound holds; a slowdown from the first period pays ln(periods)
nats for it (2.3 over ten periods), one from period s pays the same instead of the s healthy periods.

Two periods must agree: each period's likelihood ratio is capped at sqrt(periods / alpha), so that a bet
started at any period (its weight 1 / periods) reaches 1 / alpha in two periods at the cap and never in
one, as the judge's percentile check waits for two breaching periods. Capping a ratio from above keeps its
expectation at most one, so the bound holds; one period of a shared slowdown (a dependency's hiccup, the
first minute's cold starts as the new release takes the whole traffic) cannot undo a release on its own.

What it cannot tell apart: a slowdown of a shared dependency that lasts several periods after the promotion
looks like a regression of the release, since no concurrent baseline is left to cancel it. That is why it is
an option and not the default (docs/judge.md, "The guard's slow-request test").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from controller.domain import WindowStats
from controller.judge.dispersion import estimate_c2_short
from controller.judge.emath import nb_log_lr, upper_rate
from controller.judge.onset import EvenlyRestartedBets

ALTERNATIVES = (1.5, 2.0, 3.0, 5.0, 10.0)  # multiples of the allowed share the mixture bets on
MAX_ALLOWED_SHARE = 0.5  # a reference so slow that half of the requests are allowed slow judges nothing


class GuardSlowTest:
    """One-sample, anytime-valid: fed once per period with the promoted release's (requests, slow)."""

    def __init__(
        self,
        beside: Sequence[WindowStats],
        alpha: float,
        tolerance: float,
        c2_floor: float,
        periods: int = 10,
    ) -> None:
        """`beside`: the former version's periods beside the canary, each with its slow requests; `periods`:
        the guard's length in metric periods, over which the bets' restarts are spread."""
        counts = [(p.requests, p.slow_requests or 0) for p in beside]
        requests = sum(n for n, _ in counts)
        slow = sum(k for _, k in counts)
        self.reference_share = slow / requests
        self.allowed = min(MAX_ALLOWED_SHARE, (1 + tolerance) * (upper_rate(requests, slow) or 1.0))
        self.c2 = estimate_c2_short(counts, c2_floor).c2
        self.alpha = alpha
        self.threshold = 1 / alpha
        # A hair over half, so that two periods at the cap reach the threshold whatever the rounding.
        periods = max(1, periods)
        self._cap = 0.5 * math.log(self.threshold * periods) * (1 + 1e-9)
        self._alternatives = tuple(min(self.allowed * m, 0.999) for m in ALTERNATIVES)
        self._bets = EvenlyRestartedBets(len(self._alternatives), periods)
        self.requests = 0
        self.slow = 0

    @classmethod
    def beside(
        cls,
        periods: Sequence[WindowStats],
        alpha: float,
        tolerance: float,
        c2_floor: float,
        guard_periods: int = 10,
    ) -> GuardSlowTest | None:
        """The test, or None where the former version's slow requests were not measured beside the canary
        (no slow-request threshold, or no requests)."""
        if not periods or any(p.slow_requests is None for p in periods):
            return None
        if sum(p.requests for p in periods) <= 0:
            return None
        return cls(periods, alpha, tolerance, c2_floor, guard_periods)

    def observe(self, requests: int, slow: int) -> None:
        self.requests += requests
        self.slow += slow
        a = self.allowed
        log_lrs = [
            min(nb_log_lr(slow, requests * a, q / a, self.c2), self._cap) if requests > 0 and q > a else 0.0
            for q in self._alternatives
        ]
        self._bets.add(log_lrs)

    @property
    def e_value(self) -> float:
        return self._bets.e_value

    @property
    def failed(self) -> bool:
        return self.e_value >= self.threshold

    def reason(self) -> str:
        share = self.slow / self.requests if self.requests else math.nan
        return (
            f"slow requests {share:.2%} of {self.requests}, above the allowed {self.allowed:.2%} (the former "
            f"version's {self.reference_share:.2%} beside the canary; e-value {self.e_value:.0f} >= "
            f"{self.threshold:.0f})"
        )

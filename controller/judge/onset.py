"""Evidence for a regression that may begin at any period, not only at the first.

A release can turn bad minutes into a rollout (a cache expires, a pool fills, a dependency degrades). Evidence
gathered while it was healthy counts against every regression hypothesis and, summed from the start, hides
a change that comes later. So each alternative's likelihood ratio is kept for every start period j, and the
e-value mixes them: E_t = sum_j w_j prod_{i=j..t} L_i, with w_0 = `first_weight` and the rest spread evenly
over the next `horizon` periods. E_t + sum_{j>t} w_j is a nonnegative supermartingale with initial value
sum_j w_j <= 1 (each new start adds its weight as the unspent weight shrinks by the same amount), so Ville's
inequality still gives P(E ever >= 1/alpha) <= alpha, however often it is read and wherever the change is.
A change at the first period pays ln(1 / first_weight) nats over a test started only there; a change at
period j > 0 pays ln(horizon / (1 - first_weight)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class OnsetMixture:
    """Kept in O(alternatives) per period: with C_r the cumulative log likelihood ratio of alternative r, the
    start at period j holds C_r - C_r(j-1), so the mixture is sum_r p_r exp(C_r) A_r with
    A_r = sum_j w_j exp(-C_r(j-1)) updated as starts open (in logs, so nothing overflows)."""

    first_weight: float = 0.5
    horizon: int = 60  # periods over which later starts share the rest of the weight
    periods: int = 0
    cumulative: list[float] = field(default_factory=list)  # C_r
    log_anchor: list[float] = field(default_factory=list)  # log A_r
    lowest: list[float] = field(default_factory=list)  # min over open starts of C_r(j-1)

    def start_weight(self, index: int) -> float:
        if index == 0:
            return self.first_weight
        return (1 - self.first_weight) / self.horizon if index <= self.horizon else 0.0

    def add(self, logs: list[float]) -> None:
        """One period's log likelihood ratio for each alternative: a new start opens at this period, then
        every open start (this one too) takes the period's evidence."""
        if not self.cumulative:
            self.cumulative = [0.0] * len(logs)
            self.log_anchor = [-math.inf] * len(logs)
            self.lowest = [math.inf] * len(logs)
        weight = self.start_weight(self.periods)
        if weight > 0:
            log_w = math.log(weight)
            for r, before in enumerate(self.cumulative):
                self.log_anchor[r] = _logaddexp(self.log_anchor[r], log_w - before)
                self.lowest[r] = min(self.lowest[r], before)
        for r, value in enumerate(logs):
            self.cumulative[r] += value
        self.periods += 1

    def log_e_value(self, prior: tuple[float, ...] | list[float]) -> float:
        """log of sum_j w_j sum_r prior_r exp(L_{j,r}), L_{j,r} the evidence since start j."""
        if not self.cumulative:
            return 0.0
        terms = [
            math.log(p) + c + a
            for p, c, a in zip(prior, self.cumulative, self.log_anchor, strict=True)
            if p > 0 and a > -math.inf
        ]
        if not terms:
            return -math.inf
        top = max(terms)
        return top + math.log(sum(math.exp(t - top) for t in terms))

    def best(self, index: int) -> float:
        """The largest log likelihood ratio of alternative `index` over every start (the likeliest onset)."""
        if not self.cumulative:
            return 0.0
        return self.cumulative[index] - self.lowest[index]


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))

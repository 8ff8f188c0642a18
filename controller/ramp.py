"""The adaptive ramp: how much traffic the canary gets next period, from the judge's latest evidence.

Pure functions of data, no clock and no AWS:

    ramp = AdaptiveRamp(RampConfig())
    percent = ramp.initial_percent(requests_per_period)                    # before the first period
    percent = ramp.next_percent(percent, judgement, requests_per_period)   # after each judged period

`requests_per_period` is the stage's total request Count in one metric period (canary + baseline: the
latest period's, or before the canary starts the stage's own). The answer is a canary percent for API
Gateway's `canarySettings/percentTraffic`: 0.0 means roll back (the judge failed), 100.0 means promote (the
judge passed), anything between is the share for the next period. `judgement` is the latest
`controller.domain.Judgement`; the ramp reads its typed `evidence`.

Why it ramps this way
---------------------
A bad release costs the errors the canary serves before the judge fails it, and the judge needs a number
of canary *errors*, not minutes: about ln(1/alpha) / (ln r - 1 + 1/r) for a release r times worse than the
baseline (Wald), i.e. ~2 errors when r = 50, ~7 when r = 4, ~64 when r = 1.5. Decisions come only once a
period, so whatever the canary serves in the deciding period comes on top. Six rules follow:

1. Overshoot budget. The next period may carry at most

       budget * errors_still_needed(r_worst) / (r_worst * baseline rate)

   canary requests, where r_worst is the worst regression the evidence has not ruled out (its likelihood
   is within `rule_out_odds` of the best-supported hypothesis) and errors_still_needed counts what the
   fail test still lacks. Even if the release is that bad, one period spends only a `budget` share of
   the errors its detection needs, and less as the verdict nears. While a severe regression
   (`severe_ratio` or worse) is still plausible, `severe_budget` replaces `budget` when set: such a
   release is caught in two or three errors, so the period it is caught in is most of its cost.
   Patience (when `patient_budget` is set): once the fail evidence reaches `patient_odds`, the canary
   looks worse than the baseline, and a period spends at most `patient_budget` of the errors still
   needed. A bad release costs the errors it serves, not minutes, so smaller steps towards the verdict
   cost no users; a good release rarely looks worse and keeps the ordinary budget. Patience waits only
   where the traffic could carry `patient_traffic` times the period's budget: at low traffic it would
   only run the clock out. No period carries fewer than `min_period_requests` (when set), so a share
   sized for a severe regression that has not shown itself cannot starve the test, nor fewer than
   `min_growth` times the canary requests so far: a few unlucky early errors keep a severe regression
   plausible, and periods sized for it would otherwise shrink the evidence's growth to a crawl that a
   mild regression outlasts.
2. Doubling. Exposure never grows faster than `growth` times the canary requests seen so far; the first
   period carries `first_period_requests` whatever the traffic (about one error of a release that fails
   one request in ten).
3. Split cap. The judge compares the canary with the rest of the traffic; the larger the canary's share,
   the more canary errors it needs to tell a mild regression (the margin) from noise. Until the pass
   evidence reaches `wide_odds` the share stays under split_penalty / (margin ratio + split_penalty),
   widening towards `max_percent` as that evidence grows. The cap serves only the split test, so it is
   lifted when the judge's other pass test (the canary's own error count against the absolute margin)
   is the one that will pass: when neither version has erred yet (no split to read) or the baseline is
   so clean that a regression is `clean_margin_ratio` times its rate. That test gains from every canary
   request, so a narrow share would only slow it; rules 1 and 2 still bound the exposure.
4. A latency breach freezes the share.
5. Latency probe (when `latency_probe_requests` is set). Until `latency_probe_clean_periods` periods have
   judged a tail percentile (p90 or p99) clean, a period carries at most the probe: enough requests to
   read p90, few enough that a slow release is caught before it reaches many users.
6. The baseline keeps a tail (when `latency_probe_requests` is set). The latency check compares the
   canary's percentiles with the baseline's in the same period, and judges p90 only where both versions
   served enough requests. At a few requests a second a 90 % canary leaves the baseline too few, and a
   release whose tail slows after its first clean periods would never be judged again: the share stays
   where the baseline keeps the probe's requests, wherever the traffic carries the probe twice over.

With a baseline history (`controller.domain.BaselineHistory`), the error-rate estimate behind rule 1 is the
history's. When the judge's fail test also trusts that history (the default, `judge.trusts_history`), the
ramp switches to its `trusted` configuration (`RampConfig.for_trusted_history()`): rule 3 no longer applies
and the share may grow to `max_percent_with_history`, since a one-sample test gains from every canary
request whatever the share, except while the judge's drift watch sees the baseline's rate rising above the
history's: then the share stays under `max_percent`, so that the baseline, whose counts are the evidence
that discounts the history, has at least as much traffic as the canary. Rule 1's r_worst is then read off
the one-sample likelihood itself, k ln r - (r - 1) E for the canary's k errors against E expected at the
null rate, not off the prior's grid of ratios, whose steps (3, 4, 6, ...) would round a plausible 3.9 down
to 3 and size the period for a release a quarter less bad than the evidence allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.domain import Judgement, Verdict

__all__ = ["AdaptiveRamp", "RampConfig", "errors_to_detect"]


@dataclass(frozen=True)
class RampConfig:
    first_period_requests: float = 12.0
    growth: float = 4.0
    budget: float = 0.575
    severe_budget: float | None = None
    severe_ratio: float = 20.0
    patient_budget: float | None = None
    patient_odds: float = 2.0
    patient_traffic: float = 6.0
    min_period_requests: float | None = None
    min_growth: float = 0.0
    latency_probe_requests: float | None = None
    latency_probe_clean_periods: int = 2
    rule_out_odds: float = 3.8
    min_remaining_odds: float = 5.0  # the budget never plans for less than this much missing evidence
    split_penalty: float = 0.73
    wide_odds: float = 10.0
    min_percent: float = 0.01
    max_percent: float = 50.0
    max_percent_with_history: float = 90.0
    clean_margin_ratio: float = 11.0  # split cap lifted from this pass margin (baseline <= 0.05 % at 0.5 pp)

    @classmethod
    def for_trusted_history(cls) -> RampConfig:
        """The ramp for a judge whose fail test trusts the baseline history (`JudgeConfig(history_fail=
        True)`): its one-sample tests gain from every canary request at any share, so the share may grow
        to `max_percent_with_history` and faster (growth 6 against 4: a clear regression is bounded by the
        budget, not the growth), bounded by a smaller budget while a severe regression is plausible or the
        canary looks worse (patience), and by the latency probe until the tail has been judged clean
        twice. Its r_worst comes from the likelihood's continuous bound (see the module docstring), which
        has no grid steps to round across, so it is taken at lower odds (1.5: about a one-sided 82 % bound)
        and the budgets are smaller. The budgets and growth were chosen on the named scenarios; swept one at
        a time on the scenario family's tuning split they trade a few percent of failed requests against as
        many of promotion time and move no goal beyond noise (docs/judge.md, the ramp's constants)."""
        return cls(
            first_period_requests=8.0,
            growth=6.0,
            budget=0.65,
            severe_budget=0.25,
            patient_budget=0.5,
            min_period_requests=4.0,
            min_growth=0.1,
            rule_out_odds=1.5,
            latency_probe_requests=40.0,
        )

    def __post_init__(self) -> None:
        if self.first_period_requests <= 0 or self.growth <= 0 or self.budget <= 0 or self.split_penalty <= 0:
            raise ValueError(
                "RampConfig.first_period_requests, growth, budget and split_penalty must be positive"
            )
        if (
            any(
                value is not None and value <= 0
                for value in (self.severe_budget, self.patient_budget, self.min_period_requests)
            )
            or self.patient_traffic <= 0
            or self.min_growth < 0
        ):
            raise ValueError(
                "RampConfig severe_budget, patient_budget, min_period_requests and patient_traffic must be "
                "positive (None switches the first three off); min_growth cannot be negative"
            )
        if (
            self.rule_out_odds < 1
            or self.patient_odds < 1
            or self.min_remaining_odds <= 1
            or self.wide_odds <= 1
        ):
            raise ValueError("RampConfig odds must exceed 1 (rule_out_odds and patient_odds may equal 1)")
        if self.clean_margin_ratio <= 1:
            raise ValueError("RampConfig.clean_margin_ratio must exceed 1; math.inf keeps the split cap")
        if not 0 < self.min_percent <= min(self.max_percent, self.max_percent_with_history):
            raise ValueError("RampConfig needs 0 < min_percent <= max_percent, max_percent_with_history")
        if max(self.max_percent, self.max_percent_with_history) >= 100:
            raise ValueError(
                "RampConfig max_percent and max_percent_with_history must stay under 100 (100 is a promotion)"
            )


def errors_to_detect(ratio: float, odds: float) -> float:
    """Canary errors a sequential test needs, on average, to gather `odds` against a release `ratio` times
    worse than the baseline (Wald: ln(odds) over the evidence one error adds)."""
    drift = math.log(ratio) - 1 + 1 / ratio
    return math.log(odds) / drift if drift > 0 else math.inf


class AdaptiveRamp:
    """`config` ramps for a judge whose fail test is the concurrent split alone (no usable history, or
    `JudgeConfig(history_fail=False)`); `trusted` for one whose fail test trusts the baseline history. Each
    judgement's evidence says which judge it came from."""

    def __init__(self, config: RampConfig | None = None, trusted: RampConfig | None = None) -> None:
        self.config = config or RampConfig()
        self.trusted = trusted or RampConfig.for_trusted_history()

    def config_for(self, trusts_history: bool) -> RampConfig:
        return self.trusted if trusts_history else self.config

    @staticmethod
    def _percent_for(
        c: RampConfig, requests: float, requests_per_period: float, top: float | None = None
    ) -> float:
        if requests_per_period <= 0:
            return c.min_percent  # no traffic to size by: keep the canary as small as allowed
        percent = 100.0 * requests / requests_per_period
        return round(min(top or c.max_percent, max(c.min_percent, percent)), 4)

    def initial_percent(self, requests_per_period: float, trusts_history: bool = False) -> float:
        """The first period's share: `first_period_requests` canary requests at this traffic, from the
        trusted configuration when the judge's fail test trusts the history (`Judge.trusts_history`)."""
        c = self.config_for(trusts_history)
        return self._percent_for(c, c.first_period_requests, requests_per_period)

    def worst_plausible_ratio(self, judgement: Judgement) -> float:
        """The largest regression (canary/baseline error-rate ratio) the evidence has not ruled out."""
        ev = judgement.evidence
        trusting = ev.trusts_history
        rule_out_odds = self.config_for(trusting).rule_out_odds
        null = ev.null_ratio if math.isfinite(ev.null_ratio) else 1.0
        alternatives = ev.alternatives
        if trusting:
            assert ev.history is not None
            top = max(a.ratio for a in alternatives)
            return null * _plausible_multiple(
                ev.history.canary_errors_5xx, ev.history.null_expected_errors, rule_out_odds, top
            )
        best = max([0.0] + [a.log_likelihood_ratio for a in alternatives])
        floor = best - math.log(rule_out_odds)
        plausible = [a.ratio for a in alternatives if a.log_likelihood_ratio > floor]
        return null * max(plausible or [min(a.ratio for a in alternatives)])

    def next_percent(self, current_percent: float, judgement: Judgement, requests_per_period: float) -> float:
        """0.0 to roll back, 100.0 to promote, else the share for the next period."""
        if judgement.verdict is Verdict.FAIL:
            return 0.0
        if judgement.verdict is Verdict.PASS:
            return 100.0
        ev = judgement.evidence
        trusting = ev.trusts_history
        c = self.config_for(trusting)
        if ev.latency.breach_streak > 0:
            return current_percent
        worst = self.worst_plausible_ratio(judgement)
        base_rate = ev.baseline_rate_estimate or (ev.baseline_errors_5xx + 0.5) / max(ev.baseline_requests, 1)
        missing = max(ev.fail_threshold / max(ev.fail_e_value, 1.0), c.min_remaining_odds)
        budget = c.severe_budget if c.severe_budget is not None and worst >= c.severe_ratio else c.budget
        affordable = budget * errors_to_detect(worst, missing) / (worst * base_rate)
        if (
            c.patient_budget is not None
            and ev.fail_e_value >= c.patient_odds
            and requests_per_period * c.max_percent_with_history / 100 >= c.patient_traffic * affordable
        ):
            affordable *= min(1.0, c.patient_budget / budget)
        wanted = min(affordable, c.growth * max(ev.canary_requests, c.first_period_requests))
        if c.min_period_requests is not None:
            wanted = max(wanted, c.min_period_requests)
        wanted = max(wanted, c.min_growth * ev.canary_requests)
        if (
            c.latency_probe_requests is not None
            and ev.latency.tail_clean_periods < c.latency_probe_clean_periods
        ):
            wanted = min(wanted, c.latency_probe_requests)
        narrow = 100 * c.split_penalty / (ev.pass_margin_ratio + c.split_penalty)
        progress = min(1.0, max(0.0, math.log(max(ev.pass_e_value, 1e-300)) / math.log(c.wide_odds)))
        cap = narrow * (c.max_percent / narrow) ** progress if narrow < c.max_percent else c.max_percent
        clean = ev.baseline_errors_5xx == 0 and ev.canary_errors_5xx == 0
        # With a trusted history the judge's deciding tests are one-sample (the canary's own errors against
        # the history's rate): they gain from every canary request, so the split cap would only slow them.
        # While the baseline's own counts say its rate rose above the history's, the share stays under
        # max_percent: the drift discount reads the baseline, which must keep pace with the canary.
        top = c.max_percent
        if trusting and ev.history is not None and ev.history.drift_rise_e_value <= 1.0:
            cap = top = c.max_percent_with_history
        elif trusting or clean or ev.pass_margin_ratio >= c.clean_margin_ratio:
            cap = c.max_percent
        top = min(top, self._baseline_tail_percent(c, requests_per_period))
        return min(cap, self._percent_for(c, wanted, requests_per_period, top))

    @staticmethod
    def _baseline_tail_percent(c: RampConfig, requests_per_period: float) -> float:
        """The largest share that leaves the baseline `latency_probe_requests` a period (rule 6; 100 when
        there is no probe, or the traffic is too thin for both versions to carry one)."""
        probe = c.latency_probe_requests
        if probe is None or requests_per_period < 2 * probe:
            return 100.0
        return 100.0 * (1 - probe / requests_per_period)


def _plausible_multiple(errors: int, expected: float, odds: float, top: float) -> float:
    """The largest multiple r of the null rate (at most `top`) whose Poisson likelihood for `errors` canary
    errors, `expected` of them expected at the null rate, is within `odds` of the best r >= 1."""
    if expected <= 0:
        return top

    def log_likelihood(r: float) -> float:
        return errors * math.log(r) - (r - 1) * expected

    low = max(1.0, errors / expected)
    floor = log_likelihood(low) - math.log(odds)
    if log_likelihood(top) >= floor:
        return top
    high = top
    for _ in range(50):  # bisection on a log scale; the likelihood falls monotonically past its peak
        middle = math.sqrt(low * high)
        low, high = (middle, high) if log_likelihood(middle) >= floor else (low, middle)
    return low

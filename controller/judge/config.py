"""The judge's settings and its priors over regressions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.judge.dispersion import DISPERSION_FLOOR

# The regressions the fail test bets on (canary/baseline error-rate ratios, as multiples of psi0), spaced
# about evenly in log ratio from 1.25x to 100x, and the share of the bet on each: the same for every ratio
# and for the regression margin itself (see JudgeConfig), a log-uniform prior that favours no regression
# over another. An earlier prior put most of its weight on 1.5x, 4x and 50x, the ratios of the named
# benchmark scenarios; on the scenario family's tuning split (bench/family.py) the even prior does as well
# or better on every goal (docs/judge.md, "The scenario family"), so nothing here is fitted to a scenario.
DEFAULT_ALTERNATIVES: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0, 20.0, 50.0, 100.0)
_EVEN = 1 / (len(DEFAULT_ALTERNATIVES) + 1)
DEFAULT_WEIGHTS: tuple[float, ...] = (_EVEN,) * len(DEFAULT_ALTERNATIVES)
DEFAULT_MARGIN_WEIGHT = _EVEN

# The history fail test's prior over the same alternatives and the margin: the same even prior.
DEFAULT_HISTORY_WEIGHTS: tuple[float, ...] = DEFAULT_WEIGHTS
DEFAULT_HISTORY_MARGIN_WEIGHT = _EVEN

# The count pass test's alternatives, as fractions r of the regression rate q, and their weights: most of
# the bet on a spotless canary (r = 0: dies at the first canary error, passes fastest when none comes),
# the rest on near-clean ones so that a canary with a few errors well under q still passes.
COUNT_RATIOS: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5)
COUNT_WEIGHTS: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)
# The count test's share of the pass e-process (the split test has the rest); see the module docstring.
COUNT_SHARE = 0.2


# Where the noise lasts (JudgeConfig.lasting_noise), the pass margin may widen this far: the largest
# regression the fail test bets on. It is a bound on the search, not a margin chosen: the plan takes the
# narrowest margin the traffic and the noise left resolve in time, and the fail test still bets on every
# alternative.
LASTING_WIDEST_RATIO = max(DEFAULT_ALTERNATIVES)

# How far below the configured margin the pass margin may narrow where the traffic resolves it
# (JudgeConfig.narrowest_regression_ratio): the mild-detection goal's lower end. On the benchmark's tuning
# split 1.25x, 1.3x and 1.4x caught the same mild cells, and off caught half as many; the evaluation split
# only reports it (docs/judge.md, "Narrower where the traffic allows").
DEFAULT_NARROWEST_RATIO = 1.3


def horizon_periods_for(limit_s: float | None, period_s: float) -> int | None:
    """`horizon_periods` for a rollout's time limit (None: none): the whole metric periods inside it."""
    if limit_s is None:
        return None
    return max(1, math.floor(limit_s / period_s))


def min_periods_for(observation_s: float, period_s: float) -> int:
    """`min_periods` for a minimum observation time (`shift --min-observation`): whole metric periods,
    rounded up, and never under the default two."""
    periods = math.ceil(observation_s / period_s) if observation_s > 0 else 0
    return max(JudgeConfig.min_periods, periods)


@dataclass(frozen=True)
class JudgeConfig:
    """How sure the judge must be, and what counts as a regression.

    alpha: false-rollback rate for a canary no worse than the tolerance, under continuous monitoring.
    beta: pass rate for a canary at the regression margin (a missed regression).
    tolerance_relative/absolute: the canary may be this much worse before FAIL is possible:
        canary rate <= baseline rate * (1 + relative) + absolute.
    regression_relative/absolute: the smallest regression the judge must not pass:
        canary rate >= baseline rate + max(baseline rate * relative, absolute).
    alternatives/weights/margin_weight: the fail test's prior over regressions (ratios as multiples of
        psi0; weights sum to at most 1 with margin_weight, the weight on the regression margin itself).
    margin_sds: the absolute margin becomes a ratio through the baseline rate, estimated as (errors + 1) /
        requests plus this many standard deviations. 0 (the estimate) passes healthy low-error releases
        ~100 s sooner than 2 (a high bound) at 50 requests/s; regressions right at the absolute margin were
        passed at most 0.1 % of the time in the benchmark's simulator (beta is 1 %).
    min_periods/min_canary_requests: PASS needs at least this much data whatever the tests say.
    history_min_requests/history_weight: with a `BaselineHistory` of at least this many requests, the
        history tests get this share of the pass (and, with history_fail, the fail) e-process.
    history_weights/history_margin_weight: the history fail test's prior over `alternatives`.
    history_bound_share: the share of alpha (beta) spent on the history's upper (lower) rate bound.
    history_fail: let the history test FAIL a canary too (default): faster and cheaper detection, but it
        trusts the baseline's rate to hold still during the rollout, watched and discounted when it does
        not (see "Baseline history" in the module docstring). False: alpha holds under any drift.
    late_onset_share/late_onset_periods: the share of every fail bet that starts after the first period,
        spread evenly over the next late_onset_periods periods (controller/judge/onset.py), so a release
        that turns bad late is judged on the periods since, not on the healthy ones before. By default the
        periods are those the judge must watch before it may pass (periods 2 to min_periods - 1): none
        with the default min_periods of 2, all of a `--min-observation` window. 0 bets only from the first
        period (faster on a regression present from the start, slower on a late one).
    horizon_periods: the metric periods the rollout may take before it is rolled back undecided (`--strategy
        adaptive`'s time limit); None: no limit. With a limit the pass margin widens, period by period, to
        the smallest regression the traffic left can resolve in time (controller/judge/horizon.py), never
        beyond widest_regression_ratio (regressions that large are still passed at most beta of the time),
        and an absolute margin wider than widest_regression_ratio gives way to it where the traffic left
        resolves that ratio, or to the narrowest ratio between the two that the traffic left resolves.
    narrowest_regression_ratio: with a limit and a baseline history, the pass margin also narrows below the
        configured one, as far as this ratio, where the traffic left resolves it (planned with caution, as
        between 2x and an absolute margin, and read against the highest rate the concurrent baseline's own
        counts allow today, so that a baseline that rose since its history narrows it less): 1.3 catches a
        busy service's 1.3x regressions, at the price of slower promotions (docs/judge.md); the default.
        None: the configured margin is the narrowest (`shift --narrowest-ratio off`).
    latency_*: percentiles breach at canary > baseline * (1 + relative) + ms, are judged only where both
        versions served at least latency_min_requests (p50, p90, p99), and FAIL after
        latency_breach_periods breaching judgements in a row of one percentile (a period too thin to judge
        it changes nothing); one judgement above baseline * (1 + latency_severe_relative) + ms FAILs at
        once (None: no one-period limit). The two-in-a-row rule keeps the noisy sample percentiles of thin
        periods from rolling back a healthy release at the 1.25x limit; a breach well beyond it is not
        noise at the sample sizes judged, and waiting a period for it costs a period of canary traffic
        (its value is chosen on the benchmark's tuning split, docs/judge.md).
    lasting_noise: where the history's noise clearly lasts longer than a period (its sums over 2-16 periods
        vary more than independent periods would: dispersion.read_persistence), every test, the plan and
        the time limit's last look carry the noise at that scale (each period's c2 the one independent
        periods would need to vary as much over the sum), and the plan may widen the pass margin past
        widest_regression_ratio, up to LASTING_WIDEST_RATIO. Such noise leaves a rollout of 30 minutes a
        few independent looks at each version, too few to tell 1x from 2x at both alpha and beta; this
        keeps alpha (no healthy release rolled back by a burst, or run out of time by it) and lets the
        margin, reported in every judgement, say which regressions the rollout can still resolve.
        False: periods are independent given the rate, as in the family's histories (docs/judge.md,
        "Noise that lasts").
    outlier_cap: where the history shows periods its noise model cannot explain (spikes: counts beyond
        the negative binomial's 1e-5 tail around their neighbours, at the other periods' c2), the history
        tests censor each period's likelihood ratio as Huber's robust test does for that share of periods
        (controller/judge/outliers.py): the fail test's capped from above, so that one spike on the canary
        cannot roll a healthy release back however far it reaches, the count pass test's held from below,
        so that it costs the pass evidence little. False: every period's ratio counts whole, as in the
        family's histories, where such periods are rare (docs/judge.md, "Noise in spikes").
    limit_beta: with a time limit, a release still undecided in the last period it may be judged gets one
        fixed-sample test of "it is a regression at the pass margin" (controller/judge/limit_test.py), and
        passes if that test rejects it at this level: a regression at the margin is then passed at most
        beta + limit_beta of the time. None: an undecided release is rolled back at the limit.
    latency_slow_alpha/latency_slow_tolerance: the slow-request test (controller/judge/slow.py), read where
        the periods report each version's slow requests: FAIL once the canary's share of them is beyond
        (1 + tolerance) times the live version's at this false-rollback rate, spent on top of alpha (None:
        no such test; the percentile check alone judges latency).
    """

    alpha: float = 0.01
    beta: float = 0.01
    tolerance_relative: float = 0.0
    tolerance_absolute: float = 0.0
    regression_relative: float = 0.5
    regression_absolute: float = 0.005
    alternatives: tuple[float, ...] = DEFAULT_ALTERNATIVES
    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    margin_weight: float = DEFAULT_MARGIN_WEIGHT
    margin_sds: float = 0.0
    min_periods: int = 2
    min_canary_requests: int = 300
    latency_tolerance_relative: float = 0.25
    latency_tolerance_ms: float = 5.0
    latency_min_requests: tuple[int, int, int] = (20, 25, 200)  # p50, p90, p99
    latency_breach_periods: int = 2
    latency_severe_relative: float | None = 0.55
    history_min_requests: int = 10_000
    history_weight: float = 0.95
    history_weights: tuple[float, ...] = DEFAULT_HISTORY_WEIGHTS
    history_margin_weight: float = DEFAULT_HISTORY_MARGIN_WEIGHT
    history_bound_share: float = 0.1
    history_fail: bool = True
    overdispersion: bool = True  # model each period's extra-binomial noise (c2 from the history)
    dispersion_floor: float = DISPERSION_FLOOR  # c2 used at least (a CV of 5 %), whatever the history says
    late_onset_share: float = 0.5
    late_onset_periods: int | None = None  # None: the periods before PASS is allowed (min_periods - 2)
    horizon_periods: int | None = None
    widest_regression_ratio: float = 2.0
    narrowest_regression_ratio: float | None = DEFAULT_NARROWEST_RATIO
    lasting_noise: bool = True
    outlier_cap: bool = True
    limit_beta: float | None = 0.005
    latency_slow_alpha: float | None = 0.002
    latency_slow_tolerance: float = 0.5

    @property
    def late_onset_starts(self) -> int:
        """How many later periods the late-onset bets start in (0: every bet starts in the first)."""
        if self.late_onset_share == 0:
            return 0
        return self.late_onset_periods if self.late_onset_periods is not None else self.min_periods - 2

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"JudgeConfig.{name} is {value}; it is a probability, use e.g. 0.01")
        if self.tolerance_relative < 0 or self.tolerance_absolute < 0:
            raise ValueError("JudgeConfig tolerances cannot be negative; 0 means any worsening may fail")
        if self.regression_relative <= self.tolerance_relative:
            raise ValueError(
                "JudgeConfig.regression_relative must exceed tolerance_relative, or a canary could be both "
                "acceptable and a regression"
            )
        if len(self.alternatives) != len(self.weights) or not self.alternatives:
            raise ValueError("JudgeConfig.alternatives and weights must be non-empty and of equal length")
        if any(a <= 1 for a in self.alternatives) or any(w <= 0 for w in self.weights):
            raise ValueError("JudgeConfig.alternatives must all exceed 1 and weights must be positive")
        if self.margin_weight < 0 or sum(self.weights) + self.margin_weight > 1 + 1e-9:
            raise ValueError(
                "JudgeConfig.weights plus margin_weight must sum to at most 1, or the fail test loses its "
                "guarantee"
            )
        if self.margin_sds < 0:
            raise ValueError(
                "JudgeConfig.margin_sds cannot be negative: below the baseline estimate the margin would be "
                "wider than asked for; use 0 (the estimate) or e.g. 2 for a conservative margin"
            )
        if self.history_min_requests < 1 or not 0 <= self.history_weight < 1:
            raise ValueError(
                "JudgeConfig.history_min_requests must be >= 1 and history_weight in [0, 1) (0 ignores "
                "history; below 1 keeps the concurrent tests in play)"
            )
        if not 0 <= self.late_onset_share < 1 or (self.late_onset_periods or 0) < 0:
            raise ValueError(
                "JudgeConfig.late_onset_share must be in [0, 1) and late_onset_periods at least 0 (0 bets "
                "only from the first period)"
            )
        if self.limit_beta is not None and not 0 < self.limit_beta < 1:
            raise ValueError(
                f"JudgeConfig.limit_beta is {self.limit_beta}; it is a probability, use e.g. 0.005 (None: no "
                "time-limit test)"
            )
        if self.horizon_periods is not None and self.horizon_periods < 1:
            raise ValueError("JudgeConfig.horizon_periods must be at least 1, or None for no time limit")
        if self.widest_regression_ratio <= 1:
            raise ValueError(
                "JudgeConfig.widest_regression_ratio must exceed 1; 2 keeps 2x regressions caught"
            )
        narrowest = self.narrowest_regression_ratio
        if narrowest is not None and not 1 < narrowest <= self.widest_regression_ratio:
            raise ValueError(
                "JudgeConfig.narrowest_regression_ratio must exceed 1 and be at most widest_regression_ratio "
                "(None: never narrower than the configured margin)"
            )
        severe = self.latency_severe_relative
        if severe is not None and not severe > self.latency_tolerance_relative:
            raise ValueError(
                "JudgeConfig.latency_severe_relative must exceed latency_tolerance_relative (None: no "
                "one-period limit)"
            )
        if self.latency_slow_alpha is not None and not 0 < self.latency_slow_alpha < 1:
            raise ValueError(
                f"JudgeConfig.latency_slow_alpha is {self.latency_slow_alpha}; it is a probability, use e.g. "
                "0.002 (None: no slow-request test)"
            )
        if self.latency_slow_tolerance < 0:
            raise ValueError("JudgeConfig.latency_slow_tolerance cannot be negative; 1 allows the canary 2x")
        if self.latency_breach_periods < 1 or self.min_periods < 1:
            raise ValueError("JudgeConfig.latency_breach_periods and min_periods must be at least 1")

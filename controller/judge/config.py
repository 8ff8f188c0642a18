"""The judge's settings and its priors over regressions."""

from __future__ import annotations

from dataclasses import dataclass

# The regressions the fail test bets on (canary/baseline error-rate ratios, as multiples of psi0) and the
# share of the bet on each: most of it on a mild (1.5x), a clear (4x) and a severe (50x) regression, the
# kinds a release is judged against, the rest spread so that anything in between is still caught. A
# regression needs about ln(1/alpha) / (ln r - 1 + 1/r) canary errors to show (64 at 1.5x, 7 at 4x, 2 at
# 50x) and each nat the prior withholds costs 1/(ln r - 1 + 1/r) more errors, so the weights are sized to
# those three. Another DEFAULT_MARGIN_WEIGHT goes on the regression margin itself (see JudgeConfig).
DEFAULT_ALTERNATIVES: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0, 20.0, 50.0, 100.0)
DEFAULT_WEIGHTS: tuple[float, ...] = (0.02, 0.24, 0.015, 0.015, 0.22, 0.015, 0.01, 0.01, 0.2, 0.015)
DEFAULT_MARGIN_WEIGHT = 0.24

# The history fail test's prior over the same alternatives. It compares the canary with a known rate, so
# each error carries more evidence than in the split test and the overshoot of the deciding period, not the
# prior, dominates what a mild regression costs: the weight moves from the mild regression and the margin
# to the clear and severe ones, whose cost is a handful of errors. The ratios in between keep half a
# percent each: ln 2 nats (a fraction of an error at 3x or more) dearer than under the split test's prior.
DEFAULT_HISTORY_WEIGHTS: tuple[float, ...] = (
    0.005, 0.12, 0.005, 0.005, 0.42, 0.005, 0.005, 0.02, 0.35, 0.005
)  # fmt: skip
DEFAULT_HISTORY_MARGIN_WEIGHT = 0.06

# The count pass test's alternatives, as fractions r of the regression rate q, and their weights: most of
# the bet on a spotless canary (r = 0: dies at the first canary error, passes fastest when none comes),
# the rest on near-clean ones so that a canary with a few errors well under q still passes.
COUNT_RATIOS: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5)
COUNT_WEIGHTS: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)
# The count test's share of the pass e-process (the split test has the rest); see the module docstring.
COUNT_SHARE = 0.2


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
    latency_*: percentiles breach at canary > baseline * (1 + relative) + ms, are judged only with at
        least latency_min_requests (p50, p90, p99) canary requests, and FAIL after latency_breach_periods
        breaching periods in a row.
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
    history_min_requests: int = 10_000
    history_weight: float = 0.95
    history_weights: tuple[float, ...] = DEFAULT_HISTORY_WEIGHTS
    history_margin_weight: float = DEFAULT_HISTORY_MARGIN_WEIGHT
    history_bound_share: float = 0.1
    history_fail: bool = True
    # The robust tests (controller/judge/robust.py):
    drift_sd: float = 0.3  # prior sd of log(today's rate / the history's rate)
    dispersion_floor: float = 0.0025  # c2 used at least (a CV of 5 %), whatever the history says
    bound_miss: float = 0.05  # one-sided miss probability of the today's-rate bounds the tests are pinned to
    onset_first_weight: float = 0.5  # weight of a regression present from the first period
    onset_horizon: int = 60  # periods over which a later onset shares the rest
    count_ratios: tuple[float, ...] = COUNT_RATIOS
    count_weights: tuple[float, ...] = COUNT_WEIGHTS
    # The pass test's margin: the smallest of `margin_ladder` (canary/baseline ratios) that the traffic can
    # decide within `decision_periods` periods using `margin_traffic_share` of the requests they bring (0:
    # the fixed regression_relative/regression_absolute margin instead), fixed after `margin_periods`.
    margin_ladder: tuple[float, ...] = ()
    margin_traffic_share: float = 0.5
    decision_periods: int = 30
    margin_periods: int = 2

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
        if self.latency_breach_periods < 1 or self.min_periods < 1:
            raise ValueError("JudgeConfig.latency_breach_periods and min_periods must be at least 1")

"""The canary judge: continue, pass or fail, from what CloudWatch reports per metric period.

Pure and deterministic. Feed it, once per metric period, the canary's and the baseline's `WindowStats`
(request Count sum, 5XXError sum, 4XXError sum, Latency p50/p90/p99 of that period):

    judge = Judge(JudgeConfig())          # one judge per rollout; it accumulates evidence
    judgement = judge.observe(canary, baseline)
    judgement.verdict                      # Verdict.CONTINUE | Verdict.PASS | Verdict.FAIL
    judgement.reason                       # one sentence for a human
    judgement.evidence                     # numbers behind it (JSON-serialisable; the ramp reads it)

Once a judgement is PASS or FAIL the judge keeps returning it.

Error rate (the part with a guarantee)
---------------------------------------
The baseline's error rate is not known in advance and drifts, so the judge never estimates it. It tests the
*split* of errors between the versions: within one period, given that an error happened, it came from the
canary with probability q = w*psi / (w*psi + 1 - w), where w is the canary's share of the period's requests
and psi = canary rate / baseline rate. The baseline rate cancels out, so the test holds whatever it is and
however it moves between periods (Lindon, Sanden, Shirikian, KDD 2022, test count processes this way).

* FAIL: a mixture of likelihood ratios over regressions psi_k > psi0 (psi0 = 1 + tolerance) against
  psi0. Under "canary no worse than tolerance" it is a nonnegative supermartingale with mean <= 1, so by
  Ville's inequality it ever reaches 1/alpha with probability <= alpha, however often it is looked at
  (anytime-valid; no peeking penalty). The mixture is the prior over regressions (`alternatives`,
  `weights`): weight near a regression is what makes it fail after few errors, so the default puts it
  near a mild, a clear and a severe regression and on the regression margin (`margin_weight`), and
  spreads a little over the rest. Everything the mixture needs is known before the period it bets on
  (psi0 and the margin use only earlier baseline counts), which keeps the supermartingale property.
* PASS: the likelihood ratio of "as good as the baseline" (psi = 1) against "a regression worth catching"
  (psi_pass = 1 + max(regression_relative, regression_absolute / baseline rate)) reaching 1/beta. A
  regression at or beyond that margin passes with probability <= beta. The absolute part keeps low-error
  APIs from needing hours of traffic to show that 0.1 % is not 0.15 %. It turns into a ratio through the
  baseline's rate as estimated from earlier periods (`margin_sds` above the estimate, default none), so
  for the absolute part beta holds up to that estimate's error, which shrinks as the baseline's errors
  accumulate; the relative part is exact.
* PASS on clean data: the split test learns nothing from a period in which neither version errs, so a
  clean service would never pass on it. A second pass test bets on the canary's own error count: a
  regression has canary rate >= q = b + max(b * regression_relative, regression_absolute) >= the absolute
  floor, whatever the baseline rate b is. With k errors in n canary requests, the likelihood ratio of a
  lower rate r*q against q, (r)^k ((1 - r*q) / (1 - q))^(n - k), is a nonnegative supermartingale for any
  canary rate >= q, and so is a mixture over r (`COUNT_RATIOS`: r = 0 passes a spotless canary fastest, in
  about ln(1/beta) / q requests, the others survive a few errors). q uses a low estimate of b (two
  standard deviations under the errors seen before the period), so the absolute floor is exact for any
  baseline and the baseline part holds up to that estimate's error, which is conservative by design.
* The two pass tests are combined as one e-process, (1 - COUNT_SHARE) * split + COUNT_SHARE * count,
  which PASSes at 1/beta: an average of supermartingales is one, so Ville's bound beta holds for the
  combination. It passes whenever the split test reaches 1/((1 - s) beta) or the count test 1/(s beta),
  i.e. it is never slower than the Bonferroni split of beta between "either test at its own boundary",
  and sooner when both hold some evidence. s = 0.2 keeps the split test (the one that works on erring
  services) within 0.22 nats of its old boundary; the count test pays ln 5 nats.

Baseline history (optional)
---------------------------
`Judge(config, history=BaselineHistory(requests, errors_5xx))` adds what the live version did before the
rollout (the controller reads the last 24 hours from CloudWatch). With at least `history_min_requests`
requests the baseline's rate is pinned between a lower and an upper confidence bound, each missing with
probability `history_bound_share` of beta or alpha, and one-sample tests bet on the canary's own counts
against those bounds: a canary that serves r times the baseline's rate is told apart after about
ln(1/alpha) / (r ln r - r + 1) of its errors, however small or large its share (the split test needs far
more at a large share, and cannot be fast at all when the baseline itself sees few errors).

* PASS: the history count test, H0 "canary rate >= q" with q = low + max(low * regression_relative,
  regression_absolute), bets mostly on the canary erring at the history's own rate. It joins the pass
  e-process with `history_weight` (the concurrent tests keep the rest), and beta is shared with the
  bound. If the baseline's rate has dropped since the history, the pass test is pinned to the history's
  lower bound: a canary that is better than the service's usual rate may pass although it is worse than
  today's baseline, so the pass evidence is divided by the drift watch's evidence of such a fall (below).
  The concurrent fail test still watches it.
* FAIL (`history_fail=True`, the default): the same prior over regressions, as multiples of the upper
  bound, bets on the canary's counts; the fail e-process becomes (1 - history_weight) * split +
  history_weight * history and alpha is shared with the bound. This trusts the baseline's rate to hold
  still: under a stationary baseline it is anytime-valid at alpha; if the rate rises during the rollout
  (an incident, a daily peak) the canary's own errors rise with it and can fail it. Three defences: the
  bound follows the concurrent baseline once that is DRIFT_SDS standard deviations above it; the history
  fail evidence is divided by the concurrent baseline's likelihood ratio for "above the bound", squared
  (DRIFT_FAIL_POWER) and scaled by the canary/baseline request ratio so a large canary share cannot
  outrun it; and the drift watch (mixture e-processes on the baseline's counts for a rise or a fall past
  the history's bounds, DRIFT_RISES / DRIFT_FALLS) keeps the ramp's share narrow while it sees a rise,
  so the baseline's evidence keeps pace with the canary's. Dividing an e-process by anything >= 1 keeps
  its guarantee; what the defences buy under drift is measured, not guaranteed: `bench/drift.py` rolls
  back 2.6 % of good releases when the rate rises by 30 % mid-rollout, where CloudWatch alarms tuned to
  the usual rate roll back 4-7 % (docs/judge.md). `history_fail=False` (`--no-trust-baseline-history`) keeps
  the fail test on the concurrent split alone, whose alpha holds whatever the baseline does.

Counts are binomial, not Poisson; conditionally on the period's error total the canary's count is then
hypergeometric, which is less spread than the binomial the test assumes, so the fail test stays
conservative for identical versions (Hoeffding 1963, convex order).

Latency (robust, not a sequential test)
---------------------------------------
Each period, every percentile both versions report is compared when the canary served enough requests for
that percentile to mean something (`latency_min_requests`): a breach is canary > baseline * (1 +
latency_tolerance_relative) + latency_tolerance_ms. FAIL needs `latency_breach_periods` consecutive
breaching periods, so one noisy period cannot roll back. PASS needs at least one clean judged period and
no breach in the latest judged period.

A judge never passes without evidence: PASS also needs `min_periods` periods and `min_canary_requests`
canary requests.

What it costs, measured by `python -m bench` (bench/judge_sim.py): how many failed requests a bad release
serves before FAIL, against Wald's limit for a test that knows both error rates, and against tuned
CodeDeploy, Flagger, Kayenta and the recipe on the same traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from statistics import NormalDist
from typing import Any

__all__ = ["BaselineHistory", "Judge", "JudgeConfig", "Judgement", "Verdict", "WindowStats"]

PERCENTILES = ("p50", "p90", "p99")


@dataclass(frozen=True)
class WindowStats:
    """One metric period of one version, as CloudWatch reports it."""

    requests: int
    errors_5xx: int
    errors_4xx: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None

    def __post_init__(self) -> None:
        for name in ("requests", "errors_5xx", "errors_4xx"):
            if getattr(self, name) < 0:
                raise ValueError(f"WindowStats.{name} is {getattr(self, name)}; counts cannot be negative")


@dataclass(frozen=True)
class BaselineHistory:
    """The live version's requests and 5XX errors before the rollout (e.g. its last 24 hours).

    The controller reads it from CloudWatch as stage minus canary; the judge uses it only with at least
    `JudgeConfig.history_min_requests` requests.
    """

    requests: int
    errors_5xx: int

    def __post_init__(self) -> None:
        if self.requests < 0 or self.errors_5xx < 0 or self.errors_5xx > self.requests:
            raise ValueError(
                f"BaselineHistory({self.requests}, {self.errors_5xx}): counts must be >= 0 and errors "
                "cannot exceed requests"
            )


class Verdict(Enum):
    CONTINUE = "continue"
    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    evidence: dict[str, Any]


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


def _log_ratio_factor(x: int, e: int, w: float, psi: float, psi_ref: float) -> float:
    """log of P(x of e errors on the canary | psi) / P(same | psi_ref) for canary request share w."""
    return x * (math.log(psi) - math.log(psi_ref)) - e * (
        math.log(w * psi + 1 - w) - math.log(w * psi_ref + 1 - w)
    )


def _rate_bound(errors: int, requests: int, sds: float) -> float:
    """A rough upper (sds > 0) or lower (sds < 0) bound on a rate; only sizes margins, never the guarantee."""
    if requests <= 0:
        return math.nan
    return max(0.0, errors + 1 + sds * math.sqrt(errors + 1)) / requests


# The share of alpha (and beta) spent on the history's confidence bound when history is used: the bound
# misses the true baseline rate with probability alpha * history_bound_share, the e-processes get the rest.
# Pseudo-errors the history lends the running estimate of the current baseline rate: enough to keep one
# quiet period from moving it, few enough that a baseline whose rate really moved takes over in a period
# or two of traffic.
HISTORY_PRIOR_ERRORS = 10.0
# How far outside its own confidence bounds the concurrent baseline must be before it, not the history,
# sets the rates the history tests are pinned to (the baseline's rate moved since the history).
DRIFT_SDS = 3.0
# The drift watch: e-processes on the concurrent baseline's own counts for "its rate has left the history's
# bound", mixed evenly over these multiples of the upper bound (rises) and of the lower bound (falls). They
# discount the history tests and keep the trusting ramp's share narrow (controller/ramp.py) while they are
# above 1.
DRIFT_RISES: tuple[float, ...] = (1.1, 1.2, 1.35, 1.5, 2.0, 3.0)
DRIFT_FALLS: tuple[float, ...] = (0.9, 0.8, 0.65, 0.5)
# The fail test's drift discount is the concurrent baseline's likelihood ratio for its own rate against the
# history's upper bound, raised to this power times the canary/baseline request ratio. At 1 the discount
# only matches the canary's evidence on average, and their difference wanders like a random walk that a
# long rollout eventually carries over the threshold; 2 gives that difference a downward drift (measured in
# tests/unit/test_judge.py, good releases under a 30 % rise: 4.5 % rolled back with it, 9 % without).
DRIFT_FAIL_POWER = 2.0
# The history count test's bets, as multiples of r* = (history rate) / q: a canary like the baseline sits
# at r*, so most of the weight goes there; the rest covers a spotless canary and a slightly worse one.
HISTORY_COUNT_MULTIPLES: tuple[float, ...] = (0.0, 0.5, 1.0, 1.2)
HISTORY_COUNT_WEIGHTS: tuple[float, ...] = (0.05, 0.1, 0.7, 0.15)


def _poisson_bound(errors: int, requests: int, z: float) -> float:
    """Upper (z > 0) or lower (z < 0) confidence bound on a rate from a count (Wilson-Hilferty)."""
    if requests <= 0:
        return math.nan
    k = errors + 1 if z > 0 else errors
    if k <= 0:
        return 0.0
    return max(0.0, k * (1 - 1 / (9 * k) + z / (3 * math.sqrt(k))) ** 3) / requests


def _log_mix(weights: tuple[float, ...] | list[float], logs: list[float]) -> float:
    """log of sum(w * exp(l)), stable, for weights > 0 (an empty or all -inf mixture is -inf)."""
    live = [(w, lg) for w, lg in zip(weights, logs, strict=True) if w > 0 and lg > -math.inf]
    if not live:
        return -math.inf
    top = max(lg for _, lg in live)
    return top + math.log(sum(w * math.exp(lg - top) for w, lg in live))


class _HistoryTests:
    """One-sample tests of the canary's own errors against the baseline's rate known from its history.

    See "Baseline history" in the module docstring. `null_rate` and `regression_rate` are what the fail and
    the pass test are pinned to for the coming period: the history's confidence bounds, moved to the
    concurrent baseline's own bounds when it has drifted past them (predictable: earlier periods only).
    """

    def __init__(self, config: JudgeConfig, history: BaselineHistory) -> None:
        c = config
        self.config = config
        self.history = history
        self.rate = history.errors_5xx / history.requests
        z_fail = NormalDist().inv_cdf(1 - c.alpha * c.history_bound_share)
        z_pass = NormalDist().inv_cdf(1 - c.beta * c.history_bound_share)
        self.high = _poisson_bound(history.errors_5xx, history.requests, z_fail)
        self.low = _poisson_bound(history.errors_5xx, history.requests, -z_pass)
        # The running estimate of the current baseline rate starts at the history's rate, with the weight
        # of HISTORY_PRIOR_ERRORS errors (a clean history lends its upper bound instead of zero).
        prior_rate = self.rate if history.errors_5xx else self.high
        self.prior_requests = HISTORY_PRIOR_ERRORS / prior_rate
        self.prior_errors = HISTORY_PRIOR_ERRORS
        self.log_fail = [0.0] * len(c.alternatives)
        self.log_margin = 0.0
        self.log_count = [0.0] * len(HISTORY_COUNT_MULTIPLES)
        self.canary_requests = 0
        self.canary_errors = 0
        self.null_expected_errors = 0.0
        self.baseline_requests = 0
        self.baseline_errors = 0
        self.null_rate = self.high
        self.regression_rate = self._regression(self.low)
        self.log_rises = [0.0] * len(DRIFT_RISES)
        self.log_falls = [0.0] * len(DRIFT_FALLS)
        r_star = min(0.95, self.rate / self.regression_rate) if self.regression_rate > 0 else 0.0
        self.count_ratios = tuple(min(0.97, m * r_star) for m in HISTORY_COUNT_MULTIPLES)

    def _regression(self, base: float) -> float:
        c = self.config
        return base + max(base * c.regression_relative, c.regression_absolute)

    def current_estimate(self) -> float:
        """The baseline's current rate: concurrent counts plus the history's pseudo-counts."""
        return (self.baseline_errors + self.prior_errors) / (self.baseline_requests + self.prior_requests)

    def _prepare(self) -> None:
        """Fix the coming period's null and regression rates from the baseline seen before it.

        The history's bounds hold unless the baseline's rate has moved since; the concurrent baseline's
        own bounds (DRIFT_SDS wide, so noise rarely crosses them) take over once it shows that it has.
        """
        c = self.config
        now_low = _poisson_bound(self.baseline_errors, self.baseline_requests, -DRIFT_SDS)
        now_high = _poisson_bound(self.baseline_errors, self.baseline_requests, DRIFT_SDS)
        high = max(self.high, 0.0 if math.isnan(now_low) else now_low)
        low = min(self.low, math.inf if math.isnan(now_high) else now_high)
        self.null_rate = high * (1 + c.tolerance_relative) + c.tolerance_absolute
        self.regression_rate = self._regression(low)

    @property
    def margin_multiple(self) -> float:
        return max(self.regression_rate / self.null_rate, 1.1) if self.null_rate > 0 else 1.1

    @property
    def log_rise_e_value(self) -> float:
        """log of the concurrent baseline's evidence that its rate rose above the history's upper bound."""
        return _log_mix([1 / len(DRIFT_RISES)] * len(DRIFT_RISES), self.log_rises)

    @property
    def log_fall_e_value(self) -> float:
        """log of the concurrent baseline's evidence that its rate fell below the history's lower bound."""
        return _log_mix([1 / len(DRIFT_FALLS)] * len(DRIFT_FALLS), self.log_falls)

    def _canary_to_baseline(self) -> float:
        """How much more traffic the canary has had than the baseline (at least 1): a discount read from
        the baseline is scaled by it, or a large canary share would outrun the evidence that voids it."""
        return max(1.0, self.canary_requests / self.baseline_requests) if self.baseline_requests else 1.0

    def _fail_discount(self) -> float:
        """log of the fail test's drift discount: the concurrent baseline's likelihood ratio at its own rate
        against the history's upper bound (0 while it is under the bound), see DRIFT_FAIL_POWER."""
        n, k = self.baseline_requests, self.baseline_errors
        if n == 0 or self.high <= 0 or k / n <= self.high:
            return 0.0
        rate = k / n
        log_lr = k * math.log(rate / self.high) - (rate - self.high) * n
        return DRIFT_FAIL_POWER * max(0.0, log_lr) * self._canary_to_baseline()

    def _pass_discount(self) -> float:
        """log of the pass test's drift discount: the drift watch's evidence of a fall (a baseline better
        than its history would let a canary pass that is worse than today's baseline)."""
        return max(0.0, self.log_fall_e_value) * self._canary_to_baseline()

    def observe(self, n: int, k: int, baseline_n: int, baseline_k: int) -> None:
        """One period: pin its rates on the baseline seen before it, count the baseline (the drift
        discounts read it), then bet on the canary's counts (n requests, k 5XX errors)."""
        self._prepare()
        self.baseline_requests += baseline_n
        self.baseline_errors += baseline_k
        self.canary_requests += n
        for j, m in enumerate(DRIFT_RISES):
            self.log_rises[j] += baseline_k * math.log(m) - (m - 1) * self.high * baseline_n
        for j, m in enumerate(DRIFT_FALLS):
            self.log_falls[j] += baseline_k * math.log(m) - (m - 1) * self.low * baseline_n
        if n == 0:
            return
        p0 = self.null_rate
        if p0 < 1:
            self.canary_errors += k
            self.null_expected_errors += p0 * n
            for j, m in enumerate(self.config.alternatives):
                self.log_fail[j] += k * math.log(m) - (m - 1) * p0 * n
            m = self.margin_multiple
            self.log_margin += k * math.log(m) - (m - 1) * p0 * n
        q = self.regression_rate
        if q >= 1:
            return
        for j, r in enumerate(self.count_ratios):
            if self.log_count[j] == -math.inf:
                continue
            if r == 0:
                self.log_count[j] = -math.inf if k else self.log_count[j] + n * q
            else:
                self.log_count[j] += k * math.log(r) + (1 - r) * q * n

    @property
    def log_fail_e_value(self) -> float:
        c = self.config
        raw = _log_mix([*c.history_weights, c.history_margin_weight], [*self.log_fail, self.log_margin])
        return raw - self._fail_discount()

    @property
    def log_pass_e_value(self) -> float:
        return _log_mix(HISTORY_COUNT_WEIGHTS, self.log_count) - self._pass_discount()


@dataclass
class _LatencyState:
    streak: int = 0
    clean_periods: int = 0
    tail_clean_periods: int = 0  # clean periods in which a tail percentile (p90 or p99) was judged
    last_judged_clean: bool | None = None
    last: dict[str, Any] = field(default_factory=dict)


class Judge:
    """Accumulates evidence period by period; see the module docstring for the tests it runs."""

    def __init__(self, config: JudgeConfig | None = None, history: BaselineHistory | None = None) -> None:
        self.config = config or JudgeConfig()
        c = self.config
        usable = history is not None and history.requests >= c.history_min_requests and c.history_weight > 0
        self.history = _HistoryTests(c, history) if usable and history is not None else None
        self._history_weight = c.history_weight if self.history else 0.0
        spent = c.history_bound_share if self.history else 0.0
        self._history_fail_weight = self._history_weight if c.history_fail else 0.0
        self.fail_threshold = 1 / (c.alpha * (1 - (spent if c.history_fail else 0.0)))
        self.pass_threshold = 1 / (c.beta * (1 - spent))
        self.periods = 0
        self.canary_requests = 0
        self.canary_errors = 0
        self.canary_errors_4xx = 0
        self.baseline_requests = 0
        self.baseline_errors = 0
        self.baseline_errors_4xx = 0
        self._log_fail = [0.0] * len(self.config.alternatives)
        self._log_margin = 0.0
        self._log_pass = 0.0
        self._psi_pass = 1 + self.config.regression_relative
        self._log_count = [0.0] * len(COUNT_RATIOS)
        self._count_rate = self._regression_rate(0, 0)
        self._latency = _LatencyState()
        self._final: Judgement | None = None

    @property
    def uses_history(self) -> bool:
        """Whether the judge uses the baseline history (given one of at least history_min_requests)."""
        return self.history is not None

    @property
    def trusts_history(self) -> bool:
        """Whether the fail test uses the baseline history (history_fail, and a history long enough)."""
        return self._history_fail_weight > 0

    # -- evidence -----------------------------------------------------------------------------------------

    def _null_ratio(self) -> float:
        """psi0 for the coming period, from baseline data seen before it (predictable, so still valid)."""
        c = self.config
        if c.tolerance_absolute == 0:
            return 1 + c.tolerance_relative
        low = _rate_bound(self.baseline_errors, self.baseline_requests, -2.0)
        if not low or math.isnan(low):
            return math.inf
        return 1 + c.tolerance_relative + c.tolerance_absolute / low

    def _pass_ratio(self) -> float:
        """psi_pass for the coming period, from baseline data seen before it."""
        c = self.config
        rate = _rate_bound(self.baseline_errors, self.baseline_requests, c.margin_sds)
        if math.isnan(rate):
            return 1 + c.regression_relative
        return 1 + max(c.regression_relative, c.regression_absolute / rate)

    def _regression_rate(self, errors: int, requests: int) -> float:
        """q: the lowest canary rate that is a regression, from a low estimate of the baseline rate."""
        c = self.config
        low = _rate_bound(errors, requests, -2.0)
        low = 0.0 if math.isnan(low) else low
        return low + max(low * c.regression_relative, c.regression_absolute)

    @property
    def fail_split_e_value(self) -> float:
        """The split test's evidence against "canary no worse than tolerance"."""
        logs = [*self._log_fail, self._log_margin]
        weights = [*self.config.weights, self.config.margin_weight]
        return math.exp(min(_log_mix(weights, logs), 700.0))

    @property
    def fail_history_e_value(self) -> float | None:
        """The history test's evidence against "canary no worse than tolerance" (None without history)."""
        if self.history is None:
            return None
        return math.exp(min(self.history.log_fail_e_value, 700.0))

    @property
    def fail_e_value(self) -> float:
        """Evidence against "canary no worse than tolerance" from both fail tests; FAIL at fail_threshold."""
        h = self._history_fail_weight
        return (1 - h) * self.fail_split_e_value + h * (self.fail_history_e_value or 0.0)

    @property
    def pass_split_e_value(self) -> float:
        """The split test's evidence against "canary is a regression worth catching"."""
        return math.exp(max(min(self._log_pass, 700.0), -700.0))

    @property
    def pass_count_e_value(self) -> float:
        """The count test's evidence against "canary rate >= q" (0 once every alternative is refuted)."""
        total = sum(
            w * math.exp(min(lc, 700.0)) for w, lc in zip(COUNT_WEIGHTS, self._log_count, strict=True)
        )
        return min(total, math.exp(700.0))

    @property
    def pass_history_e_value(self) -> float | None:
        """The history count test's evidence against "canary is a regression" (None without history)."""
        if self.history is None:
            return None
        return math.exp(max(min(self.history.log_pass_e_value, 700.0), -700.0))

    @property
    def pass_e_value(self) -> float:
        """Evidence against "canary is a regression worth catching" from all pass tests; PASS at
        pass_threshold."""
        h = self._history_weight
        concurrent = (1 - COUNT_SHARE) * self.pass_split_e_value + COUNT_SHARE * self.pass_count_e_value
        return (1 - h) * concurrent + h * (self.pass_history_e_value or 0.0)

    def _update_errors(self, canary: WindowStats, baseline: WindowStats) -> None:
        psi0 = self._null_ratio()
        psi_pass = self._pass_ratio()
        self._psi_pass = psi_pass
        x = min(canary.errors_5xx, canary.requests)
        y = min(baseline.errors_5xx, baseline.requests)
        self._update_count(canary.requests, x, baseline.requests, y)
        if self.history is not None:
            self.history.observe(canary.requests, x, baseline.requests, y)
        if canary.requests == 0 or baseline.requests == 0 or x + y == 0:
            return  # no split to read: the period says nothing about the ratio
        w = canary.requests / (canary.requests + baseline.requests)
        if math.isfinite(psi0):
            for k, multiple in enumerate(self.config.alternatives):
                self._log_fail[k] += _log_ratio_factor(x, x + y, w, psi0 * multiple, psi0)
            # The margin moves with the baseline estimate, but only between periods: still a fixed bet.
            self._log_margin += _log_ratio_factor(x, x + y, w, max(psi_pass, psi0 * 1.1), psi0)
        self._log_pass += _log_ratio_factor(x, x + y, w, 1.0, psi_pass)

    def _update_count(self, n: int, k: int, baseline_n: int, baseline_k: int) -> None:
        """Bet on the canary's own errors; q comes from the baseline before this period (predictable)."""
        q = self._regression_rate(self.baseline_errors - baseline_k, self.baseline_requests - baseline_n)
        self._count_rate = q
        if n == 0 or q >= 1:
            return  # no canary requests, or no canary rate is a regression: nothing to bet on
        for j, r in enumerate(COUNT_RATIOS):
            if r == 0:
                self._log_count[j] = -math.inf if k else self._log_count[j] - n * math.log1p(-q)
            else:
                self._log_count[j] += k * math.log(r) + (n - k) * (math.log1p(-r * q) - math.log1p(-q))

    def _update_latency(self, canary: WindowStats, baseline: WindowStats) -> None:
        c = self.config
        state = self._latency
        judged: dict[str, Any] = {}
        breached = []
        for name, minimum in zip(PERCENTILES, c.latency_min_requests, strict=True):
            mine = getattr(canary, f"{name}_ms")
            theirs = getattr(baseline, f"{name}_ms")
            if mine is None or theirs is None or canary.requests < minimum or baseline.requests < minimum:
                continue
            limit = theirs * (1 + c.latency_tolerance_relative) + c.latency_tolerance_ms
            judged[name] = {"canary_ms": mine, "baseline_ms": theirs, "limit_ms": round(limit, 3)}
            if mine > limit:
                breached.append(name)
        if not judged:
            return  # too few canary requests: neither a breach nor a clean period
        state.last = {"percentiles": judged, "breached": breached}
        if breached:
            state.streak += 1
            state.last_judged_clean = False
        else:
            state.streak = 0
            state.clean_periods += 1
            state.tail_clean_periods += any(name != "p50" for name in judged)
            state.last_judged_clean = True

    # -- verdict ------------------------------------------------------------------------------------------

    def observe(self, canary: WindowStats, baseline: WindowStats) -> Judgement:
        """Add one metric period of both versions and judge everything seen so far."""
        if self._final is not None:
            return self._final
        self.periods += 1
        self.canary_requests += canary.requests
        self.canary_errors += min(canary.errors_5xx, canary.requests)
        self.canary_errors_4xx += canary.errors_4xx
        self.baseline_requests += baseline.requests
        self.baseline_errors += min(baseline.errors_5xx, baseline.requests)
        self.baseline_errors_4xx += baseline.errors_4xx
        self._update_errors(canary, baseline)
        self._update_latency(canary, baseline)
        judgement = self._judge()
        if judgement.verdict is not Verdict.CONTINUE:
            self._final = judgement
        return judgement

    def _rates(self) -> tuple[float | None, float | None]:
        canary = self.canary_errors / self.canary_requests if self.canary_requests else None
        base = self.baseline_errors / self.baseline_requests if self.baseline_requests else None
        return canary, base

    def _alternatives_evidence(self) -> list[dict[str, float]]:
        """Each regression the fail test bets on (ratio as a multiple of psi0) and its log-likelihood ratio
        against "no worse"; the ramp reads these to tell which regressions are still plausible. With
        history, the history test's (multiples of its null rate), which is the one that decides."""
        if self.history is not None and self.trusts_history:
            hist = self.history
            return [
                {"ratio": m, "log_likelihood_ratio": lf}
                for m, lf in zip(
                    [*self.config.alternatives, hist.margin_multiple],
                    [*hist.log_fail, hist.log_margin],
                    strict=True,
                )
            ]
        out = [
            {"ratio": m, "log_likelihood_ratio": lf}
            for m, lf in zip(self.config.alternatives, self._log_fail, strict=True)
        ]
        psi0 = self._null_ratio()
        if self.config.margin_weight > 0 and math.isfinite(psi0):
            out.append({"ratio": max(self._psi_pass / psi0, 1.1), "log_likelihood_ratio": self._log_margin})
        return out

    def evidence(self) -> dict[str, Any]:
        """Everything the verdict rests on, JSON-serialisable (ratios are canary/baseline error rates)."""
        canary_rate, base_rate = self._rates()
        ratio = None
        if canary_rate is not None and base_rate:
            ratio = canary_rate / base_rate
        return {
            "periods": self.periods,
            "canary_requests": self.canary_requests,
            "canary_errors_5xx": self.canary_errors,
            "canary_errors_4xx": self.canary_errors_4xx,
            "baseline_requests": self.baseline_requests,
            "baseline_errors_5xx": self.baseline_errors,
            "baseline_errors_4xx": self.baseline_errors_4xx,
            "canary_error_rate": canary_rate,
            "baseline_error_rate": base_rate,
            "error_rate_ratio": ratio,
            "fail_e_value": self.fail_e_value,
            "fail_split_e_value": self.fail_split_e_value,
            "fail_history_e_value": self.fail_history_e_value,
            "fail_threshold": self.fail_threshold,
            "pass_e_value": self.pass_e_value,
            "pass_history_e_value": self.pass_history_e_value,
            "pass_split_e_value": self.pass_split_e_value,
            "pass_count_e_value": self.pass_count_e_value,
            "pass_count_rate": self._count_rate,
            "pass_threshold": self.pass_threshold,
            "pass_margin_ratio": self._psi_pass,
            "null_ratio": self._null_ratio() if not self._history_fail_weight else self._history_null_ratio(),
            "baseline_rate_estimate": self._baseline_estimate(),
            "history": None if self.history is None else self._history_evidence(),
            "alternatives": self._alternatives_evidence(),
            "latency_breach_streak": self._latency.streak,
            "latency_clean_periods": self._latency.clean_periods,
            "latency_tail_clean_periods": self._latency.tail_clean_periods,
            "latency_last": self._latency.last,
        }

    def _baseline_estimate(self) -> float:
        """The baseline's error rate for sizing decisions (the ramp): history-informed when available."""
        if self.history is not None:
            return self.history.current_estimate()
        return (self.baseline_errors + 0.5) / max(self.baseline_requests, 1)

    def _history_null_ratio(self) -> float:
        assert self.history is not None
        return self.history.null_rate / max(self._baseline_estimate(), 1e-12)

    def _history_evidence(self) -> dict[str, Any]:
        assert self.history is not None
        hist = self.history
        return {
            "requests": hist.history.requests,
            "errors_5xx": hist.history.errors_5xx,
            "error_rate": hist.rate,
            "rate_low": hist.low,
            "rate_high": hist.high,
            "null_rate": hist.null_rate,
            "regression_rate": hist.regression_rate,
            "weight": self._history_weight,
            "fail": self.trusts_history,
            "drift_rise_e_value": math.exp(min(hist.log_rise_e_value, 700.0)),
            "drift_fall_e_value": math.exp(min(hist.log_fall_e_value, 700.0)),
            "canary_errors_5xx": hist.canary_errors,
            "null_expected_errors": hist.null_expected_errors,
        }

    def _judge(self) -> Judgement:
        c = self.config
        ev = self.evidence()
        canary_rate, base_rate = self._rates()
        rates = f"canary 5XX {_pct(canary_rate)} of {self.canary_requests} vs baseline {_pct(base_rate)}"
        if ev["fail_e_value"] >= self.fail_threshold:
            return Judgement(
                Verdict.FAIL,
                f"{rates}: evidence {ev['fail_e_value']:.0f} against 'no worse' reached "
                f"{self.fail_threshold:.0f} (false-rollback rate {c.alpha:g}).",
                ev,
            )
        lat = self._latency
        if lat.streak >= c.latency_breach_periods:
            worst = lat.last["breached"][-1]
            p = lat.last["percentiles"][worst]
            return Judgement(
                Verdict.FAIL,
                f"canary {worst} {p['canary_ms']:.0f} ms above the {p['limit_ms']:.0f} ms limit (baseline "
                f"{p['baseline_ms']:.0f} ms) for {lat.streak} periods in a row.",
                ev,
            )
        missing = []
        regression = f"{self._psi_pass:.2g}x worse or at {_pct(self._count_rate)} 5XX"
        if self.history is not None:
            regression = (
                f"at {_pct(self.history.regression_rate)} 5XX or worse (baseline history "
                f"{_pct(self.history.rate)} of {self.history.history.requests})"
            )
        if ev["pass_e_value"] < self.pass_threshold:
            missing.append(
                f"evidence {ev['pass_e_value']:.1f}/{self.pass_threshold:.0f} that it is not {regression}"
            )
        if self.periods < c.min_periods:
            missing.append(f"{self.periods}/{c.min_periods} periods")
        if self.canary_requests < c.min_canary_requests:
            missing.append(f"{self.canary_requests}/{c.min_canary_requests} canary requests")
        if lat.clean_periods == 0 or lat.last_judged_clean is not True:
            missing.append("a clean latency period" if lat.streak == 0 else "latency back under its limit")
        if not missing:
            return Judgement(
                Verdict.PASS,
                f"{rates}: evidence {ev['pass_e_value']:.0f} that it is not {regression} "
                f"(missed-regression rate {c.beta:g}), latency within limits.",
                ev,
            )
        return Judgement(Verdict.CONTINUE, f"{rates}; still needs " + ", ".join(missing) + ".", ev)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.2%}"

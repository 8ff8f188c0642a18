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
from typing import Any

__all__ = ["Judge", "JudgeConfig", "Judgement", "Verdict", "WindowStats"]

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


@dataclass
class _LatencyState:
    streak: int = 0
    clean_periods: int = 0
    last_judged_clean: bool | None = None
    last: dict[str, Any] = field(default_factory=dict)


class Judge:
    """Accumulates evidence period by period; see the module docstring for the tests it runs."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        self.config = config or JudgeConfig()
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
    def fail_e_value(self) -> float:
        """Evidence against "canary no worse than tolerance"; FAIL at 1/alpha."""
        logs = [*self._log_fail, self._log_margin]
        weights = [*self.config.weights, self.config.margin_weight]
        top = max(lf for w, lf in zip(weights, logs, strict=True) if w > 0)
        total = sum(w * math.exp(lf - top) for w, lf in zip(weights, logs, strict=True) if w > 0)
        return math.exp(min(top + math.log(total), 700.0))

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
    def pass_e_value(self) -> float:
        """Evidence against "canary is a regression worth catching" from both pass tests; PASS at 1/beta."""
        return (1 - COUNT_SHARE) * self.pass_split_e_value + COUNT_SHARE * self.pass_count_e_value

    def _update_errors(self, canary: WindowStats, baseline: WindowStats) -> None:
        psi0 = self._null_ratio()
        psi_pass = self._pass_ratio()
        self._psi_pass = psi_pass
        x = min(canary.errors_5xx, canary.requests)
        y = min(baseline.errors_5xx, baseline.requests)
        self._update_count(canary.requests, x, baseline.requests, y)
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
        against "no worse"; the ramp reads these to tell which regressions are still plausible."""
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
        c = self.config
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
            "fail_threshold": 1 / c.alpha,
            "pass_e_value": self.pass_e_value,
            "pass_split_e_value": self.pass_split_e_value,
            "pass_count_e_value": self.pass_count_e_value,
            "pass_count_rate": self._count_rate,
            "pass_threshold": 1 / c.beta,
            "pass_margin_ratio": self._psi_pass,
            "null_ratio": self._null_ratio(),
            "alternatives": self._alternatives_evidence(),
            "latency_breach_streak": self._latency.streak,
            "latency_clean_periods": self._latency.clean_periods,
            "latency_last": self._latency.last,
        }

    def _judge(self) -> Judgement:
        c = self.config
        ev = self.evidence()
        canary_rate, base_rate = self._rates()
        rates = f"canary 5XX {_pct(canary_rate)} of {self.canary_requests} vs baseline {_pct(base_rate)}"
        if ev["fail_e_value"] >= 1 / c.alpha:
            return Judgement(
                Verdict.FAIL,
                f"{rates}: evidence {ev['fail_e_value']:.0f} against 'no worse' reached {1 / c.alpha:.0f} "
                f"(false-rollback rate {c.alpha:g}).",
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
        if ev["pass_e_value"] < 1 / c.beta:
            missing.append(f"evidence {ev['pass_e_value']:.1f}/{1 / c.beta:.0f} that it is not {regression}")
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

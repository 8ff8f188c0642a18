"""The peers the benchmark compares ours with (bench/ours.py runs the controller's engine), as documented.

Each policy sees only what CloudWatch gives per 60 s period and acts only at period boundaries. The simulator
(`bench.judge_sim`) calls `start(runs)` once, then after every period `decide(t, idx, period)` for the runs
still undecided (`idx`), and reads back each run's next canary share from `share`.

Peers are vectorised over runs. Their thresholds are tuned per (baseline error rate, traffic) by
`bench.judge_sim.tune`, so each peer is compared at its most sensitive setting that keeps false rollbacks
at or under 1 %. `stat` holds, per run, the statistic each of its checks compared with the threshold, so the
tuner can find that setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from bench.streams import Period

INF = math.inf


@dataclass
class Decision:
    rollback: np.ndarray  # bool per run in idx
    promote: np.ndarray  # bool per run in idx


def _rate(errors: np.ndarray, requests: np.ndarray) -> np.ndarray:
    """Canary 5XX rate; NaN without requests (CloudWatch metric math gives no datapoint)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(requests > 0, errors / np.maximum(requests, 1), np.nan)


def binom_sf(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """P(X >= x) for X ~ Binomial(n, p), vectorised (exact pmf walk; n is an error count, so small)."""
    x = np.asarray(x, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    out = np.ones(x.shape)
    todo = (x > 0) & (n > 0)
    if not todo.any():
        return out
    xs, ns, ps = x[todo], n[todo].astype(float), p[todo]
    pmf = np.exp(ns * np.log1p(-ps))  # P(X = 0)
    below = np.zeros(xs.shape)
    for k in range(int(xs.max())):
        below += np.where(k < xs, pmf, 0.0)
        pmf = pmf * np.maximum(ns - k, 0) / (k + 1) * ps / (1 - ps)
    out[todo] = np.clip(1 - below, 0.0, 1.0)
    return out


class Policy:
    name = "policy"
    threshold: str | None = None
    reads_history = False  # the simulator hands the baseline history only to policies that read it
    threshold_changes_path = True  # False: a fixed schedule that stops at the first breach (tuning is exact)
    guards = False  # True: still judges a promoted release, and may undo it (`watch`)
    guard_periods = 0  # how long it does: the periods past the horizon a release promoted at it needs
    promoted_share = 1.0  # the promoted release's share of traffic while it guards (the rest: the former)

    @classmethod
    def variants(cls, checks: Checks) -> tuple[Checks, ...]:
        """`checks` under each setting, besides its thresholds, that an operator of this peer also chooses
        (a CloudWatch alarm's M of N, Flagger's failed-check threshold, Kayenta's intervals); the first is
        the documented one.
        The tuner tunes each to 1 % on its own, and a regression takes the one that serves it best."""
        return (checks,)

    @classmethod
    def varied(cls) -> tuple[bool, bool, bool]:
        """Which parts of `Checks.variant` (M of N, failed checks, intervals) this peer's variants set."""
        variants = [checks.variant for checks in cls.variants(Checks())]
        return tuple(len(set(values)) > 1 for values in zip(*variants, strict=True))  # type: ignore[return-value]

    def start(self, runs: int, requests_per_period: float | np.ndarray) -> None:
        """`requests_per_period`: the traffic a period carries, one figure or one per run."""
        self.share = np.zeros(runs)
        self.stat = np.full(runs, -INF)

    def see_history(self, requests: np.ndarray, errors: np.ndarray, p99_ms: float | None = None) -> None:
        """Each run's baseline before the rollout, per minute: requests and 5XX errors, each of shape
        (runs, minutes), and its p99 over that day (None: not read); only policies that read history
        (`reads_history`) are handed it."""

    def decide(self, t: int, idx: np.ndarray, period: Period) -> Decision:
        raise NotImplementedError

    def watch(self, t: int, idx: np.ndarray, period: Period) -> np.ndarray:
        """Runs `idx` were promoted and served everything in period t: which are undone now (bool per run).
        Called only for a policy that `guards`."""
        raise NotImplementedError

    def _record(self, idx: np.ndarray, stat: np.ndarray) -> None:
        stat = np.where(np.isnan(stat), -INF, stat)
        self.stat[idx] = np.maximum(self.stat[idx], stat)


# A peer's setting besides its thresholds: (M of N datapoints, failed checks, intervals); see `Checks`.
Variant = tuple[tuple[int, int], int, int]


@dataclass
class Checks:
    """A peer's rollback thresholds; INF switches a check off."""

    error: float = INF  # canary 5XX rate above this fails (Kayenta: -log10 p-value above this)
    latency: float = INF  # canary p99 ms above this fails (Kayenta: canary/baseline p99 above this)
    mode: str = "error"  # which statistic `stat` records for tuning: "error" | "latency"
    # The unit of `error`, one figure or one per run: 1 (absolute), or e.g. each service's usual 5XX rate for
    # a threshold an operator sets as a multiple of it. The statistic recorded for tuning is in that unit.
    error_unit: float | np.ndarray = 1.0
    # CloudWatch alarms only (CodeDeploy's peers): each check's alarm fires when M of its last N periods
    # breach (`DatapointsToAlarm` of `EvaluationPeriods`; a period without data does not breach, CloudWatch's
    # default `TreatMissingData`). (1, 1) is an alarm on one period.
    datapoints: tuple[int, int] = (1, 1)
    # Flagger only: failed checks before a rollback (its analysis `threshold`; 5 is its documented example).
    failed_checks: int = 5
    # Kayenta only: one-minute intervals judged at 10 % before a promotion (the analysis' lifetime).
    intervals: int = 5

    def __post_init__(self) -> None:
        m, n = self.datapoints
        if not 1 <= m <= n:
            raise ValueError(f"an alarm needs 1 <= M <= N datapoints, not {m} of {n}")
        if self.failed_checks < 1:
            raise ValueError(f"a rollback needs at least one failed check, not {self.failed_checks}")
        if self.intervals < 1:
            raise ValueError(f"an analysis needs at least one interval, not {self.intervals}")

    @property
    def variant(self) -> Variant:
        """What tells apart the settings `Policy.variants` gives for one peer and check."""
        return self.datapoints, self.failed_checks, self.intervals

    def per_unit(self, idx: np.ndarray, value: np.ndarray) -> np.ndarray:
        """`value` (runs idx) in units of the error threshold."""
        return value if np.ndim(self.error_unit) == 0 and self.error_unit == 1.0 else value / self._unit(idx)

    def _unit(self, idx: np.ndarray) -> float | np.ndarray:
        return self.error_unit if np.ndim(self.error_unit) == 0 else np.asarray(self.error_unit)[idx]


def _p99(period: Period) -> np.ndarray:
    return period.canary_latency[:, 2]


# Every M of N a CloudWatch alarm can take within five periods, CodeDeploy canary's whole bake at 10 %. M = 1
# of N > 1 is left out: the rollout stops at the first breach, so it is one period's alarm.
ALARM_DATAPOINTS: tuple[tuple[int, int], ...] = ((1, 1),) + tuple(
    (m, n) for n in range(2, 6) for m in range(2, n + 1)
)

# Flagger's analysis `threshold` (failed checks before a rollback): its documented example first, then from a
# rollback on the first failed check to one that tolerates ten, twice the analysis's ramp (5 steps of 10 %).
FLAGGER_FAILED_CHECKS: tuple[int, ...] = (5, 1, 2, 3, 10)

# Kayenta's analysis lifetime in one-minute intervals: the bench's 5 first, then a shorter and a longer one.
KAYENTA_INTERVALS: tuple[int, ...] = (5, 3, 10)


class _AlarmPolicy(Policy):
    """CloudWatch alarms on the canary's 5XX rate (and p99); an alarm in ALARM state rolls back. Each check
    alarms on M of its last N periods (`Checks.datapoints`); the statistic tuned on is then each period's
    M-th largest value in that window, so a run is rolled back at threshold c exactly when it exceeds c."""

    threshold_changes_path = False

    def __init__(self, checks: Checks) -> None:
        self.checks = checks

    @classmethod
    def variants(cls, checks: Checks) -> tuple[Checks, ...]:
        return tuple(replace(checks, datapoints=points) for points in ALARM_DATAPOINTS)

    def start(self, runs: int, requests_per_period: float | np.ndarray) -> None:
        super().start(runs, requests_per_period)
        n = self.checks.datapoints[1]
        self._windows = np.full((2, runs, n), -INF) if n > 1 else None  # the 5XX rate's, the p99's

    def _mth_largest(self, check: int, idx: np.ndarray, value: np.ndarray) -> np.ndarray:
        window = np.roll(self._windows[check, idx], -1, axis=1)
        window[:, -1] = np.where(np.isnan(value), -INF, value)
        self._windows[check, idx] = window
        return np.sort(window, axis=1)[:, -self.checks.datapoints[0]]

    def _breach(self, idx: np.ndarray, period: Period) -> np.ndarray:
        rate = self.checks.per_unit(idx, _rate(period.canary_errors, period.canary_requests))
        p99 = _p99(period)
        if self._windows is not None:
            rate, p99 = self._mth_largest(0, idx, rate), self._mth_largest(1, idx, p99)
        self._record(idx, rate if self.checks.mode == "error" else p99)
        with np.errstate(invalid="ignore"):
            return (rate > self.checks.error) | (p99 > self.checks.latency)  # NaN: no datapoint, no breach


class CodeDeployCanary(_AlarmPolicy):
    """Canary10Percent5Minutes: 10 % for 5 minutes, then all traffic; alarms watched until then."""

    name = "codedeploy_canary"

    def start(self, runs: int, requests_per_period: float) -> None:
        super().start(runs, requests_per_period)
        self.share[:] = 0.10

    def decide(self, t: int, idx: np.ndarray, period: Period) -> Decision:
        breach = self._breach(idx, period)
        promote = ~breach & (t == 4)
        self.share[idx[promote]] = 1.0
        return Decision(breach, promote)


class CodeDeployLinear(_AlarmPolicy):
    """Linear10PercentEvery1Minute: 10 % more each minute, all traffic after 9 minutes."""

    name = "codedeploy_linear"

    def start(self, runs: int, requests_per_period: float) -> None:
        super().start(runs, requests_per_period)
        self.share[:] = 0.10

    def decide(self, t: int, idx: np.ndarray, period: Period) -> Decision:
        breach = self._breach(idx, period)
        self.share[idx] = min(1.0, 0.10 * (t + 2))
        promote = ~breach & (t == 8)
        return Decision(breach, promote)


class Flagger(Policy):
    """Flagger's canary analysis: interval 1m, stepWeight 10, maxWeight 50, threshold `Checks.failed_checks`.

    Each interval the metric checks run (request-success-rate as a 5XX rate ceiling, request-duration as a p99
    ceiling). A passing check advances the weight by stepWeight; at maxWeight a passing check promotes. A
    failing check (or no canary metrics, which Flagger reports as "no values found") holds the weight and
    counts toward `threshold`; reaching it rolls back. Failed checks accumulate; they are not reset by a
    later success.
    """

    name = "flagger"

    def __init__(self, checks: Checks, step: float = 0.10, max_weight: float = 0.50):
        self.checks = checks
        self.step = step
        self.max_weight = max_weight

    @classmethod
    def variants(cls, checks: Checks) -> tuple[Checks, ...]:
        return tuple(replace(checks, failed_checks=k) for k in FLAGGER_FAILED_CHECKS)

    def start(self, runs: int, requests_per_period: float) -> None:
        super().start(runs, requests_per_period)
        self.share[:] = self.step
        self.failed = np.zeros(runs, dtype=np.int64)

    def decide(self, t: int, idx: np.ndarray, period: Period) -> Decision:
        rate = self.checks.per_unit(idx, _rate(period.canary_errors, period.canary_requests))
        p99 = _p99(period)
        self._record(idx, rate if self.checks.mode == "error" else p99)
        with np.errstate(invalid="ignore"):
            ok = ~(rate > self.checks.error) & ~(p99 > self.checks.latency) & (period.canary_requests > 0)
        weight = self.share[idx]
        promote = ok & (weight >= self.max_weight - 1e-9)
        self.share[idx] = np.where(ok, np.minimum(weight + self.step, self.max_weight), weight)
        self.failed[idx] += ~ok
        rollback = self.failed[idx] >= self.checks.failed_checks
        self.share[idx[promote]] = 1.0
        return Decision(rollback, promote)


class Kayenta(Policy):
    """Spinnaker canary analysis: 10 % for `Checks.intervals` one-minute intervals, each judged on its own.

    Per interval the error metric gets a one-sided test of "canary 5XX rate > baseline's" (exact binomial
    split of the interval's errors by traffic share; Kayenta's Mann-Whitney needs raw samples CloudWatch does
    not give) and latency a canary/baseline p99 ratio. An interval that fails rolls back at once (score under
    the marginal threshold); as many clean intervals as the analysis holds promote.
    """

    name = "kayenta"
    threshold_changes_path = False

    def __init__(self, checks: Checks) -> None:
        self.checks = checks

    @classmethod
    def variants(cls, checks: Checks) -> tuple[Checks, ...]:
        return tuple(replace(checks, intervals=n) for n in KAYENTA_INTERVALS)

    def start(self, runs: int, requests_per_period: float) -> None:
        super().start(runs, requests_per_period)
        self.share[:] = 0.10

    def decide(self, t: int, idx: np.ndarray, period: Period) -> Decision:
        n_c, n_b = period.canary_requests, period.baseline_requests
        errors = period.canary_errors + period.baseline_errors
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(n_c + n_b > 0, n_c / np.maximum(n_c + n_b, 1), 0.0)
            p = binom_sf(period.canary_errors, errors, w)
            error_stat = -np.log10(np.maximum(p, 1e-300))
            ratio = _p99(period) / period.baseline_latency[:, 2]
        self._record(idx, error_stat if self.checks.mode == "error" else ratio)
        with np.errstate(invalid="ignore"):
            fail = (error_stat > self.checks.error) | (ratio > self.checks.latency)
        promote = ~fail & (t == self.checks.intervals - 1)
        self.share[idx[promote]] = 1.0
        return Decision(fail, promote)


class Recipe(Policy):
    """The recipe's shell loop: 10 % then 25/50/100 %, two minutes each, then promote.

    After each two-minute sleep it reads the *stage-wide* 5XXError Sum over the last 5 minutes (canary
    requests are counted in the stage's metrics too) and rolls back when it is above the threshold; the
    recipe's literal rule is "non-zero". Latency is not part of its rollback rule.
    """

    name = "recipe"
    threshold_changes_path = False
    SHARES = (0.10, 0.10, 0.25, 0.25, 0.50, 0.50, 1.0, 1.0)

    def __init__(self, checks: Checks) -> None:
        self.checks = checks

    def start(self, runs: int, requests_per_period: float) -> None:
        super().start(runs, requests_per_period)
        self.share[:] = self.SHARES[0]
        self.stage_errors = np.zeros((runs, len(self.SHARES)), dtype=np.int64)

    def decide(self, t: int, idx: np.ndarray, period: Period) -> Decision:
        self.stage_errors[idx, t] = period.canary_errors + period.baseline_errors
        nothing = np.zeros(idx.shape, dtype=bool)
        if t % 2 == 0:  # still sleeping
            self.share[idx] = self.SHARES[t + 1]
            return Decision(nothing, nothing)
        window = self.stage_errors[idx, max(0, t - 4) : t + 1].sum(axis=1).astype(float)
        window = self.checks.per_unit(idx, window)
        self._record(idx, window)
        rollback = window > self.checks.error
        promote = ~rollback & (t == len(self.SHARES) - 1)
        if t + 1 < len(self.SHARES):
            self.share[idx] = self.SHARES[t + 1]
        return Decision(rollback, promote)


PEERS = {
    "recipe": Recipe,
    "codedeploy_canary": CodeDeployCanary,
    "codedeploy_linear": CodeDeployLinear,
    "flagger": Flagger,
    "kayenta": Kayenta,
}

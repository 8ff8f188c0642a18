"""Gates: is the canary, so far, worse than allowed? Small objects over one window of data.

A gate has a name, reads a `GateInput` (the step's metrics, the alarms, the judge's latest judgement, the
user metrics' per-period values) and answers one or more `GateResult`s: PASS, FAIL or NO_DATA. The list of
gates is data: the built-ins below and a user's gates file (`controller.user_gates`) go through the same
path. NO_DATA never counts as a pass for a step: the rollout waits for data instead (and fails safe when it
never comes), unlike the recipe's shell loop which promoted on "no datapoints". A shadow gate is evaluated
and reported but never rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from controller.domain import (
    AlarmReading,
    GateResult,
    GateStatus,
    Judgement,
    Verdict,
    WindowStats,
)
from controller.stats import TailLatency, TailPair, paired_tails, tail_latency

__all__ = [
    "AlarmGate",
    "ErrorRateGate",
    "Gate",
    "GateInput",
    "GateResult",
    "GateStatus",
    "GateValue",
    "JudgeGate",
    "LatencyGate",
    "Thresholds",
    "blocking",
    "builtin_gates",
    "evaluate",
]


@dataclass(frozen=True)
class Thresholds:
    max_5xx_rate: float = 0.05  # canary 5XX share allowed, absolute
    max_p99_ms: float | None = None  # canary p99 allowed, absolute (off unless set)
    min_requests: int = 50  # canary requests in the step before a rate means anything
    max_5xx_ratio: float = 2.0  # canary 5XX rate may be at most this multiple of the baseline's...
    min_excess_errors: int = 5  # ...unless it is fewer than this many errors above what the baseline predicts
    max_p99_ratio: float = 1.5  # canary p99 may be at most this multiple of the baseline's...
    p99_slack_ms: float = 25.0  # ...plus this, so a 4 ms -> 7 ms change on a fast API is not a regression


@dataclass(frozen=True)
class GateValue:
    """One metric period of a user gate: the candidate's value, and the live version's for ratio gates."""

    start: float
    candidate: float | None
    baseline: float | None = None


@dataclass(frozen=True)
class GateInput:
    canary: WindowStats  # the step's complete periods, added up
    baseline: WindowStats
    alarms: AlarmReading = field(default_factory=AlarmReading)
    judgement: Judgement | None = None
    user_metrics: Mapping[str, Sequence[GateValue]] = field(default_factory=dict)
    canary_periods: frozenset[float] = frozenset()  # starts of the step's periods with canary requests
    # The canary's tail over the step's periods, alone and paired with the baseline's (controller/stats.py).
    # None: a caller without per-period data (a test, a user's own engine); the window is then read as one
    # period, which for several thin periods is their averaged slowest requests, as before the tail rule.
    canary_tail: TailLatency | None = None
    paired_tail: TailPair | None = None

    def tail(self) -> TailLatency | None:
        return self.canary_tail if self.canary_tail is not None else tail_latency((self.canary,))

    def pair(self) -> TailPair | None:
        if self.paired_tail is not None:
            return self.paired_tail
        return paired_tails(((self.canary, self.baseline),))


class Gate(Protocol):
    name: str

    def evaluate(self, data: GateInput) -> list[GateResult]: ...


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


@dataclass(frozen=True)
class AlarmGate:
    """Fails while any watched alarm is in ALARM (the module's, `--gate-alarm`s, a gates file's)."""

    names: tuple[str, ...] | None = None  # the alarms this gate watches; None: every alarm read
    name: str = "alarms"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        if not data.alarms.known:
            return [GateResult(self.name, GateStatus.NO_DATA, "alarm states unknown (DescribeAlarms failed)")]
        firing = tuple(n for n in data.alarms.firing if self.names is None or n in self.names)
        if firing:
            return [GateResult(self.name, GateStatus.FAIL, f"alarm in ALARM: {', '.join(firing)}")]
        return [GateResult(self.name, GateStatus.PASS, "no alarm in ALARM")]


@dataclass(frozen=True)
class ErrorRateGate:
    """The canary's 5XX rate against a ceiling and, unless `relative` is off, against the baseline's."""

    thresholds: Thresholds
    relative: bool = True
    name: str = "error_rate"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        t, canary, baseline = self.thresholds, data.canary, data.baseline
        if canary.requests < t.min_requests:
            reason = f"{canary.requests}/{t.min_requests} canary requests"
            return [GateResult("error_rate", GateStatus.NO_DATA, reason)]
        rate = canary.error_rate or 0.0
        base = baseline.error_rate
        context = f"(baseline {_pct(base)})"
        results = []
        if rate > t.max_5xx_rate:
            reason = f"canary 5xx rate {rate:.1%} > {t.max_5xx_rate:.1%} {context}"
            results.append(GateResult("error_rate", GateStatus.FAIL, reason))
        else:
            results.append(GateResult("error_rate", GateStatus.PASS, f"canary 5xx rate {rate:.1%} {context}"))
        if not self.relative:
            return results
        if base is None:
            results.append(GateResult("error_rate_vs_baseline", GateStatus.NO_DATA, "no baseline requests"))
            return results
        # The rate that predicts the canary's errors counts one error more than the baseline served (the rule
        # of succession): a small clean baseline, as when the canary carries 90 % of the traffic, is not a 0 %
        # rate that a healthy canary's few errors would breach.
        predicting = (baseline.errors_5xx + 1) / (baseline.requests + 1)
        excess = canary.errors_5xx - predicting * canary.requests
        if rate > t.max_5xx_ratio * predicting and excess >= t.min_excess_errors:
            reason = (
                f"canary 5xx rate {rate:.1%} > {t.max_5xx_ratio:g}x baseline {base:.1%} "
                f"({excess:.0f} errors more than the baseline rate predicts)"
            )
            results.append(GateResult("error_rate_vs_baseline", GateStatus.FAIL, reason))
        else:
            reason = f"{rate:.1%} vs baseline {base:.1%}"
            results.append(GateResult("error_rate_vs_baseline", GateStatus.PASS, reason))
        return results


@dataclass(frozen=True)
class LatencyGate:
    """The canary's p99 against a ceiling (when set) and, unless `relative` is off, against the baseline's.

    The canary's p99 is its own API Gateway Latency; the baseline's is the live function's Duration plus the
    canary's API Gateway overhead (controller/measurement.py), never the stage's p99, which mixes the canary
    in and hid a slow canary at large shares. A period of fewer than 100 canary requests is judged on its
    p90 (its p50 under 10): there its p99 is its slowest request (`TailLatency`); against the baseline, each
    period is read on both sides at the percentile the smaller side supports (`TailPair`).
    """

    thresholds: Thresholds
    relative: bool = True
    name: str = "p99_latency"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        t, canary = self.thresholds, data.canary
        tail = data.tail()
        if canary.requests < t.min_requests:
            reason = f"{canary.requests}/{t.min_requests} canary requests"
            return [GateResult("p99_latency", GateStatus.NO_DATA, reason)]
        if tail is None:
            return [GateResult("p99_latency", GateStatus.NO_DATA, "no canary latency")]
        results = []
        if t.max_p99_ms is not None:
            failed = tail.ms > t.max_p99_ms
            results.append(
                GateResult(
                    "p99_latency",
                    GateStatus.FAIL if failed else GateStatus.PASS,
                    f"canary {tail.describe()} {'>' if failed else '<='} {t.max_p99_ms:.0f} ms",
                )
            )
        if not self.relative:
            return results
        pair = data.pair()
        if pair is None:
            results.append(GateResult("p99_vs_baseline", GateStatus.NO_DATA, "no baseline latency"))
            return results
        limit = t.max_p99_ratio * pair.baseline_ms + t.p99_slack_ms
        failed = pair.canary.ms > limit
        results.append(
            GateResult(
                "p99_vs_baseline",
                GateStatus.FAIL if failed else GateStatus.PASS,
                f"canary {pair.canary.describe()} {'>' if failed else '<='} {limit:.0f} ms "
                f"({t.max_p99_ratio:g}x {pair.describe_baseline()} + {t.p99_slack_ms:.0f} ms)",
            )
        )
        return results


@dataclass(frozen=True)
class JudgeGate:
    """The statistical judge as a gate: its FAIL is a gate failure; CONTINUE and PASS are not."""

    name: str = "judge"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        judgement = data.judgement
        if judgement is None:
            return []
        status = {Verdict.FAIL: GateStatus.FAIL, Verdict.PASS: GateStatus.PASS}.get(
            judgement.verdict, GateStatus.NO_DATA
        )
        return [GateResult(self.name, status, judgement.reason)]


def builtin_gates(
    thresholds: Thresholds, judge: bool, adaptive: bool, alarms: tuple[str, ...] | None = None
) -> tuple[Gate, ...]:
    """The gates every rollout has. With the adaptive strategy the judge is the comparison with the
    baseline: the fixed-ratio checks would add false rollbacks that its anytime-valid tests do not have, so
    only their absolute ceilings stay (`--max-5xx-rate`, `--max-p99-ms`)."""
    relative = not adaptive
    gates: list[Gate] = [
        AlarmGate(alarms),
        ErrorRateGate(thresholds, relative),
        LatencyGate(thresholds, relative),
    ]
    if judge:
        gates.append(JudgeGate())
    return tuple(gates)


def evaluate(gates: Sequence[Gate], data: GateInput) -> tuple[GateResult, ...]:
    return tuple(result for gate in gates for result in gate.evaluate(data))


def blocking(results: Sequence[GateResult]) -> tuple[GateResult, ...]:
    """The failures that roll back (shadow gates' failures are only reported)."""
    return tuple(r for r in results if r.blocks)

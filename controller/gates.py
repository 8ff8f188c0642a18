"""Gates: is the canary, so far, worse than allowed? Pure functions of a window of metrics.

Every gate answers PASS, FAIL or NO_DATA. NO_DATA never counts as a pass for the step: the rollout state
machine waits for data instead (and fails safe when it never comes), unlike the recipe's shell loop which
promoted on "no datapoints".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from controller.stats import WindowStats, error_rate


class GateStatus(Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NO_DATA = "NO_DATA"


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: GateStatus
    reason: str


@dataclass(frozen=True)
class Thresholds:
    max_5xx_rate: float = 0.05  # canary 5XX share allowed, absolute
    max_p99_ms: float | None = None  # canary p99 allowed, absolute (off unless set)
    min_requests: int = 50  # canary requests in the step before a rate means anything
    max_5xx_ratio: float = 2.0  # canary 5XX rate may be at most this multiple of the baseline's...
    min_excess_errors: int = (
        5  # ...unless it is fewer than this many errors above what the baseline rate predicts
    )
    max_p99_ratio: float = 1.5  # canary p99 may be at most this multiple of the baseline's...
    p99_slack_ms: float = 25.0  # ...plus this, so a 4 ms -> 7 ms change on a fast API is not a regression


class VerdictLike(Protocol):
    """What the gates read from the statistical judge's Judgement (controller/judge.py)."""

    @property
    def verdict(self) -> Enum: ...

    @property
    def reason(self) -> str: ...


def alarm_gate(alarms_in_alarm: tuple[str, ...]) -> GateResult:
    if alarms_in_alarm:
        return GateResult("alarms", GateStatus.FAIL, f"alarm in ALARM: {', '.join(alarms_in_alarm)}")
    return GateResult("alarms", GateStatus.PASS, "no alarm in ALARM")


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def error_rate_gates(canary: WindowStats, baseline: WindowStats, t: Thresholds) -> list[GateResult]:
    if canary.requests < t.min_requests:
        reason = f"{canary.requests}/{t.min_requests} canary requests"
        return [GateResult("error_rate", GateStatus.NO_DATA, reason)]
    rate = error_rate(canary) or 0.0
    base = error_rate(baseline)
    context = f"(baseline {_pct(base)})"
    results = []
    if rate > t.max_5xx_rate:
        results.append(
            GateResult(
                "error_rate", GateStatus.FAIL, f"canary 5xx rate {rate:.1%} > {t.max_5xx_rate:.1%} {context}"
            )
        )
    else:
        results.append(GateResult("error_rate", GateStatus.PASS, f"canary 5xx rate {rate:.1%} {context}"))
    if base is None:
        results.append(GateResult("error_rate_vs_baseline", GateStatus.NO_DATA, "no baseline requests"))
        return results
    # The rate that predicts the canary's errors counts one error more than the baseline served (the rule of
    # succession): a small clean baseline, as when the canary carries 90 % of the traffic, is not a 0 % rate
    # that a healthy canary's few errors would breach.
    predicting = (baseline.errors_5xx + 1) / (baseline.requests + 1)
    excess = canary.errors_5xx - predicting * canary.requests
    if rate > t.max_5xx_ratio * predicting and excess >= t.min_excess_errors:
        results.append(
            GateResult(
                "error_rate_vs_baseline",
                GateStatus.FAIL,
                f"canary 5xx rate {rate:.1%} > {t.max_5xx_ratio:g}x baseline {base:.1%} "
                f"({excess:.0f} errors more than the baseline rate predicts)",
            )
        )
    else:
        results.append(
            GateResult("error_rate_vs_baseline", GateStatus.PASS, f"{rate:.1%} vs baseline {base:.1%}")
        )
    return results


def latency_gates(canary: WindowStats, baseline: WindowStats, t: Thresholds) -> list[GateResult]:
    # The canary's p99 is its own API Gateway Latency; the baseline's is the live function's Duration plus
    # the canary's API Gateway overhead (controller/aws/metrics.py), never the stage's p99, which mixes the
    # canary in and hid a slow canary at large shares.
    if canary.requests < t.min_requests or canary.p99_ms is None:
        reason = f"{canary.requests}/{t.min_requests} canary requests"
        return [GateResult("p99_latency", GateStatus.NO_DATA, reason)]
    results = []
    p99 = canary.p99_ms
    if t.max_p99_ms is not None:
        failed = p99 > t.max_p99_ms
        results.append(
            GateResult(
                "p99_latency",
                GateStatus.FAIL if failed else GateStatus.PASS,
                f"canary p99 {p99:.0f} ms {'>' if failed else '<='} {t.max_p99_ms:.0f} ms",
            )
        )
    if baseline.p99_ms is None:
        results.append(GateResult("p99_vs_baseline", GateStatus.NO_DATA, "no baseline latency"))
        return results
    limit = t.max_p99_ratio * baseline.p99_ms + t.p99_slack_ms
    failed = p99 > limit
    results.append(
        GateResult(
            "p99_vs_baseline",
            GateStatus.FAIL if failed else GateStatus.PASS,
            f"canary p99 {p99:.0f} ms {'>' if failed else '<='} {limit:.0f} ms "
            f"({t.max_p99_ratio:g}x baseline {baseline.p99_ms:.0f} ms + {t.p99_slack_ms:.0f} ms)",
        )
    )
    return results


def judge_gate(judgement: VerdictLike | None) -> GateResult | None:
    """The statistical judge as a gate: its FAIL is a gate failure; CONTINUE and PASS are not."""
    if judgement is None:
        return None
    verdict = judgement.verdict.name
    if verdict == "FAIL":
        return GateResult("judge", GateStatus.FAIL, judgement.reason)
    if verdict == "PASS":
        return GateResult("judge", GateStatus.PASS, judgement.reason)
    return GateResult("judge", GateStatus.NO_DATA, judgement.reason)


def evaluate(
    canary: WindowStats,
    baseline: WindowStats,
    alarms_in_alarm: tuple[str, ...],
    thresholds: Thresholds,
    judgement: VerdictLike | None = None,
) -> tuple[GateResult, ...]:
    results = [alarm_gate(alarms_in_alarm)]
    results += error_rate_gates(canary, baseline, thresholds)
    results += latency_gates(canary, baseline, thresholds)
    judged = judge_gate(judgement)
    if judged is not None:
        results.append(judged)
    return tuple(results)


def failures(results: tuple[GateResult, ...]) -> tuple[GateResult, ...]:
    return tuple(r for r in results if r.status is GateStatus.FAIL)

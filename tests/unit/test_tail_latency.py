"""A fixed gate's tail: the p99 where a period's requests can tell it, the p90 or p50 where its p99 would be
one request (CloudWatch's nearest-rank percentiles)."""

from __future__ import annotations

import math

import pytest

from controller.gates import GateInput, GateStatus, LatencyGate, Thresholds
from controller.stats import WindowStats, combine, paired_tails, tail_latency

RELATIVE = Thresholds(max_p99_ratio=1.5, p99_slack_ms=25.0, min_requests=10)


def nearest_rank(ordered: list[float], pct: float) -> float:
    """CloudWatch's percentile: the smallest value with at least pct % of the values at or below it."""
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def period(latencies_ms: list[float]) -> WindowStats:
    """One period's canary as CloudWatch would report these requests."""
    ordered = sorted(latencies_ms)
    return WindowStats(
        len(ordered),
        0,
        p50_ms=nearest_rank(ordered, 50),
        p90_ms=nearest_rank(ordered, 90),
        p99_ms=nearest_rank(ordered, 99),
    )


def steady(requests: int, ms: float) -> WindowStats:
    """A baseline period whose every request took `ms`."""
    return WindowStats(requests, 0, p50_ms=ms, p90_ms=ms, p99_ms=ms)


def latency_gate(canary_periods: list[WindowStats], baseline_p99_ms: float) -> GateStatus:
    canary = combine(canary_periods)
    baselines = [steady(1000, baseline_p99_ms) for _ in canary_periods]
    data = GateInput(
        canary,
        combine(baselines),
        canary_tail=tail_latency(canary_periods),
        paired_tail=paired_tails(zip(canary_periods, baselines, strict=True)),
    )
    (result,) = LatencyGate(RELATIVE).evaluate(data)
    return result.status


def test_one_slow_request_in_a_thin_period_is_not_its_tail() -> None:
    cold_start = period([10.0] * 19 + [138.0])
    assert cold_start.p99_ms == 138.0  # what the gate used to judge: the one slow request
    tail = tail_latency([cold_start])
    assert tail is not None and tail.ms == 10.0 and tail.read_at == ("p90",) and tail.thin_periods == 1
    assert "p90" in tail.describe()
    assert latency_gate([cold_start], baseline_p99_ms=10.0) is GateStatus.PASS


def test_a_thin_canary_slow_on_every_request_still_fails() -> None:
    slow = [period([60.0 + i for i in range(20)]) for _ in range(2)]
    assert latency_gate(slow, baseline_p99_ms=10.0) is GateStatus.FAIL


def test_a_thin_canary_slow_on_a_tenth_of_its_requests_fails_on_its_p90() -> None:
    tenth_slow = [period([10.0] * 17 + [200.0] * 3)]
    assert latency_gate(tenth_slow, baseline_p99_ms=10.0) is GateStatus.FAIL


def test_periods_of_a_hundred_requests_are_judged_on_their_p99() -> None:
    two_slow = period([10.0] * 98 + [200.0] * 2)
    tail = tail_latency([two_slow])
    assert tail is not None and tail.ms == 200.0 and tail.thin_periods == 0
    assert tail.describe() == "p99 200 ms"
    assert latency_gate([two_slow], baseline_p99_ms=10.0) is GateStatus.FAIL
    one_slow = period([10.0] * 99 + [200.0])  # the p99 of 100 is the 99th: the slowest alone is not it
    assert latency_gate([one_slow], baseline_p99_ms=10.0) is GateStatus.PASS


def test_below_ten_requests_a_period_counts_its_median() -> None:
    few = period([10.0, 11.0, 12.0, 300.0])
    tail = tail_latency([few])
    assert tail is not None and tail.ms == 11.0 and tail.read_at == ("p50",)


def test_periods_are_weighted_by_their_requests() -> None:
    busy = period([20.0] * 300)  # p99 20
    thin = period([10.0] * 9 + [500.0])  # p90 10
    tail = tail_latency([busy, thin, WindowStats(0, 0)])
    assert tail is not None
    assert tail.ms == pytest.approx((20.0 * 300 + 10.0 * 10) / 310)
    assert (tail.thin_periods, tail.periods) == (1, 2)


def test_a_source_with_only_a_p99_is_judged_on_it_and_says_so() -> None:
    only_p99 = WindowStats(40, 0, p99_ms=90.0)
    tail = tail_latency([only_p99])
    assert tail is not None and tail.ms == 90.0 and tail.read_at == ("p99",) and tail.thin_periods == 1
    assert "slowest request" in tail.describe()


def test_without_latencies_there_is_no_tail() -> None:
    assert tail_latency([WindowStats(50, 0), WindowStats(0, 0, p99_ms=5.0)]) is None


def test_without_period_detail_the_gate_reads_the_window_as_one_period() -> None:
    window = period([10.0] * 39 + [400.0])
    (result,) = LatencyGate(RELATIVE).evaluate(GateInput(window, steady(1000, 10.0)))
    assert result.status is GateStatus.PASS and "p90" in result.reason


def test_against_the_baseline_both_sides_are_read_at_the_percentile_the_smaller_supports() -> None:
    # A thin baseline (the canary at 90 %): its p99 is its slowest request, so both are read at the p90.
    baseline = period([5.0] * 27 + [300.0] * 3)
    canary = period([60.0] * 300)
    pair = paired_tails([(canary, baseline)])
    assert pair is not None and pair.baseline_ms == 5.0 and pair.canary.ms == 60.0
    assert pair.canary.read_at == ("p90",) and "tail" in pair.describe_baseline()
    # Against the baseline's slowest request (300 ms) the 12x slower canary would have passed.
    data = GateInput(canary, baseline, paired_tail=pair)
    (result,) = LatencyGate(RELATIVE).evaluate(data)
    assert result.status is GateStatus.FAIL, result.reason


def test_a_baseline_without_the_percentile_bounds_the_canary_by_its_next_higher_one() -> None:
    canary = period([10.0] * 49 + [400.0])
    pair = paired_tails([(canary, WindowStats(900, 0, p99_ms=12.0))])
    assert pair is not None and (pair.canary.ms, pair.baseline_ms) == (10.0, 12.0)
    assert paired_tails([(canary, WindowStats(900, 0))]) is None
    assert paired_tails([(canary, WindowStats(0, 0, p99_ms=12.0))]) is None

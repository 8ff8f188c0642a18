"""Threshold, baseline and alarm gates on synthetic windows."""

from __future__ import annotations

from judgements import judgement

from controller.domain import AlarmReading, Judgement, Verdict
from controller.gates import GateInput, GateStatus, Thresholds, blocking, builtin_gates
from controller.gates import evaluate as evaluate_gates
from controller.stats import WindowStats, combine

T = Thresholds(max_5xx_rate=0.05, max_p99_ms=500, min_requests=50)


def evaluate(canary, baseline, alarms, thresholds, judgement: Judgement | None = None):
    """The built-in gates of a fixed-step rollout with the judge, over one window."""
    reading = AlarmReading(tuple((name, "ALARM") for name in alarms))
    gates = builtin_gates(thresholds, judge=True, adaptive=False)
    return evaluate_gates(gates, GateInput(canary, baseline, reading, judgement))


failures = blocking


def by_gate(results):
    return {r.gate: r for r in results}


def test_alarm_in_alarm_fails_even_without_any_requests() -> None:
    results = evaluate(WindowStats(0, 0), WindowStats(0, 0), ("canary-5xx",), T)
    assert [r.gate for r in failures(results)] == ["alarms"]
    assert "canary-5xx" in by_gate(results)["alarms"].reason


def test_rates_are_not_judged_below_the_minimum_request_count() -> None:
    results = by_gate(evaluate(WindowStats(10, 10), WindowStats(1000, 0), (), T))
    assert results["error_rate"].status is GateStatus.NO_DATA
    assert results["p99_latency"].status is GateStatus.NO_DATA


def test_canary_error_rate_over_threshold_fails() -> None:
    results = by_gate(evaluate(WindowStats(100, 20, p99_ms=40), WindowStats(900, 9, p99_ms=40), (), T))
    assert results["error_rate"].status is GateStatus.FAIL
    assert "20.0% > 5.0%" in results["error_rate"].reason


def test_canary_much_worse_than_baseline_fails_under_the_absolute_threshold() -> None:
    # 4% errors is under the 5% cap, but the baseline has none: a regression, not noise (8 excess errors).
    results = by_gate(evaluate(WindowStats(200, 8, p99_ms=40), WindowStats(1800, 0, p99_ms=40), (), T))
    assert results["error_rate"].status is GateStatus.PASS
    assert results["error_rate_vs_baseline"].status is GateStatus.FAIL


def test_a_few_errors_over_a_clean_baseline_are_not_a_regression() -> None:
    results = by_gate(evaluate(WindowStats(200, 2, p99_ms=40), WindowStats(1800, 0, p99_ms=40), (), T))
    assert results["error_rate_vs_baseline"].status is GateStatus.PASS


def test_a_small_clean_baseline_is_not_read_as_a_zero_rate() -> None:
    # A healthy 0.2 % canary at 90 % of the traffic: the baseline's 300 requests served no error, which at
    # 0.2 % happens more often than not. The canary is judged against (0 + 1) / 301, not against 0 %.
    healthy = by_gate(evaluate(WindowStats(2700, 6, p99_ms=40), WindowStats(300, 0, p99_ms=40), (), T))
    assert healthy["error_rate_vs_baseline"].status is GateStatus.PASS
    # A canary at 1.1 % is still too far above it.
    bad = by_gate(evaluate(WindowStats(2700, 30, p99_ms=40), WindowStats(300, 0, p99_ms=40), (), T))
    assert bad["error_rate_vs_baseline"].status is GateStatus.FAIL


def test_canary_as_bad_as_the_baseline_passes_the_relative_gate() -> None:
    results = by_gate(evaluate(WindowStats(100, 3, p99_ms=40), WindowStats(900, 27, p99_ms=40), (), T))
    assert results["error_rate_vs_baseline"].status is GateStatus.PASS


def test_p99_over_the_absolute_limit_fails() -> None:
    results = by_gate(evaluate(WindowStats(100, 0, p99_ms=800), WindowStats(900, 0, p99_ms=700), (), T))
    assert results["p99_latency"].status is GateStatus.FAIL


def test_p99_well_above_baseline_fails_the_relative_gate() -> None:
    results = by_gate(evaluate(WindowStats(100, 0, p99_ms=200), WindowStats(900, 0, p99_ms=50), (), T))
    assert results["p99_vs_baseline"].status is GateStatus.FAIL
    assert results["p99_latency"].status is GateStatus.PASS


def test_small_absolute_latency_changes_on_a_fast_api_pass() -> None:
    results = by_gate(evaluate(WindowStats(100, 0, p99_ms=9), WindowStats(900, 0, p99_ms=4), (), T))
    assert results["p99_vs_baseline"].status is GateStatus.PASS


def test_no_baseline_traffic_makes_relative_gates_no_data_not_fail() -> None:
    results = by_gate(evaluate(WindowStats(1000, 0, p99_ms=40), WindowStats(0, 0), (), T))
    assert results["error_rate_vs_baseline"].status is GateStatus.NO_DATA
    assert results["p99_vs_baseline"].status is GateStatus.NO_DATA
    assert not failures(tuple(results.values()))


def test_a_judge_fail_verdict_is_a_gate_failure() -> None:
    results = evaluate(WindowStats(10, 0), WindowStats(90, 0), (), T, judgement(Verdict.FAIL, "p < 0.01"))
    assert [r.gate for r in failures(results)] == ["judge"]


def test_a_judge_continue_verdict_does_not_fail_a_gate() -> None:
    results = evaluate(
        WindowStats(10, 0), WindowStats(90, 0), (), T, judgement(Verdict.CONTINUE, "collecting")
    )
    assert not failures(results)


def test_windows_add_counts_and_weight_percentiles_by_requests() -> None:
    total = combine([WindowStats(100, 1, 2, p99_ms=10), WindowStats(300, 3, 0, p99_ms=50), WindowStats(0, 0)])
    assert (total.requests, total.errors_5xx, total.errors_4xx) == (400, 4, 2)
    assert total.p99_ms == 40


def test_an_empty_window_has_no_latency() -> None:
    assert combine([]).p99_ms is None


def test_the_adaptive_strategy_keeps_only_the_absolute_ceilings_of_the_built_in_gates() -> None:
    # 8 errors in 200 over a clean baseline fails the fixed-ratio check of a stepped rollout; with the
    # adaptive strategy the judge is the comparison with the baseline, so only the 5 % ceiling applies.
    data = GateInput(WindowStats(200, 8, p99_ms=400), WindowStats(1800, 0, p99_ms=40))
    adaptive = by_gate(evaluate_gates(builtin_gates(T, judge=True, adaptive=True), data))
    assert set(adaptive) == {"alarms", "error_rate", "p99_latency"}
    assert not blocking(tuple(adaptive.values()))


def test_a_shadow_gates_failure_is_reported_but_does_not_block() -> None:
    from controller.domain import GateResult

    shadow = GateResult("checkout", GateStatus.FAIL, "3 > max 0", shadow=True)
    assert not blocking((shadow,)) and not shadow.blocks

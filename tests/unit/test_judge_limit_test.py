"""The time-limit test (controller/judge/limit_test.py): its tails, its level, and the judge's last look."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.judge import BaselineHistory, Judge, JudgeConfig, Verdict, WindowStats
from controller.judge.limit_test import (
    LimitPeriod,
    history_lower_tail,
    limit_test,
    negative_binomial_lower_tail,
    split_lower_tail,
    window_starts,
)


def _period(requests: int, errors: int) -> WindowStats:
    return WindowStats(requests, errors, 0, 30.0, 60.0, 90.0)


def _history_p(requests: list[int], errors: int, rate: float, c2: float) -> float:
    """The history form's tail for these per-period requests and this many errors in all."""
    periods = [LimitPeriod(i + 1, n, errors if i == 0 else 0, 0, None, 1.5) for i, n in enumerate(requests)]
    p = history_lower_tail(periods, rate, c2)
    assert p is not None
    return p


def _split(canary_errors: int, errors: int, share: float, periods: int, first: int = 1) -> list[LimitPeriod]:
    return [LimitPeriod(first + i, 1000, canary_errors, errors, share, 1.5) for i in range(periods)]


def test_the_poisson_tail_is_the_sum_of_its_terms():
    mean = 7.5
    exact = sum(math.exp(-mean) * mean**k / math.factorial(k) for k in range(6))
    assert negative_binomial_lower_tail(5, mean, mean) == pytest.approx(exact, rel=1e-12)


def test_the_negative_binomial_tail_matches_simulated_gamma_poisson_counts():
    rng = np.random.default_rng(7)
    mean, c2 = 40.0, 0.2
    counts = rng.poisson(mean * rng.gamma(1 / c2, c2, size=400_000))
    for observed in (15, 25, 35):
        simulated = float((counts <= observed).mean())
        assert negative_binomial_lower_tail(observed, mean, mean * (1 + c2 * mean)) == pytest.approx(
            simulated, abs=0.004
        )


def test_the_history_form_passes_a_canary_at_the_regression_rate_no_more_than_its_level():
    rng = np.random.default_rng(11)
    requests, rate, c2, level = [600] * 20, 0.015, 0.05, 0.005
    noise = rng.gamma(1 / c2, c2, size=(40_000, len(requests)))
    errors = rng.poisson(np.array(requests) * rate * noise).sum(axis=1)
    passed = np.mean([_history_p(requests, int(k), rate, c2) <= level for k in errors])
    assert passed <= level * 1.3
    # and a canary at two thirds of that rate (a healthy one, at a 1.5x margin) passes nearly always
    healthy = rng.poisson(np.array(requests) * rate / 1.5 * noise[:2000]).sum(axis=1)
    assert np.mean([_history_p(requests, int(k), rate, c2) <= level for k in healthy]) > 0.9


def test_the_split_form_passes_a_canary_at_the_margin_no_more_than_its_level():
    rng = np.random.default_rng(3)
    level, psi, periods = 0.005, 1.5, 15
    shares = np.linspace(0.1, 0.5, periods)
    baseline_rate = 0.01
    canary_n = (4000 * shares).astype(int)
    baseline_n = 4000 - canary_n
    runs = 20_000
    canary = rng.poisson(canary_n * baseline_rate * psi, size=(runs, periods))
    baseline = rng.poisson(baseline_n * baseline_rate, size=(runs, periods))
    passed = 0
    for x_row, y_row in zip(canary, baseline, strict=True):
        split = [
            LimitPeriod(i + 1, int(n), int(x), int(x + y), float(n / (n + m)), psi)
            for i, (x, y, n, m) in enumerate(zip(x_row, y_row, canary_n, baseline_n, strict=True))
        ]
        p = split_lower_tail(split, 0.0)
        passed += p is not None and p <= level
    assert passed / runs <= level * 1.5


def test_independent_noise_widens_the_split_forms_tail():
    assert split_lower_tail(_split(20, 60, 0.4, 10), 0.1) > split_lower_tail(_split(20, 60, 0.4, 10), 0.0)


def test_either_form_passes_at_half_the_level_when_both_apply():
    periods = _split(10, 20, 0.5, 10)
    only_split = limit_test(periods, 0.0, 0.005, 10, None)
    both = limit_test(periods, 0.0, 0.005, 10, 0.015)
    assert all(w.history_p is None for w in only_split.windows)
    for window in both.windows:
        assert window.history_p is not None and window.split_p is not None
        assert window.passed == (min(window.split_p, window.history_p) <= 0.0025)
    assert limit_test([], 0.0, 0.005, 10, None).passed is False


def test_the_windows_are_the_whole_rollout_and_its_second_half():
    assert window_starts(30) == (1, 16)
    assert window_starts(1) == (1,)


def test_a_regression_in_the_second_half_is_not_hidden_by_a_healthy_first_half():
    # Better than the baseline for 15 periods, then at the margin (half the errors at a 40 % share and 1.5x)
    healthy = _split(6, 20, 0.4, 15)
    regressed = _split(10, 20, 0.4, 15, first=16)
    whole_only = limit_test(healthy + regressed, 0.0, 0.005, 1, None)
    assert whole_only.passed  # over all 30 periods the healthy half pulls the count under the margin
    both = limit_test(healthy + regressed, 0.0, 0.005, 30, None)
    assert not both.passed and both.windows[1].first_period == 16 and not both.windows[1].passed


def _ramp(judge: Judge, canary_requests: list[int], rate: float = 0.01) -> list:
    """Periods of 5,000 requests, the canary's share as given, both versions erring at `rate`."""
    return [
        judge.observe(_period(n, round(n * rate)), _period(5000 - n, round((5000 - n) * rate)))
        for n in canary_requests
    ]


RAMP = [100, 100, 1000, 1000]  # the canary's requests per period: 2 %, then 20 %


def test_an_undecided_healthy_release_passes_at_the_time_limit():
    judge = Judge(JudgeConfig(horizon_periods=4))
    verdicts = _ramp(judge, RAMP)
    assert [v.verdict for v in verdicts[:3]] == [Verdict.CONTINUE] * 3
    assert verdicts[3].verdict is Verdict.PASS
    assert "at the time limit" in verdicts[3].reason and "fixed-sample test" in verdicts[3].reason
    assert verdicts[3].evidence.pass_e_value < judge.pass_threshold


def test_without_the_time_limit_test_the_same_release_stays_undecided():
    verdicts = _ramp(Judge(JudgeConfig(horizon_periods=4, limit_beta=None)), RAMP)
    assert verdicts[-1].verdict is Verdict.CONTINUE
    assert "still needs evidence" in verdicts[-1].reason


def test_the_last_look_is_taken_once_at_the_limit_and_not_after_it():
    # At its limit (period 3) the release does not pass; periods read after the limit get no look, though
    # the test would pass on them
    judge = Judge(JudgeConfig(horizon_periods=3))
    assert [v.verdict for v in _ramp(judge, RAMP)] == [Verdict.CONTINUE] * 4
    assert judge.time_limit_test().passed


def test_a_doubled_error_rate_is_not_passed_at_the_time_limit():
    judge = Judge(JudgeConfig(horizon_periods=4))
    verdicts = [judge.observe(_period(n, 2 * n // 100), _period(5000 - n, (5000 - n) // 100)) for n in RAMP]
    assert all(v.verdict is not Verdict.PASS for v in verdicts)
    assert not judge.time_limit_test().passed


def test_the_history_form_is_left_out_while_the_baseline_has_fallen_below_its_history():
    history = BaselineHistory(1_440_000, 28_800)  # 2 % over the day
    judge = Judge(JudgeConfig(horizon_periods=30), history)
    for _ in range(6):
        judge.observe(_period(200, 1), _period(5000, 25))  # today 0.5 %: far below the day's 2 %
    assert judge.history is not None and judge.history.log_fall_e_value > 0
    assert all(w.history_p is None for w in judge.time_limit_test().windows)
    steady = Judge(JudgeConfig(horizon_periods=30), history)
    steady.observe(_period(200, 4), _period(5000, 100))
    assert steady.time_limit_test().windows[0].history_p is not None


def test_the_level_is_a_probability():
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="limit_beta"):
            JudgeConfig(limit_beta=bad)
    assert JudgeConfig(limit_beta=None).limit_beta is None

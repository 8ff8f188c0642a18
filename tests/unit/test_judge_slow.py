"""The slow-request test: the canary's share of requests beyond the live version's p99, split-tested."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.domain import Verdict, WindowStats
from controller.judge import Judge, JudgeConfig
from controller.judge.slow import SlowRequestTest
from controller.stats import combine

BASE_SLOW = 0.01  # requests beyond the live version's p99
PER_MINUTE = 6000  # 100 requests/s
CANARY_SHARE = 0.1


def _share_beyond_p99(p99_ratio: float) -> float:
    """The share of a lognormal (median 40 ms, p99 100 ms) beyond 100 ms once its tail fattens to p99 x
    ratio, median unchanged (the benchmark's latency regression)."""
    sigma = math.log(100.0 * p99_ratio / 40.0) / 2.3263478740408408
    z = math.log(100.0 / 40.0) / sigma
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _period(rng: np.random.Generator, canary_slow: float, base_slow: float = BASE_SLOW):
    n_c = int(rng.poisson(PER_MINUTE * CANARY_SHARE))
    n_b = int(rng.poisson(PER_MINUTE * (1 - CANARY_SHARE)))
    canary = WindowStats(n_c, 0, slow_requests=int(rng.binomial(n_c, canary_slow)))
    baseline = WindowStats(n_b, 0, slow_requests=int(rng.binomial(n_b, base_slow)))
    return canary, baseline


def _first_failure(test: SlowRequestTest, periods) -> int | None:
    for minute, (canary, baseline) in enumerate(periods, start=1):
        test.observe((canary.requests, canary.slow_requests), (baseline.requests, baseline.slow_requests))
        if test.failed:
            return minute
    return None


def test_a_fattened_tail_is_many_times_the_share_of_slow_requests():
    # Why counts: a p99 1.3x slower is 3.5x the requests beyond the old p99, 2x slower about 9x.
    assert _share_beyond_p99(1.0) == pytest.approx(0.01, rel=1e-3)
    assert _share_beyond_p99(1.3) / 0.01 == pytest.approx(3.5, abs=0.1)
    assert _share_beyond_p99(2.0) / 0.01 == pytest.approx(9.3, abs=0.2)


def test_identical_versions_fail_at_most_alpha_over_long_rollouts():
    rng = np.random.default_rng(1)
    config = JudgeConfig(latency_slow_alpha=0.05)  # a loose level, so 400 rollouts can show it holds
    failures = 0
    for _ in range(400):
        test = SlowRequestTest(config)
        if _first_failure(test, (_period(rng, BASE_SLOW) for _ in range(60))) is not None:
            failures += 1
    assert failures / 400 <= 0.05


def test_within_the_tolerance_does_not_fail():
    # 1.4x the live share is under the default null of 1.5x: no FAIL at the default level.
    rng = np.random.default_rng(2)
    config = JudgeConfig()
    fails = sum(
        _first_failure(SlowRequestTest(config), (_period(rng, 1.4 * BASE_SLOW) for _ in range(30)))
        is not None
        for _ in range(100)
    )
    assert fails <= 1


def test_a_mild_p99_regression_fails_within_a_few_minutes():
    rng = np.random.default_rng(3)
    config = JudgeConfig()
    minutes = [
        _first_failure(SlowRequestTest(config), (_period(rng, _share_beyond_p99(1.3)) for _ in range(30)))
        for _ in range(100)
    ]
    assert all(m is not None for m in minutes)
    assert float(np.median([m for m in minutes if m is not None])) <= 3


def test_a_slow_spell_on_both_versions_is_not_the_canarys():
    # One minute in which a dependency slows everyone (30 % of requests beyond the p99) says nothing.
    rng = np.random.default_rng(4)
    config = JudgeConfig()
    fails = 0
    for _ in range(200):
        periods = [_period(rng, BASE_SLOW) for _ in range(10)]
        periods[3] = _period(rng, 0.3, 0.3)
        fails += _first_failure(SlowRequestTest(config), periods) is not None
    assert fails <= 1


def test_a_regression_that_starts_late_is_caught_despite_healthy_minutes_before():
    rng = np.random.default_rng(5)
    config = JudgeConfig()
    caught = 0
    for _ in range(100):
        periods = [_period(rng, BASE_SLOW) for _ in range(10)]
        periods += [_period(rng, _share_beyond_p99(1.5)) for _ in range(5)]
        minute = _first_failure(SlowRequestTest(config), periods)
        caught += minute is not None and minute > 10
    assert caught >= 95


def test_the_judge_fails_on_slow_requests_and_says_so():
    rng = np.random.default_rng(6)
    judge = Judge(JudgeConfig())
    judgement = None
    for _ in range(10):
        judgement = judge.observe(*_period(rng, _share_beyond_p99(2.0)))
        if judgement.verdict is not Verdict.CONTINUE:
            break
    assert judgement is not None and judgement.verdict is Verdict.FAIL
    assert "slow requests" in judgement.reason
    assert judgement.evidence.component("fail_slow") is not None


def test_without_slow_counts_or_with_the_test_off_the_judge_reads_none():
    rng = np.random.default_rng(7)
    off = Judge(JudgeConfig(latency_slow_alpha=None))
    assert off.slow is None
    unmeasured = Judge(JudgeConfig())
    canary, baseline = _period(rng, _share_beyond_p99(2.0))
    unmeasured.observe(WindowStats(canary.requests, 0), baseline)
    assert unmeasured.slow is not None and unmeasured.slow.periods == 0
    assert unmeasured.evidence().component("fail_slow") is None


def test_settings_and_counts_are_checked():
    with pytest.raises(ValueError, match="latency_slow_alpha"):
        JudgeConfig(latency_slow_alpha=1.5)
    with pytest.raises(ValueError, match="latency_slow_tolerance"):
        JudgeConfig(latency_slow_tolerance=-0.1)
    with pytest.raises(ValueError, match="slow_requests"):
        WindowStats(10, 0, slow_requests=11)


def test_periods_added_up_keep_their_slow_requests_only_when_every_one_has_them():
    a = WindowStats(100, 1, slow_requests=2)
    b = WindowStats(50, 0, slow_requests=3)
    assert combine([a, b]).slow_requests == 5
    assert combine([a, WindowStats(50, 0)]).slow_requests is None

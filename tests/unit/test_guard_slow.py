"""The guard's slow-request test (`shift --guard-slow`): the promoted release's share of slow requests."""

from __future__ import annotations

import numpy as np
import pytest

from controller.domain import WindowStats
from controller.guard import GuardSettings, GuardTest, guard_factory
from controller.guard_slow import GuardSlowTest
from controller.judge import JudgeConfig
from controller.stats import combine

ALPHA = JudgeConfig.latency_slow_alpha
TOLERANCE = JudgeConfig.latency_slow_tolerance
FLOOR = JudgeConfig.dispersion_floor


def _beside(rng: np.random.Generator, periods: int = 10, requests: int = 6000, share: float = 0.01):
    """The former version's periods beside the canary: `share` of its requests slow (binomial)."""
    return tuple(
        WindowStats(requests, 0, slow_requests=int(rng.binomial(requests, share))) for _ in range(periods)
    )


def _undone_share(share: float, runs: int, periods: int = 10, requests: int = 6000) -> float:
    """How often a guard of `periods` undoes a release serving `share` slow, the former version 1 %."""
    rng = np.random.default_rng(7)
    undone = 0
    for _ in range(runs):
        test = GuardSlowTest(_beside(rng), ALPHA, TOLERANCE, FLOOR)
        for _ in range(periods):
            test.observe(requests, int(rng.binomial(requests, share)))
            if test.failed:
                undone += 1
                break
    return undone / runs


def test_a_release_no_slower_than_the_former_version_is_undone_at_most_at_the_tests_rate() -> None:
    # 1,000 guards of ten periods, the promoted release exactly as slow as the former version: the bound is
    # ALPHA (0.2 %) at the allowed share, and a release at the reference share sits far under it.
    assert _undone_share(0.01, runs=1000) <= ALPHA


def test_a_tail_that_slows_1_3x_is_undone_within_the_guard() -> None:
    # A lognormal tail (40 ms median, 100 ms p99) whose p99 rises 1.3x puts about 3.5 % of requests beyond
    # the former p99: the p99 check (1.5x + 25 ms) never sees it; this test undoes nearly every such release.
    assert _undone_share(0.035, runs=200) >= 0.99


def test_one_period_cannot_undo_a_release_however_slow_two_can() -> None:
    rng = np.random.default_rng(3)
    test = GuardSlowTest(_beside(rng), ALPHA, TOLERANCE, FLOOR)
    test.observe(6000, 3000)  # a shared dependency's one slow minute: half the requests slow
    assert not test.failed
    test.observe(6000, 3000)
    assert test.failed
    assert "slow requests 50.00% of 12000, above the allowed" in test.reason()


def test_the_allowed_share_is_the_tolerance_over_an_upper_bound_of_the_former_versions_share() -> None:
    test = GuardSlowTest((WindowStats(100_000, 0, slow_requests=1000),), ALPHA, TOLERANCE, FLOOR)
    assert test.reference_share == 0.01
    assert 1.5 * 0.01 < test.allowed < 1.5 * 0.0108  # 1,000 slow: the bound sits ~7 % above the share


def test_noisier_periods_beside_the_canary_make_a_more_cautious_test() -> None:
    steady = tuple(WindowStats(6000, 0, slow_requests=60) for _ in range(12))
    swinging = tuple(
        WindowStats(6000, 0, slow_requests=k) for k in (20, 110, 35, 95, 60, 15, 120, 40, 80, 25, 100, 50)
    )
    assert (
        GuardSlowTest(swinging, ALPHA, TOLERANCE, FLOOR).c2
        > GuardSlowTest(steady, ALPHA, TOLERANCE, FLOOR).c2
    )
    assert GuardSlowTest(steady, ALPHA, TOLERANCE, FLOOR).c2 >= FLOOR


@pytest.mark.parametrize(
    "beside",
    [
        (),  # the guard started without periods beside the canary
        (WindowStats(6000, 0),),  # slow requests not measured (no threshold)
        (WindowStats(0, 0, slow_requests=0),),  # no requests
    ],
)
def test_without_the_former_versions_slow_requests_there_is_no_test(beside) -> None:
    assert GuardSlowTest.beside(beside, ALPHA, TOLERANCE, FLOOR) is None


def test_the_guard_undoes_a_slower_release_only_with_the_slow_test_on() -> None:
    reference = WindowStats(1_000_000, 1000)
    beside = tuple(WindowStats(6000, 6, slow_requests=60) for _ in range(10))
    slow = GuardSettings(slow_alpha=ALPHA)
    on = guard_factory(slow, None)(reference, combine(beside), beside)
    off = guard_factory(GuardSettings(), None)(reference, combine(beside), beside)
    assert on.slow is not None and off.slow is None
    period = WindowStats(12_000, 12, slow_requests=420)  # 3.5 % slow, errors as before
    results = [(on.observe(period), off.observe(period)) for _ in range(3)]
    assert results[-1][0].failed and "slow requests" in results[-1][0].reason
    assert not any(o.failed for _, o in results)


def test_a_guard_built_without_the_periods_beside_the_canary_runs_no_slow_test() -> None:
    guard = guard_factory(GuardSettings(slow_alpha=ALPHA), None)(WindowStats(1000, 1))
    assert isinstance(guard, GuardTest) and guard.slow is None


def test_a_tail_that_slows_halfway_through_the_guard_is_still_undone() -> None:
    # Five healthy periods cost every bet from the first period; the bets restarted later do not pay them.
    rng = np.random.default_rng(11)
    undone = 0
    for _ in range(200):
        test = GuardSlowTest(_beside(rng), ALPHA, TOLERANCE, FLOOR, periods=10)
        for period in range(10):
            test.observe(6000, int(rng.binomial(6000, 0.01 if period < 5 else 0.035)))
            if test.failed:
                undone += 1
                break
    assert undone >= 198

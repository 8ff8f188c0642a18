"""The guard's bets restart at every one of its periods: a release that turns bad mid-guard is undone."""

from __future__ import annotations

import numpy as np

from controller.domain import WindowStats
from controller.guard import GuardSettings, GuardTest

REQUESTS, RATE = 6000, 0.005  # 100 requests/s, the former version at 0.5 % over a long history
REFERENCE = WindowStats(REQUESTS * 1440, int(REQUESTS * 1440 * RATE))


def _undone(settings: GuardSettings, healthy_periods: int, worse: float, runs: int = 300) -> float:
    """The share of guards of ten periods that undo a release healthy for `healthy_periods`, then `worse`
    times the former rate."""
    rng = np.random.default_rng(5)
    undone = 0
    for _ in range(runs):
        test = GuardTest(REFERENCE, settings)
        for period in range(10):
            rate = RATE if period < healthy_periods else RATE * worse
            if test.observe(WindowStats(REQUESTS, int(rng.poisson(REQUESTS * rate)))).failed:
                undone += 1
                break
    return undone / runs


def test_a_release_that_turns_3x_worse_halfway_through_the_guard_is_undone_by_the_restarted_bets() -> None:
    restarted = _undone(GuardSettings(periods=10), healthy_periods=5, worse=3.0)
    from_the_first_period = _undone(GuardSettings(periods=1), healthy_periods=5, worse=3.0)
    assert restarted >= 0.95
    assert from_the_first_period < restarted - 0.1  # five healthy periods held the single bet back


def test_restarts_keep_the_guards_alpha_on_a_healthy_release() -> None:
    # At the allowed rate itself (1.5x an upper bound of the former rate): the null's edge.
    allowed = GuardTest(REFERENCE, GuardSettings(ratio=1.5)).allowed
    assert _undone(GuardSettings(ratio=1.5), healthy_periods=10, worse=1.0, runs=600) == 0.0
    rng = np.random.default_rng(9)
    undone = 0
    for _ in range(1000):
        test = GuardTest(REFERENCE, GuardSettings(ratio=1.5))
        undone += any(
            test.observe(WindowStats(REQUESTS, int(k))).failed for k in rng.poisson(REQUESTS * allowed, 10)
        )
    assert undone / 1000 <= GuardSettings().alpha

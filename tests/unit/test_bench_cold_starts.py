"""Lambda cold starts outside the family (`python -m bench --only family --cold-starts`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import bench.__main__ as bench_main
from bench.cold_alarms import main as cold_alarms_main
from bench.cold_starts import KEEP_WARM_MIN, WarmPools, environments_needed, mean_latency_ms
from bench.family import REFERENCE, TRAFFIC, Cell, Change
from bench.family_streams import FamilyWorld, NoiseShape
from bench.judge_sim import play
from bench.ours import Ours
from bench.scenarios import SIGMA_P99_100
from bench.streams import ColdStarts, Streams, Version, percentile_sample

IDENTICAL = Cell(REFERENCE, Change("identical"), "test")
MEAN_MS = float(mean_latency_ms(SIGMA_P99_100))


def test_a_minute_needs_an_environment_per_request_in_flight_at_its_peak_and_none_under_a_request() -> None:
    needed = environments_needed(np.array([0.0, 0.01, 0.5, 10.0, 100.0, 500.0]), np.full(6, MEAN_MS))
    assert needed[0] == needed[1] == 0  # under one request a minute
    assert needed[2] == 1
    assert list(needed) == sorted(needed)
    # At 500 requests/s about 21.6 are in flight on average; the minute's peak is well above, far below 2x.
    assert 500 * MEAN_MS / 1000 < needed[-1] < 2 * 500 * MEAN_MS / 1000


def test_a_fresh_canary_starts_cold_and_its_pool_stays_warm_for_the_keep_warm_minutes() -> None:
    pools = WarmPools(2, live_needed=np.array([5.0, 5.0]))
    idx = np.arange(2)
    canary, baseline = pools.cold(0, idx, np.array([2.0, 2.0]), np.array([4.0, 4.0]))
    assert list(canary) == [2, 2] and list(baseline) == [0, 0]  # the live version was warm
    canary, _ = pools.cold(1, idx, np.array([3.0, 1.0]), np.array([3.0, 4.0]))
    assert list(canary) == [1, 0]  # only the environments beyond those warm
    for t in range(2, 2 + KEEP_WARM_MIN):
        pools.cold(t, idx, np.zeros(2), np.full(2, 3.0))
    canary, _ = pools.cold(2 + KEEP_WARM_MIN, idx, np.array([3.0, 3.0]), np.full(2, 3.0))
    assert list(canary) == [3, 3]  # idle for longer than they stay warm: cold again
    pools.begin()
    canary, _ = pools.cold(0, idx, np.array([1.0, 1.0]), np.full(2, 3.0))
    assert list(canary) == [1, 1]  # the next policy's rollout starts from a fresh function


def test_a_percentile_that_falls_among_the_cold_starts_is_a_cold_start() -> None:
    z = np.zeros(3)
    n = np.array([100.0, 100.0, 1000.0])
    warm = percentile_sample(z, n, 0.99, 40.0, SIGMA_P99_100)
    cold = percentile_sample(z, n, 0.99, 40.0, SIGMA_P99_100, np.array([0, 2, 2]), 700.0)
    assert cold[0] == warm[0]  # no cold start: the family's draw, to the bit
    assert cold[1] == 700.0  # the 99th of 100 is the second slowest: a cold start
    assert warm[2] <= cold[2] < 700.0  # 2 in 1,000 push p99 up a rank or two, not into the cold starts


def test_cold_starts_are_slow_requests_and_leave_counts_and_errors_alone() -> None:
    streams = Streams(300, 1, seed=3)
    idx = np.arange(300)
    version = Version(0.01, 40.0, SIGMA_P99_100)
    share = np.full(300, 0.2)
    plain = streams.draw(0, idx, share, 6000.0, version, version)
    cold = ColdStarts(np.full(300, 3.0), np.zeros(300), np.full(300, 600.0))
    slowed = streams.draw(0, idx, share, 6000.0, version, version, cold=cold)
    assert np.array_equal(plain.canary_requests, slowed.canary_requests)
    assert np.array_equal(plain.canary_errors, slowed.canary_errors)
    assert np.array_equal(plain.baseline_slow, slowed.baseline_slow)
    assert slowed.canary_slow.mean() - plain.canary_slow.mean() == pytest.approx(3.0, abs=0.1)


def test_the_same_cell_with_cold_starts_differs_only_in_its_latencies() -> None:
    cell = Cell(replace(REFERENCE, traffic=TRAFFIC[0]), Change("identical"), "test")
    family = FamilyWorld(cell, 200, "tuning", seed=4)
    cold = FamilyWorld(cell, 200, "tuning", seed=4, noise=NoiseShape(cold_starts=True))
    cold.begin()
    idx, share = np.arange(200), np.full(200, 0.5)
    a, b = family.period(0, idx, share), cold.period(0, idx, share)
    assert np.array_equal(a.canary_requests, b.canary_requests) and np.array_equal(
        a.canary_errors, b.canary_errors
    )
    assert np.array_equal(a.baseline_slow, b.baseline_slow)  # the live version was warm
    served = b.canary_requests > 0
    assert (b.canary_slow[served] > a.canary_slow[served]).all()  # a fresh function: a cold start at least
    assert np.array_equal(family.history()[1], cold.history()[1])


def test_each_policy_meets_the_canarys_cold_starts_afresh() -> None:
    world = FamilyWorld(IDENTICAL, 50, "tuning", seed=5, noise=NoiseShape(cold_starts=True))
    first, second = (play(Ours(), world) for _ in range(2))
    assert np.array_equal(first.decided_s, second.decided_s, equal_nan=True)
    assert np.array_equal(first.failed, second.failed)


def test_cold_starts_are_written_apart_from_the_published_figures(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["--only", "family", "--cold-starts"])
    assert exit_.value.code == 2 and "--cold-starts needs --only family" in capsys.readouterr().err


def test_cold_alarms_refuses_more_datapoints_than_its_window(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cold_alarms_main(["--datapoints", "3of2"])
    assert exit_.value.code == 2 and "--datapoints '3of2'" in capsys.readouterr().err

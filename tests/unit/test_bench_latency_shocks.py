"""Latency shocks both versions share, outside the family (`python -m bench --latency-shocks`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import bench.__main__ as bench_main
from bench.family import REFERENCE, TRAFFIC, Cell, Change
from bench.family_streams import FamilyWorld, NoiseShape
from bench.scenarios import SIGMA_P99_100
from bench.streams import Streams, Version

CELL = Cell(replace(REFERENCE, traffic=TRAFFIC[2]), Change("identical"), "test")


def test_a_shock_scales_both_versions_percentiles_and_slows_more_requests() -> None:
    streams = Streams(400, 1, seed=3)
    idx = np.arange(400)
    version = Version(0.01, 40.0, SIGMA_P99_100)
    share = np.full(400, 0.3)
    plain = streams.draw(0, idx, share, 6000.0, version, version)
    shock = np.full(400, 1.5)
    shocked = streams.draw(0, idx, share, 6000.0, version, version, shock=shock)
    assert np.array_equal(plain.canary_requests, shocked.canary_requests)
    assert np.array_equal(plain.baseline_errors, shocked.baseline_errors)
    assert np.allclose(shocked.canary_latency, 1.5 * plain.canary_latency, equal_nan=True)
    assert np.allclose(shocked.baseline_latency, 1.5 * plain.baseline_latency, equal_nan=True)
    # 1 % beyond the live p99 unshocked; at 1.5x, 9.7 % (beyond 100 / 1.5 ms)
    rate = shocked.baseline_slow.sum() / shocked.baseline_requests.sum()
    assert rate == pytest.approx(0.097, abs=0.005)
    assert plain.baseline_slow.sum() / plain.baseline_requests.sum() == pytest.approx(0.01, abs=0.002)


def test_the_same_cell_with_shocks_differs_only_in_its_latencies_and_shares_them() -> None:
    family = FamilyWorld(CELL, 200, "tuning", seed=4)
    shocked = FamilyWorld(CELL, 200, "tuning", seed=4, noise=NoiseShape(latency_cv=0.3))
    assert family.latency_shock is None and shocked.latency_shock is not None
    assert shocked.latency_shock.mean() == pytest.approx(1.0, abs=0.02)
    assert shocked.latency_shock.std() == pytest.approx(0.3, abs=0.03)
    idx, share = np.arange(200), np.full(200, 0.5)
    for t in (0, 17):
        a, b = family.period(t, idx, share), shocked.period(t, idx, share)
        assert np.array_equal(a.canary_errors, b.canary_errors)
        assert np.array_equal(a.baseline_requests, b.baseline_requests)
        factor = shocked.latency_shock[:, t][:, None]
        assert np.allclose(b.canary_latency, a.canary_latency * factor, equal_nan=True)
        assert np.allclose(b.baseline_latency, a.baseline_latency * factor, equal_nan=True)
    assert np.array_equal(family.history()[1], shocked.history()[1])


def test_shocks_go_on_past_the_horizon_for_the_guard() -> None:
    shocked = FamilyWorld(CELL, 100, "tuning", seed=4, noise=NoiseShape(latency_cv=0.3))
    shocked.beyond(10)
    idx = np.arange(100)
    period = shocked.period(35, idx, np.ones(100))
    assert np.isfinite(period.canary_latency[:, 2]).all()
    assert shocked._beyond_shock is not None and shocked._beyond_shock.shape == (100, 10)


def test_latency_shocks_are_written_apart_from_the_published_figures(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["--only", "family", "--latency-shocks", "0.2"])
    assert exit_.value.code == 2 and "--latency-shocks needs --only family" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-0.1", "1.5"])
def test_latency_shocks_take_a_coefficient_of_variation(capsys, value: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["--only", "family", "--out", "/tmp/x.json", "--latency-shocks", value])
    assert exit_.value.code == 2 and "write a coefficient of variation" in capsys.readouterr().err


def test_ours_guard_is_handed_the_live_versions_p99_over_its_day_as_shift_reads_it() -> None:
    from bench.ours import Ours

    world = FamilyWorld(CELL, 3, "tuning", seed=4, noise=NoiseShape(latency_cv=0.3))
    # The day's latencies are not drawn (nor shocked): every run's live version has a 100 ms p99.
    assert world.history_p99_ms() == pytest.approx(100.0, abs=0.01)
    ours = Ours(guard_s=600)
    ours.start(world.runs, world.requests_per_period())
    ours.see_history(*world.history(), p99_ms=world.history_p99_ms())
    for engine in ours.engines:
        assert engine.state.begin is not None and engine.state.begin.reference is not None
        assert engine.state.begin.reference.p99_ms == world.history_p99_ms()

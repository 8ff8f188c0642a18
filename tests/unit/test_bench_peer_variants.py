"""The peers' other settings an operator chooses (CodeDeploy's CloudWatch alarms on M of N periods, Flagger's
failed-check threshold): the policies, their tuning, their choice per cell."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.family import select
from bench.family_sim import peer_units, run_family, tune_cell
from bench.family_streams import FamilyWorld
from bench.judge_sim import choose_setting, play, tune, tune_peers
from bench.policies import (
    ALARM_DATAPOINTS,
    FLAGGER_FAILED_CHECKS,
    KAYENTA_INTERVALS,
    PEERS,
    Checks,
    CodeDeployCanary,
    CodeDeployLinear,
    Flagger,
    Kayenta,
    Policy,
)
from bench.streams import Period

REGRESSION = r"^x1\.3-2 onset:0 \| 0\.2-1% 150-500rps steady od:none drift:0$"


def _period(p99: float, errors: int = 0, requests: int = 300) -> Period:
    latency = np.array([[40.0, 80.0, p99]])
    return Period(
        np.array([requests]), np.array([errors]), np.array([requests]), np.array([0]), latency, latency
    )


def test_an_m_of_n_alarm_breaches_only_when_m_of_its_last_n_periods_do() -> None:
    alarm = CodeDeployLinear(Checks(latency=150.0, mode="latency", datapoints=(2, 3)))
    alarm.start(1, 600.0)
    idx = np.arange(1)
    seen = (200.0, np.nan, 100.0, 300.0, 120.0, 90.0)
    breaches = [bool(alarm._breach(idx, _period(p99))[0]) for p99 in seen]
    # 200 | 200, - | 200, -, 100 | -, 100, 300 | 100, 300, 120 | 300, 120, 90: two of three never
    assert breaches == [False] * 6
    assert [bool(alarm._breach(idx, _period(p99))[0]) for p99 in (400.0, 160.0)] == [False, True]
    assert alarm.stat[0] == 160.0  # the tuned statistic: the window's second largest, at its most


def test_the_error_alarm_counts_its_own_datapoints_apart_from_the_latency_alarms() -> None:
    alarm = CodeDeployCanary(Checks(error=0.01, latency=150.0, datapoints=(2, 2)))
    alarm.start(1, 600.0)
    idx = np.arange(1)
    # a 5XX breach, then a p99 breach: each alarm saw one of its two, so neither fires
    assert not alarm._breach(idx, _period(100.0, errors=30))[0]
    assert not alarm._breach(idx, _period(300.0))[0]
    assert alarm._breach(idx, _period(300.0))[0]


def test_an_alarm_of_more_datapoints_than_its_window_is_refused() -> None:
    with pytest.raises(ValueError, match="1 <= M <= N"):
        Checks(datapoints=(3, 2))
    with pytest.raises(ValueError, match="1 <= M <= N"):
        Checks(datapoints=(0, 2))


def test_the_datapoints_tried_are_every_m_of_n_within_five_periods_but_one_of_n() -> None:
    assert ALARM_DATAPOINTS[0] == (1, 1)
    assert len(set(ALARM_DATAPOINTS)) == len(ALARM_DATAPOINTS) == 11
    assert all(2 <= m <= n <= 5 for m, n in ALARM_DATAPOINTS[1:])


def test_flagger_rolls_back_on_its_failed_check_threshold_counting_failures_that_are_not_in_a_row() -> None:
    flagger = Flagger(Checks(error=0.05, failed_checks=3))
    flagger.start(1, 300.0)
    idx = np.arange(1)
    rolled = [
        bool(flagger.decide(t, idx, _period(100.0, errors=e)).rollback[0]) for t, e in enumerate((30, 0, 30))
    ]
    assert rolled == [False, False, False] and flagger.share[0] == 0.2  # held twice, advanced once
    assert flagger.decide(3, idx, _period(100.0, errors=30)).rollback[0]
    with pytest.raises(ValueError, match="at least one failed check"):
        Checks(failed_checks=0)


def test_kayenta_promotes_after_its_intervals_and_refuses_none() -> None:
    kayenta = Kayenta(Checks(error=2.0, intervals=3))
    kayenta.start(1, 300.0)
    idx = np.arange(1)
    promoted = [bool(kayenta.decide(t, idx, _period(100.0)).promote[0]) for t in range(3)]
    assert promoted == [False, False, True]
    with pytest.raises(ValueError, match="at least one interval"):
        Checks(intervals=0)


def test_flaggers_thresholds_tried_start_with_its_documented_five() -> None:
    assert FLAGGER_FAILED_CHECKS[0] == 5 and 1 in FLAGGER_FAILED_CHECKS
    assert len(set(FLAGGER_FAILED_CHECKS)) == len(FLAGGER_FAILED_CHECKS)


def _twin_world(runs: int = 300, split: str = "tuning") -> FamilyWorld:
    (twin,) = (c for c in select("evaluation", REGRESSION) if c.kind == "identical")
    return FamilyWorld(twin, runs, split, seed=11)


@pytest.mark.parametrize("datapoints", [(2, 2), (3, 5)])
def test_tuning_an_m_of_n_alarm_from_its_statistic_is_exact(datapoints: tuple[int, int]) -> None:
    world = _twin_world()
    unit = peer_units(world)["codedeploy_linear"]

    def make(threshold: float) -> Policy:
        return CodeDeployLinear(Checks(error=threshold, error_unit=unit, datapoints=datapoints))

    threshold, frr = tune(make, world)
    assert 0.0 < frr <= 0.01
    assert float((~play(make(threshold), world).promoted).mean()) == frr


def test_alarms_get_m_of_n_and_flagger_failed_check_alternatives_each_tuned_to_one_percent() -> None:
    world = _twin_world()
    tuned = tune_peers(world, literal_note=False, error_units=peer_units(world))
    for peer, settings in tuned.items():
        for mode, setting in settings.items():
            every = (setting, *setting.alternatives)
            assert all(a.frr <= 0.01 and not a.alternatives for a in setting.alternatives)
            if peer.startswith("codedeploy"):
                assert [s.checks.datapoints for s in every] == list(ALARM_DATAPOINTS), (peer, mode)
                assert {s.checks.failed_checks for s in every} == {5}
                assert "in 2 of 3 periods" in setting.alternatives[1].text
            elif peer == "flagger":
                assert [s.checks.failed_checks for s in every] == list(FLAGGER_FAILED_CHECKS), mode
                assert {s.checks.datapoints for s in every} == {(1, 1)}
                assert "(1 failed check roll back)" in setting.alternatives[0].text
            elif peer == "kayenta":
                assert [s.checks.intervals for s in every] == list(KAYENTA_INTERVALS), mode
                assert "(of 10)" in setting.alternatives[-1].text
            else:
                assert setting.alternatives == () and setting.checks.variant == ((1, 1), 5, 5), (peer, mode)
    # fewer failed checks allowed need a looser check to hold 1 %
    flagger = tuned["flagger"]["error"]
    assert (
        flagger.alternatives[0].checks.error >= flagger.checks.error >= flagger.alternatives[-1].checks.error
    )
    without = tune_peers(world, literal_note=False, error_units=peer_units(world), variants=False)
    assert all(s.alternatives == () for settings in without.values() for s in settings.values())


def test_the_setting_chosen_fails_the_fewest_requests_and_a_tie_keeps_one_period() -> None:
    world = _twin_world()
    tuned = tune_peers(world, literal_note=False, error_units=peer_units(world))
    setting = tuned["codedeploy_linear"]["error"]
    (cell,) = (c for c in select("evaluation", REGRESSION) if c.kind != "identical")
    regression = FamilyWorld(cell, 300, "tuning", seed=11)
    unit = peer_units(regression)["codedeploy_linear"]

    def make(checks: Checks) -> Policy:
        return CodeDeployLinear(replace(checks, error_unit=unit))

    chosen = choose_setting(setting, make, regression)
    failed = {
        s.checks.datapoints: float(play(make(s.checks), regression).failed.mean())
        for s in (setting, *setting.alternatives)
    }
    assert failed[chosen.checks.datapoints] == min(failed.values())
    assert chosen.alternatives == ()
    same = type(setting)(setting.checks, setting.frr, setting.text, (setting,))
    assert choose_setting(same, make, regression).text == setting.text


def _in(cls: type[Policy], checks: Checks, world: FamilyWorld) -> Policy:
    """The peer with its 5XX threshold in the units of `world` (Kayenta's split test has none)."""
    unit = peer_units(world).get(cls.name)
    return cls(checks if unit is None else replace(checks, error_unit=unit))


def test_a_regression_cells_peers_take_their_choice_on_its_tuning_split() -> None:
    cells = select("evaluation", REGRESSION)
    twin_result, result = run_family(cells, runs=200, seed=11, log=lambda _: None)
    twin, cell = cells
    tuned = tune_cell(twin, runs=200, seed=11)
    choosing = FamilyWorld(cell, 200, "tuning", seed=11)
    twin_world = FamilyWorld(twin, 200, "evaluation", seed=11)
    for peer in ("codedeploy_canary", "codedeploy_linear", "flagger", "kayenta"):
        row = result.policies[peer]
        setting = tuned[peer]["error"]
        candidates = {
            s.checks.variant: float(play(_in(PEERS[peer], s.checks, choosing), choosing).failed.mean())
            for s in (setting, *setting.alternatives)
        }
        every = (setting, *setting.alternatives)
        (chosen,) = (s for s in every if s.checks.variant == min(candidates, key=candidates.get))
        assert row.threshold == chosen.text and row.tuned_false_rollback_rate == chosen.frr
        assert row.datapoints == (list(chosen.checks.datapoints) if peer.startswith("codedeploy") else None)
        assert row.failed_checks == (chosen.checks.failed_checks if peer == "flagger" else None)
        assert row.intervals == (chosen.checks.intervals if peer == "kayenta" else None)
        on_twin = _in(PEERS[peer], chosen.checks, twin_world)
        assert row.twin_false_rollback_rate == float((~play(on_twin, twin_world).promoted).mean())
        # the identical cell's row is the documented setting's
        assert twin_result.policies[peer].datapoints in ([1, 1], None)
        assert twin_result.policies[peer].failed_checks in (5, None)
        assert twin_result.policies[peer].intervals in (5, None)
    # a mild regression at 150-500 requests/s: waiting for more datapoints or failed checks at a lower
    # threshold pays
    assert any(result.policies[p].datapoints != [1, 1] for p in ("codedeploy_canary", "codedeploy_linear"))
    assert result.policies["flagger"].failed_checks != 5

"""CodeDeploy's peers as CloudWatch alarms on M of N periods: the alarm, its tuning, its choice per cell."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.family import select
from bench.family_sim import peer_units, run_family, tune_cell
from bench.family_streams import FamilyWorld
from bench.judge_sim import choose_setting, play, tune, tune_peers
from bench.policies import ALARM_DATAPOINTS, PEERS, Checks, CodeDeployCanary, CodeDeployLinear, Policy
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


def test_only_cloudwatch_alarms_get_m_of_n_alternatives_each_tuned_to_one_percent() -> None:
    world = _twin_world()
    tuned = tune_peers(world, literal_note=False, error_units=peer_units(world))
    for peer, settings in tuned.items():
        for mode, setting in settings.items():
            if peer.startswith("codedeploy"):
                points = [setting.checks.datapoints] + [a.checks.datapoints for a in setting.alternatives]
                assert points == list(ALARM_DATAPOINTS), (peer, mode)
                assert all(a.frr <= 0.01 and not a.alternatives for a in setting.alternatives)
                assert "in 2 of 3 periods" in setting.alternatives[1].text
            else:
                assert setting.alternatives == () and setting.checks.datapoints == (1, 1), (peer, mode)


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


def test_a_regression_cells_alarm_peers_take_their_choice_on_its_tuning_split() -> None:
    cells = select("evaluation", REGRESSION)
    twin_result, result = run_family(cells, runs=200, seed=11, log=lambda _: None)
    twin, cell = cells
    tuned = tune_cell(twin, runs=200, seed=11)
    choosing = FamilyWorld(cell, 200, "tuning", seed=11)
    twin_world = FamilyWorld(twin, 200, "evaluation", seed=11)
    for peer in ("codedeploy_canary", "codedeploy_linear"):
        row = result.policies[peer]
        setting = tuned[peer]["error"]
        unit = peer_units(choosing)[peer]
        candidates = {
            s.checks.datapoints: float(
                play(PEERS[peer](replace(s.checks, error_unit=unit)), choosing).failed.mean()
            )
            for s in (setting, *setting.alternatives)
        }
        assert tuple(row.datapoints) == min(candidates, key=candidates.get)
        every = (setting, *setting.alternatives)
        (chosen,) = (s for s in every if list(s.checks.datapoints) == row.datapoints)
        assert row.threshold == chosen.text and row.tuned_false_rollback_rate == chosen.frr
        on_twin = PEERS[peer](replace(chosen.checks, error_unit=peer_units(twin_world)[peer]))
        assert row.twin_false_rollback_rate == float((~play(on_twin, twin_world).promoted).mean())
        # the identical cell's row is the one-period alarm's
        assert twin_result.policies[peer].datapoints == [1, 1]
    assert result.policies["flagger"].datapoints is None
    # a mild regression at 150-500 requests/s: waiting for more datapoints at a lower threshold pays
    assert any(result.policies[p].datapoints != [1, 1] for p in ("codedeploy_canary", "codedeploy_linear"))

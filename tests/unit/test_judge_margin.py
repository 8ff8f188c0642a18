"""The margin planner on its own: what it reads (traffic and the baseline, never the canary's errors) and
the margin it picks for the coming period."""

from __future__ import annotations

import math

import pytest

from controller.judge import BaselineHistory, JudgeConfig
from controller.judge.history import HistoryTests
from controller.judge.horizon import PeriodTraffic
from controller.judge.margin import MarginPlanner

LOG_TARGET = math.log(100 / 0.665)  # the pass threshold over the history count test's main weight


def _planner(config: JudgeConfig, history: BaselineHistory | None = None) -> MarginPlanner:
    tests = HistoryTests(config, history) if history is not None else None
    return MarginPlanner(config, tests, 0.0, LOG_TARGET)


def _ratio(margin: tuple[float, float], base: float) -> float:
    relative, absolute = margin
    return 1 + max(relative, absolute / base)


def test_without_a_time_limit_or_before_any_traffic_the_configured_margin_holds() -> None:
    unlimited = _planner(JudgeConfig())
    assert unlimited.plan([PeriodTraffic(10, 10)], 1, 0.01, 1, 100) == (0.5, 0.005)
    limited = _planner(JudgeConfig(horizon_periods=30))
    assert limited.plan([], 0, 0.01, 0, 0) == (0.5, 0.005)


def test_thin_traffic_widens_the_relative_part_up_to_the_widest_margin() -> None:
    planner = _planner(JudgeConfig(horizon_periods=30))
    busy = planner.plan([PeriodTraffic(3_000, 3_000)], 1, 0.02, 60, 3_000)
    thin = planner.plan([PeriodTraffic(60, 60)], 1, 0.02, 1, 60)
    thinner = planner.plan([PeriodTraffic(20, 20)], 1, 0.02, 0, 20)
    assert busy == (0.5, 0.005)
    assert 0.5 < thin[0] <= thinner[0] <= 1.0  # never beyond 2x
    assert thin[1] == thinner[1] == 0.005


def test_with_a_history_an_absolute_margin_wider_than_2x_gives_way_where_the_traffic_resolves_2x() -> None:
    history = BaselineHistory(8_640_000, 8_640)  # 0.1 %: 0.5 points would be a 6x margin
    planner = _planner(JudgeConfig(horizon_periods=30), history)
    margin = planner.plan([PeriodTraffic(9_000, 1_000)], 1, 0.001, 1, 1_000)
    assert margin[1] == 0.0
    assert 1.9 <= _ratio(margin, 0.001) <= 2.0 + 1e-9


@pytest.mark.parametrize("narrowest", [1.3, 1.4])
def test_narrowing_holds_a_busy_service_to_a_margin_under_the_configured_one(narrowest: float) -> None:
    history = BaselineHistory(8_640_000, 172_800)  # 2 %: the relative part (1.5x) is the margin
    config = JudgeConfig(horizon_periods=30, narrowest_regression_ratio=narrowest)
    margin = _planner(config, history).plan([PeriodTraffic(27_000, 3_000)], 1, 0.02, 60, 3_000)
    assert margin[1] == 0.0
    assert narrowest - 1e-9 <= 1 + margin[0] < 1.5
    default = _planner(JudgeConfig(horizon_periods=30), history)
    assert default.plan([PeriodTraffic(27_000, 3_000)], 1, 0.02, 60, 3_000) == (0.5, 0.005)

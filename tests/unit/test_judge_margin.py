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


def _narrowing_planner(narrowest: float | None, baseline_rate: float) -> tuple[MarginPlanner, HistoryTests]:
    """A history at 2 % (the relative part, 1.5x, is the margin) whose tests have seen five busy periods
    of a baseline at `baseline_rate` beside a canary at 90 % of the traffic."""
    config = JudgeConfig(horizon_periods=30, narrowest_regression_ratio=narrowest)
    tests = HistoryTests(config, BaselineHistory(8_640_000, 172_800))
    for _ in range(5):
        tests.observe(27_000, round(27_000 * 0.02), 3_000, round(3_000 * baseline_rate), 0.5, 0.005)
    return MarginPlanner(config, tests, 0.0, LOG_TARGET), tests


def _narrowing_plan(planner: MarginPlanner, tests: HistoryTests) -> tuple[float, float]:
    traffic = [PeriodTraffic(27_000, 3_000)] * 5
    return planner.plan(traffic, 5, tests.current_estimate(), tests.baseline_errors, tests.baseline_requests)


@pytest.mark.parametrize("narrowest", [1.3, 1.4])
def test_narrowing_holds_a_busy_service_to_a_margin_under_the_configured_one(narrowest: float) -> None:
    margin = _narrowing_plan(*_narrowing_planner(narrowest, 0.02))
    assert margin[1] == 0.0
    assert narrowest - 1e-9 <= 1 + margin[0] < 1.5
    assert _narrowing_plan(*_narrowing_planner(None, 0.02)) == (0.5, 0.005)


def test_narrowing_waits_for_the_baseline_to_show_todays_rate() -> None:
    config = JudgeConfig(horizon_periods=30, narrowest_regression_ratio=1.3)
    tests = HistoryTests(config, BaselineHistory(8_640_000, 172_800))
    planner = MarginPlanner(config, tests, 0.0, LOG_TARGET)
    # Before the baseline has served a request, nothing bounds today's rate from above.
    assert planner.plan([PeriodTraffic(27_000, 3_000)], 1, 0.02, 0, 0) == (0.5, 0.005)


def test_a_baseline_that_rose_since_its_history_narrows_the_margin_less() -> None:
    # Held to a narrowed margin over the history's rate, a healthy canary at today's rate would sit within
    # a few percent of it: the plan reads today's rate off the baseline's own counts, 3 sd high. (Narrowed on
    # today's estimate, which the history's pseudo-counts hold back: 1.3x, 1.32x and 1.43x.)
    narrowed = [1 + _narrowing_plan(*_narrowing_planner(1.3, rate))[0] for rate in (0.02, 0.022, 0.024)]
    assert narrowed[0] == pytest.approx(1.3) and narrowed[0] < narrowed[1] < narrowed[2] < 1.5
    assert _narrowing_plan(*_narrowing_planner(1.3, 0.026)) == pytest.approx((0.5, 0.005))  # 30 % above

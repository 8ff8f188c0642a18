"""Rollout plans: presets, --steps/--bake parsing and the usage errors found before any AWS call."""

from __future__ import annotations

import pytest

from controller.errors import UsageError
from controller.strategy import Step, build_plan, parse_duration, parse_steps


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("2m", 120), ("1h", 3600), ("1m30s", 90), ("0", 0), ("0.5s", 0.5), (" 2M ", 120)],
)
def test_durations_accept_s_m_h_suffixes(text: str, seconds: float) -> None:
    assert parse_duration(text, "--bake") == seconds


@pytest.mark.parametrize("text", ["", "90", "2x", "m", "1m 30s", "-5s", "1.2.3s", "10s5"])
def test_durations_without_a_unit_or_garbled_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="not a duration"):
        parse_duration(text, "--bake")


def test_recipe_preset_is_ten_twentyfive_fifty_hundred_with_two_minute_bakes() -> None:
    plan = build_plan("recipe", None, None)
    assert plan.steps == tuple(Step(p, 120) for p in (10, 25, 50, 100))


def test_canary10_5m_watches_ten_percent_for_five_minutes_then_shifts_all() -> None:
    assert build_plan("canary10-5m", None, None).steps == (Step(10, 300), Step(100, 0))


def test_linear10_1m_adds_ten_percent_a_minute() -> None:
    plan = build_plan("linear10-1m", None, None)
    assert plan.percents == (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
    assert [s.bake_s for s in plan.steps[:-1]] == [60] * 9


def test_all_at_once_is_a_single_step_to_100() -> None:
    assert build_plan("all-at-once", None, None).steps == (Step(100, 0),)


def test_default_strategy_is_canary10_5m() -> None:
    assert build_plan(None, None, None).name == "canary10-5m"


def test_custom_steps_take_the_given_bake_on_every_step() -> None:
    plan = build_plan(None, "5,50,100", "90s")
    assert plan.steps == (Step(5, 90), Step(50, 90), Step(100, 90))


def test_custom_steps_without_bake_use_the_recipes_two_minutes() -> None:
    assert {s.bake_s for s in build_plan(None, "10,100", None).steps} == {120}


def test_bake_overrides_a_presets_watched_steps_but_keeps_its_instant_ones() -> None:
    assert build_plan("canary10-5m", None, "30s").steps == (Step(10, 30), Step(100, 0))


def test_fractional_percents_are_allowed() -> None:
    assert parse_steps("0.5,2.5,100") == (0.5, 2.5, 100)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("10,5,100", "must increase"),
        ("10,10,100", "must increase"),
        ("0,50,100", "outside"),
        ("10,150", "outside"),
        ("-10,100", "outside"),
        ("10,50", "must end at 100"),
        ("10,abc,100", "not a number"),
        ("", "not a number"),
        ("10,,100", "not a number"),
        ("nan,100", "outside"),
    ],
)
def test_bad_steps_are_usage_errors(steps: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_plan(None, steps, None)


def test_strategy_and_steps_together_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="either --strategy or --steps"):
        build_plan("recipe", "10,100", None)


def test_unknown_strategy_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="recipe"):
        build_plan("yolo", None, None)


def test_resume_continues_from_the_first_step_at_or_above_the_current_percent() -> None:
    plan = build_plan("recipe", None, None)
    assert plan.first_step_at_or_above(0) == 0
    assert plan.first_step_at_or_above(25) == 1
    assert plan.first_step_at_or_above(30) == 2
    assert plan.first_step_at_or_above(100) == 3


def test_adaptive_has_no_fixed_steps_and_bake_caps_the_whole_rollout() -> None:
    plan = build_plan("adaptive", None, "20m")
    assert plan.adaptive and plan.steps == ()
    assert plan.max_duration_s == 1200
    assert build_plan("adaptive", None, None).max_duration_s == 1800
